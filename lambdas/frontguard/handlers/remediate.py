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

from frontguard.handlers._runtime import current_runtime, logged

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")


def remediate_record(record: SQSRecord) -> str:
    """One queued repair; raising (a retryable fault, a malformed request) fails only this
    record."""
    from frontguard.adapters.remediation_queue import RemediationRequest
    from frontguard.handlers.remediate_flow import remediate_queued

    request = RemediationRequest.from_json(record.body)
    logger.append_keys(load_balancer_arn=request.load_balancer_arn, cluster=request.cluster)
    result = remediate_queued(current_runtime(), request)
    metrics.add_metric(name=f"queued-{result.outcome.value}", unit=MetricUnit.Count, value=1)
    return result.outcome.value


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=remediate_record, processor=processor, context=context
    )
