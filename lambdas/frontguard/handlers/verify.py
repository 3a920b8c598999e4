"""Lambda entry point for the SQS queue of verification requests (partial batch failures)."""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.handlers._runtime import current_runtime, logged
from frontguard.handlers.batches import (
    RECORD_RESERVE_MS,
    ensure_time_for_one_record,
    process_sqs,
    request_of,
)

__all__ = ["RECORD_RESERVE_MS", "handler", "verify_record"]

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")
HANDLER: Final = "verify"


def verify_record(record: SQSRecord) -> str:
    """One verification request; raising marks only this record as failed (it retries, then
    lands in the dead-letter queue)."""
    from frontguard.adapters.verify_queue import VerifyRequest
    from frontguard.engine.verify import verify

    request = request_of(
        record, VerifyRequest, VerifyRequest.from_json, handler=HANDLER, metrics=metrics
    )
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
    def within_time(record: SQSRecord) -> str:
        ensure_time_for_one_record(
            context, record, metrics=metrics, metric="verification-not-started"
        )
        return verify_record(record)

    return process_sqs(event, context, handler=HANDLER, metrics=metrics, record_handler=within_time)
