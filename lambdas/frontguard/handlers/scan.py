"""Lambda entry point for the scheduled compliance scan (and drift events routed to it).

EventBridge puts both into the scan queue (SQS FIFO, one message group), so the function
normally receives an SQS batch whose bodies are the EventBridge events; invoked directly
(``aws lambda invoke``, docs/deploy.md) it takes one EventBridge event as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.errors import InvalidEventError
from frontguard.handlers._runtime import current_runtime, logged
from frontguard.handlers.malformed import reject

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from frontguard.handlers.scan_flow import DriftCall, Trigger

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")

HANDLER: Final = "scan"


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if isinstance(event, Mapping) and "Records" in event:
        # Imported here: the batch utilities double the module's cold import (bench/import_time).
        from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor

        from frontguard.handlers.batches import process_sqs

        # FIFO: after a failed record the rest of the batch is reported failed too, so the
        # queue redelivers them in order.
        return process_sqs(
            event,
            context,
            handler=HANDLER,
            metrics=metrics,
            record_handler=scan_record,
            processor=SqsFifoPartialProcessor(),
        )
    return handle(event, context)


def scan_record(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    """One queued EventBridge event (a drift call or the schedule); Powertools hands in the
    Lambda context (a parameter of that name), whose remaining time bounds the scan. A
    malformed one is logged, counted and raised: the batch reports it failed (to the DLQ)."""
    from frontguard.handlers.scan_flow import parse_scan_event
    from frontguard.handlers.shapes import json_body

    try:
        event = json_body(record.raw_event.get("body"))
        call = parse_scan_event(event)
    except InvalidEventError as error:
        reject(metrics, HANDLER, error, message_id=record.message_id)
        raise
    return handle_parsed(call, lambda_context)


def handle(event: object, context: LambdaContext) -> dict[str, Any]:
    """A direct invocation (an EventBridge event as is): a malformed one is dropped."""
    from frontguard.handlers.scan_flow import parse_scan_event
    from frontguard.handlers.shapes import input_id

    try:
        call = parse_scan_event(event)
    except InvalidEventError as error:
        event_id = input_id(event.get("id")) if isinstance(event, Mapping) else None
        return reject(metrics, HANDLER, error, event_id=event_id)
    return handle_parsed(call, context)


def handle_parsed(call: DriftCall | Trigger, context: LambdaContext) -> dict[str, Any]:
    from frontguard.handlers.scan_flow import Trigger, handle_drift_event, run_scan, run_sweep

    runtime = current_runtime()
    if call is Trigger.SWEEP:
        swept = run_sweep(runtime)
        metrics.add_metric(name="sweep-changed", unit=MetricUnit.Count, value=len(swept.changed))
        return swept.as_dict()
    if call is not Trigger.SCHEDULE:
        checked = handle_drift_event(runtime, call)
        metrics.add_metric(name=f"drift-event-{checked['outcome']}", unit=MetricUnit.Count, value=1)
        return checked
    # Stop (resumable) with a minute to spare: publishing and saving the cursor take seconds.
    report = run_scan(runtime, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    for outcome, count in report.by_outcome().items():
        metrics.add_metric(name=f"lb-{outcome}", unit=MetricUnit.Count, value=count)
    for cluster, outcomes in report.by_cluster().items():
        for outcome, count in outcomes.items():
            with single_metric(
                name=f"lb-{outcome}",
                unit=MetricUnit.Count,
                value=count,
                namespace="Frontguard",
                default_dimensions={"cluster": cluster},
            ):
                pass
    metrics.add_metric(name="open-findings", unit=MetricUnit.Count, value=len(report.open_findings))
    return {
        "load_balancers": len(report.items),
        "by_outcome": dict(report.by_outcome()),
        "open_findings": len(report.open_findings),
        "cleaned_up": report.cleaned_up,
        "remediations_queued": report.queued,
        "complete": report.complete,
    }
