"""Lambda entry point for the scheduled compliance scan (and drift events routed to it)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.handlers._runtime import current_runtime, logged

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")

SCHEDULED = "Scheduled Event"


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from frontguard.handlers.scan_flow import handle_drift_event, run_scan

    runtime = current_runtime()
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
