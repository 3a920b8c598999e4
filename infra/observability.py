"""The dashboard and the alarms: every failure ends up on the alert topic.

Runtime metrics the dashboard reads (Powertools, namespace ``Frontguard``, default
dimension ``service``): ``Outcome`` (count, dimension ``outcome``) and
``NonCompliantLoadBalancers`` (gauge from each scan, dimension ``cluster``).
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

from infra.functions import FrontguardFunction

NAMESPACE: Final = "Frontguard"
PERIOD: Final = Duration.minutes(5)


def _search(
    expression: str, statistic: str, label: str, period: Duration = PERIOD
) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{expression}', '{statistic}', {int(period.to_seconds())})",
        using_metrics={},
        label=label,
        period=period,
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[FrontguardFunction],
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
                title="Outcomes over time",
                left=[_search(f'{{{NAMESPACE},service,outcome}} MetricName="Outcome"', "Sum", "")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Non-compliant load balancers by cluster (last scan)",
                left=[
                    _search(
                        f'{{{NAMESPACE},service,cluster}} MetricName="NonCompliantLoadBalancers"',
                        "Maximum",
                        "",
                        Duration.hours(1),
                    )
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Verification failures",
                left=[
                    _search(
                        f'{{{NAMESPACE},service,outcome}} MetricName="Outcome" outcome="verification-failed"',
                        "Sum",
                        "verification-failed",
                    )
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
