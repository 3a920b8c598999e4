"""Lambda entry point for the queue of repairs the scheduled scan decided (partial batch
failures: a failed record alone is retried, then kept in the dead-letter queue)."""

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

# The longest one repair may take: the discovery re-reads (1 + 2 + 4 s), two Kubernetes
# requests at their 20 s read timeout (adapters/kube.py REQUEST_TIMEOUT) and the AWS calls. A
# record is not started with less time left than this, so a slow cluster never times out a
# whole batch: the unstarted records go back to the queue as batch item failures.
RECORD_BUDGET_SECONDS = 50.0


class NotStartedError(RetryableError):
    """Too little of the invocation is left to start this record: it goes back to the queue."""


def remediate_record(record: SQSRecord, lambda_context: LambdaContext) -> str:
    """One queued repair; raising (a retryable fault, a malformed request, too little time
    left) fails only this record. Powertools hands in the Lambda context (a parameter of that
    name)."""
    from frontguard.adapters.remediation_queue import RemediationRequest
    from frontguard.handlers.remediate_flow import remediate_queued

    left = lambda_context.get_remaining_time_in_millis() / 1000
    if left < RECORD_BUDGET_SECONDS:
        logger.warning(
            "record not started: too little time left",
            extra={"message_id": record.message_id, "seconds_left": left},
        )
        metrics.add_metric(name="queued-not-started", unit=MetricUnit.Count, value=1)
        raise NotStartedError(f"{left:.0f} s left, a repair may take {RECORD_BUDGET_SECONDS:.0f}")

    request = RemediationRequest.from_json(record.body)
    logger.append_keys(load_balancer_arn=request.load_balancer_arn, cluster=request.cluster)
    result = remediate_queued(current_runtime(), request)
    metrics.add_metric(name=f"queued-{result.outcome.value}", unit=MetricUnit.Count, value=1)
    return result.outcome.value


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A batch whose records all failed (none started in time, say) is answered with every
    # record as a failure, not raised: the queue redelivers them either way.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=remediate_record, processor=processor, context=context
    )
