"""Lambda entry point for the queue of repairs the scheduled scan decided (partial batch
failures: a failed record alone is retried, then kept in the dead-letter queue)."""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.handlers._runtime import current_runtime, logged
from frontguard.handlers.batches import ensure_time_for_one_record, process_sqs, request_of

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")
HANDLER: Final = "remediate"


def remediate_record(record: SQSRecord) -> str:
    """One queued repair; raising (a retryable fault, a malformed request) fails only this
    record."""
    from frontguard.adapters.remediation_queue import RemediationRequest
    from frontguard.handlers.remediate_flow import remediate_queued

    request = request_of(
        record,
        RemediationRequest,
        RemediationRequest.from_json,
        handler=HANDLER,
        metrics=metrics,
    )
    logger.append_keys(load_balancer_arn=request.load_balancer_arn, cluster=request.cluster)
    result = remediate_queued(current_runtime(), request)
    metrics.add_metric(name=f"queued-{result.outcome.value}", unit=MetricUnit.Count, value=1)
    return result.outcome.value


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    def within_time(record: SQSRecord) -> str:
        # A slow cluster must not time out the whole batch (issue 22 item 4): records not
        # started in time come back alone (batches.RECORD_RESERVE_MS says how much is kept).
        ensure_time_for_one_record(context, record, metrics=metrics, metric="queued-not-started")
        return remediate_record(record)

    return process_sqs(event, context, handler=HANDLER, metrics=metrics, record_handler=within_time)
