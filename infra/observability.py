"""The dashboard and the alarms: every failure ends up on the alert topic.

The dashboard reads the metrics the handlers publish (Powertools, namespace ``Frontguard``,
dimension ``service=frontguard``): the scan's ``lb-<outcome>`` counts per run, account-wide
and per ``cluster``, and the verify function's ``verification-<outcome>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from frontguard.model import Outcome

from infra.functions import FrontguardFunction

NAMESPACE: Final = "Frontguard"
SERVICE: Final = "frontguard"
PERIOD: Final = Duration.minutes(5)
SCAN_PERIOD: Final = Duration.hours(1)
# Outcomes that leave a load balancer outside the policy after a scan.
NON_COMPLIANT: Final = (
    Outcome.AUDIT_FINDING,
    Outcome.NEEDS_RECREATION,
    Outcome.GITOPS_PENDING,
    Outcome.CONFLICT,
    Outcome.ERROR,
)
VERIFICATION_OUTCOMES: Final = (Outcome.VERIFIED, Outcome.VERIFICATION_FAILED, "pending")


def _metric(name: str, statistic: str, period: Duration, **dimensions: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={**dimensions, "service": SERVICE},
        statistic=statistic,
        period=period,
        label=name,
    )


def _non_compliant_in(cluster: str, position: int) -> cloudwatch.MathExpression:
    # Metric ids must be unique across the whole graph.
    parts = {
        f"c{position}m{index}": _metric(f"lb-{outcome}", "Maximum", SCAN_PERIOD, cluster=cluster)
        for index, outcome in enumerate(NON_COMPLIANT)
    }
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({name}, 0)" for name in parts),
        using_metrics=parts,
        label=cluster,
        period=SCAN_PERIOD,
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[FrontguardFunction],
        clusters: Sequence[str],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = actions.SnsAction(topic)
        alarms: list[cloudwatch.Alarm] = []
        for function in functions:
            for metric_name, metric in (
                ("Errors", function.function.metric_errors(period=PERIOD, statistic="Sum")),
                ("Throttles", function.function.metric_throttles(period=PERIOD, statistic="Sum")),
            ):
                alarms.append(
                    metric.create_alarm(
                        self,
                        f"{function.spec.name}{metric_name}",
                        alarm_description=f"frontguard {function.spec.name}: {metric_name.lower()}",
                        threshold=1,
                        evaluation_periods=1,
                        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    )
                )
        for name, queue in dead_letter_queues.items():
            alarms.append(
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ).create_alarm(
                    self,
                    f"{name}DeadLetters",
                    alarm_description=f"frontguard: {name} has messages that failed for good",
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for alarm in alarms:
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)

        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(7))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Outcomes over time (load balancers per scan)",
                left=[_metric(f"lb-{outcome}", "Maximum", SCAN_PERIOD) for outcome in Outcome],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Non-compliant load balancers by cluster",
                left=[_non_compliant_in(cluster, i) for i, cluster in enumerate(clusters)],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Verifications",
                left=[
                    _metric(f"verification-{outcome}", "Sum", PERIOD)
                    for outcome in VERIFICATION_OUTCOMES
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Lambda errors",
                left=[
                    f.function.metric_errors(period=PERIOD, label=f.spec.name) for f in functions
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Lambda throttles",
                left=[
                    f.function.metric_throttles(period=PERIOD, label=f.spec.name) for f in functions
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, label=name)
                    for name, queue in dead_letter_queues.items()
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=12),
        )
