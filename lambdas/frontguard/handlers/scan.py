"""Lambda entry point for the scheduled compliance scan (and drift events routed to it).

EventBridge puts both into the scan queue (SQS FIFO, one message group), so the function
normally receives an SQS batch whose bodies are the EventBridge events; invoked directly
(``aws lambda invoke``, docs/deploy.md) it takes one EventBridge event as is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.errors import InvalidEventError
from frontguard.handlers._runtime import current_runtime, logged

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")

SCHEDULED = "Scheduled Event"
SWEEP_SOURCE = "frontguard.sweep"  # the sweep rule's constant input (infra/triggers.py)


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        # Imported here: the batch utilities double the module's cold import (bench/import_time).
        from aws_lambda_powertools.utilities.batch import (
            SqsFifoPartialProcessor,
            process_partial_response,
        )

        # FIFO: after a failed record the rest of the batch is reported failed too, so the
        # queue redelivers them in order.
        return process_partial_response(
            event=event,
            record_handler=scan_record,
            processor=SqsFifoPartialProcessor(),
            context=context,
        )
    return handle(event, context)


def scan_record(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    """One queued EventBridge event (a drift call or the schedule); Powertools hands in the
    Lambda context (a parameter of that name), whose remaining time bounds the scan."""
    try:
        event = json.loads(record.body)
    except ValueError as error:
        raise InvalidEventError("scan queue message is not an EventBridge event") from error
    if not isinstance(event, dict):
        raise InvalidEventError("scan queue message is not an EventBridge event")
    return handle(event, lambda_context)


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from frontguard.handlers.scan_flow import handle_drift_event, run_scan

    runtime = current_runtime()
    if event.get("source") == SWEEP_SOURCE:
        from frontguard.handlers.scan_flow import run_sweep

        swept = run_sweep(runtime)
        metrics.add_metric(name="sweep-changed", unit=MetricUnit.Count, value=len(swept.changed))
        return swept.as_dict()
    if event.get("detail-type") != SCHEDULED:
        checked = handle_drift_event(runtime, event)
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
