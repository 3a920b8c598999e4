"""What the SQS-fed handlers share: the batch envelope checked at the edge, a message body
checked against its request's shape, and the time left before each record.

Partial batch responses (Powertools ``BatchProcessor``, ``ReportBatchItemFailures`` set in
CDK, infra/functions.py): a record whose handler raises is reported as a batch item failure
and comes back alone; after ``maxReceiveCount`` receives the queue keeps it in its
dead-letter queue. A batch whose records all failed (none started in time, say) is answered
with every record listed, not raised (``raise_on_entire_batch_failure=False``,
https://docs.powertools.aws.dev/lambda/python/latest/utilities/batch/): the queue redelivers
them either way, without a Lambda error alarm for what is only back-pressure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from frontguard.errors import InvalidEventError, RetryableError
from frontguard.handlers.malformed import reject
from frontguard.handlers.shapes import SqsEvent, conform, json_body

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.utilities.batch import BasePartialBatchProcessor
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

R = TypeVar("R")
logger = logging.getLogger(__name__)

# One record against a slow or unreachable cluster can take this long: the Kubernetes client's
# 5 s connect + 20 s read timeouts, two attempts (50 s), plus the AWS reads and writes and the
# remediation pace (0.8 s). A record is started only with this much time left in the
# invocation; the rest go back to the queue as batch item failures. Both queue consumers
# (Verify, Remediate) time out at 2 minutes (infra/stack.py, infra/remediation.py), so a batch
# always starts at least one record, and a batch that would have timed out (and come back
# whole, its finished records then repeated) hands back only the records it never started.
RECORD_RESERVE_MS: Final = 60_000


def process_sqs(
    event: object,
    context: LambdaContext,
    *,
    handler: str,
    metrics: Metrics,
    record_handler: Callable[..., Any],
    processor: BasePartialBatchProcessor | None = None,
) -> PartialItemFailureResponse:
    """Process an SQS batch record by record, after checking it is one. An envelope of
    another shape is not a delivery from SQS (Lambda builds it; only a direct invocation can
    get it wrong): it is logged as malformed and answered with no failures, as there is no
    queue to hand anything back to."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    try:
        conform(SqsEvent, event)
    except InvalidEventError as error:
        reject(metrics, handler, error)
        return {"batchItemFailures": []}
    assert isinstance(event, dict)
    if processor is None:
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


def request_of(
    record: SQSRecord,
    shape: type[R],
    parse: Callable[[str], R],
    *,
    handler: str,
    metrics: Metrics,
) -> R:
    """The request a message carries, or the malformed message logged and counted, and
    :class:`InvalidEventError` raised so that the batch reports this record as failed.

    ``shape`` (the request's dataclass) names the first field of the wrong type; ``parse``
    (the queue adapter's ``from_json``) then checks the values as the adapter always has.
    """
    try:
        conform(shape, json_body(record.raw_event.get("body")), "body")
        return parse(record.body)
    except InvalidEventError as error:
        reject(metrics, handler, error, message_id=record.message_id)
        raise


class NotStartedError(RetryableError):
    """Too little of the invocation is left to start this record: it goes back to the queue."""


def ensure_time_for_one_record(
    context: LambdaContext, record: SQSRecord, *, metrics: Metrics, metric: str
) -> None:
    """Raise (the record is handed back unstarted, logged and counted as ``metric``) when too
    little time is left for one."""
    from aws_lambda_powertools.metrics import MetricUnit

    left_ms = context.get_remaining_time_in_millis()
    if left_ms >= RECORD_RESERVE_MS:
        return
    logger.warning(
        "record not started: too little time left",
        extra={"message_id": record.message_id, "seconds_left": left_ms / 1000},
    )
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    raise NotStartedError(
        f"{left_ms / 1000:.0f} s left, one record may take {RECORD_RESERVE_MS / 1000:.0f}"
    )
