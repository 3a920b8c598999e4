"""Lambda entry point for the SQS queue of verification requests (partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.errors import RetryableError
from frontguard.handlers._runtime import current_runtime, logged

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")
# One record against a slow or unreachable cluster can take this long (Kubernetes calls of
# 5 s connect + 20 s read, two attempts, plus AWS reads): a record is started only with this
# much time left, the rest go back to the queue as batch item failures. A batch that timed
# out would come back whole, and records already done would enqueue their follow-ups twice.
RECORD_RESERVE_MS = 60_000


def verify_record(record: SQSRecord) -> str:
    """One verification request; raising marks only this record as failed (it retries, then
    lands in the dead-letter queue)."""
    from frontguard.adapters.verify_queue import VerifyRequest
    from frontguard.engine.verify import verify

    request = VerifyRequest.from_json(record.body)
    result = verify(current_runtime().engine, request)
    metrics.add_metric(name=f"verification-{result.outcome}", unit=MetricUnit.Count, value=1)
    exposure = result.data.get("exposure_seconds")
    if exposure is not None:
        # From the LB's creation to frontguard's SG observed on it (engine/born.py).
        metrics.add_metric(name="exposure-seconds", unit=MetricUnit.Seconds, value=exposure)
    return result.outcome


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS)

    def within_time(record: SQSRecord) -> str:
        if context.get_remaining_time_in_millis() < RECORD_RESERVE_MS:
            raise RetryableError("not started: too little time left in this invocation")
        return verify_record(record)

    return process_partial_response(
        event=event, record_handler=within_time, processor=processor, context=context
    )
