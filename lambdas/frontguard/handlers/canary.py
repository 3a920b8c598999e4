"""Lambda entry point of the scheduled canary (infra/canary.py): one cluster per invocation,
the same run as ``frontguard canary``; publishes ``canary-success`` and
``canary-exposure-seconds`` (per cluster) and, when the run failed or was too slow, a
``canary-failed`` alert with the stage that did not happen and its fix."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.errors import InvalidEventError
from frontguard.handlers._runtime import logged

if TYPE_CHECKING:
    from frontguard.canary.report import CanaryReport
    from frontguard.canary.scheduled import CanaryEnvironment, CanaryRequest

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from frontguard.canary.scheduled import CanaryEnvironment, CanaryRequest

    try:
        request = CanaryRequest.parse(event)
    except InvalidEventError as error:
        # Retrying cannot fix the rule's input: log once, count, drop.
        logger.error("malformed canary request dropped", extra={"problem": str(error)})  # noqa: TRY400
        metrics.add_metric(name="malformed-events", unit=MetricUnit.Count, value=1)
        return {"ok": False, "reason": str(error)}
    environment = CanaryEnvironment.from_env(os.environ)
    report = _run(request, environment, context.get_remaining_time_in_millis() / 1000)
    metrics.add_dimension(name="cluster", value=request.cluster)
    metrics.add_metric(name="canary-success", unit=MetricUnit.Count, value=1 if report.ok else 0)
    if report.exposure_seconds is not None:
        metrics.add_metric(
            name="canary-exposure-seconds", unit=MetricUnit.Seconds, value=report.exposure_seconds
        )
    return report.as_dict()


def _run(
    request: CanaryRequest, environment: CanaryEnvironment, remaining_seconds: float
) -> CanaryReport:
    import boto3

    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.alerts import SnsAlerts
    from frontguard.canary.probe import Canary, CanaryClients
    from frontguard.canary.scheduled import failure_alert
    from frontguard.runtime import ClusterConnector

    session = boto3.Session()

    def client(name: str) -> Any:
        return session.client(name, config=CLIENT_CONFIG)  # type: ignore[call-overload]

    connector = ClusterConnector(client("eks"), client("sts"))
    clients = CanaryClients(
        kube=connector(request.cluster),
        elbv2=client("elbv2"),
        ec2=client("ec2"),
        tagging=client("resourcegroupstaggingapi"),
        sqs=client("sqs"),
        alerts_queue_url=environment.alerts_queue_url,
    )
    report = Canary(request.settings(remaining_seconds), clients).run()
    alert = failure_alert(request, report)
    if alert is not None:
        # The topic's ARN names the account and region it alerts for.
        _, _, _, region, account, _ = environment.alert_topic_arn.split(":", 5)
        SnsAlerts(
            client("sns"), environment.alert_topic_arn, account=account, region=region
        ).publish(alert)
    return report
