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

from frontguard.handlers._runtime import current_runtime, logged

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")


def verify_record(record: SQSRecord) -> str:
    """One verification request; raising marks only this record as failed (it retries, then
    lands in the dead-letter queue)."""
    from frontguard.adapters.verify_queue import VerifyRequest
    from frontguard.engine.verify import verify

    request = VerifyRequest.from_json(record.body)
    result = verify(current_runtime().engine, request)
    metrics.add_metric(name=f"verification-{result.outcome}", unit=MetricUnit.Count, value=1)
    return result.outcome


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=verify_record, processor=processor, context=context
    )
