"""The dashboard and the alarms: every failure ends up on the alert topic.

The dashboard reads the metrics the handlers publish (Powertools, namespace ``Frontguard``,
dimension ``service=frontguard``): the scan's ``lb-<outcome>`` counts per run, account-wide
and per ``cluster``, the verify function's ``verification-<outcome>``, the remediate
function's ``queued-<outcome>`` (handlers/remediate.py) and every handler's
``malformed-events`` (handlers/malformed.py).
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
from frontguard.handlers.malformed import METRIC as MALFORMED_METRIC
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


# Errors page when they persist (3 of 5 periods), not on the retries the design relies on
# (a new LB "not visible yet" raises a retryable error on purpose); a failure for good shows up
# in a failure queue, alarmed on each message sent.
ERROR_PERIODS: Final = (3, 5)
# A queued event older than this was not handled: the consumer is stuck or failing.
MAX_QUEUE_AGE_SECONDS: Final = 3600
# Asynchronous invocations of the events function waiting this long are backed up.
MAX_ASYNC_AGE_MS: Final = 30 * 60 * 1000
# A scan near its 900 s timeout is about to time out.
SCAN_DURATION_WARNING_MS: Final = 800 * 1000
DRIFT_OUTCOMES: Final = ("ignored", *(o.value for o in Outcome))
# What a queued repair can end as (handlers/remediate.py publishes ``queued-<outcome>``).
QUEUED_OUTCOMES: Final = tuple(o.value for o in Outcome)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[FrontguardFunction],
        clusters: Sequence[str],
        failure_queues: Mapping[str, sqs.IQueue],
        redrive_queues: Mapping[str, sqs.IQueue],
        work_queues: Mapping[str, sqs.IQueue],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = actions.SnsAction(topic)
        alarms: list[cloudwatch.Alarm] = []
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        quiet = cloudwatch.TreatMissingData.NOT_BREACHING

        def alarm(
            name: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            description: str,
            periods: tuple[int, int] = (1, 1),
        ) -> None:
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    name,
                    metric=metric,
                    alarm_description=f"frontguard: {description}",
                    threshold=threshold,
                    datapoints_to_alarm=periods[0],
                    evaluation_periods=periods[1],
                    comparison_operator=at_least,
                    treat_missing_data=quiet,
                )
            )

        for function in functions:
            name = function.spec.name
            alarm(
                f"{name}Errors",
                function.function.metric_errors(period=PERIOD, statistic="Sum"),
                1,
                f"{name} fails in {ERROR_PERIODS[0]} of {ERROR_PERIODS[1]} 5-minute periods",
                ERROR_PERIODS,
            )
            if function.spec.asynchronous:
                # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
                alarm(
                    f"{name}AsyncEventsDropped",
                    function.function.metric("AsyncEventsDropped", period=PERIOD, statistic="Sum"),
                    1,
                    f"{name}: Lambda dropped events without running them",
                )
                alarm(
                    f"{name}AsyncEventAge",
                    function.function.metric("AsyncEventAge", period=PERIOD, statistic="Maximum"),
                    MAX_ASYNC_AGE_MS,
                    f"{name}: events wait in Lambda's queue for more than 30 minutes",
                )
            if function.spec.timeout.to_seconds() >= 900:
                alarm(
                    f"{name}NearTimeout",
                    function.function.metric_duration(period=PERIOD, statistic="Maximum"),
                    SCAN_DURATION_WARNING_MS,
                    f"{name} runs close to its 900 s timeout",
                )
        for name, queue in failure_queues.items():
            # Lambda destinations and EventBridge send to these: one alarm per new failure,
            # clearing in the next quiet period however long the message is kept.
            alarm(
                f"{name}Sent",
                queue.metric_number_of_messages_sent(period=PERIOD, statistic="Sum"),
                1,
                f"{name} received an event that failed for good",
            )
        for name, queue in redrive_queues.items():
            # Redrive moves messages without SendMessage, so only the depth shows them.
            alarm(
                name,
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
                1,
                f"{name} has messages that failed for good",
            )
        for name, queue in work_queues.items():
            alarm(
                f"{name}QueueAge",
                queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
                MAX_QUEUE_AGE_SECONDS,
                f"the {name} queue holds a message older than an hour",
            )
        for each in alarms:
            each.add_alarm_action(notify)
            each.add_ok_action(notify)
        self.alarms = alarms
        queues = {**failure_queues, **redrive_queues}

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
                    for outcome in (*VERIFICATION_OUTCOMES, "ignored")
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Drift checks and open findings",
                left=[_metric(f"drift-event-{o}", "Sum", PERIOD) for o in DRIFT_OUTCOMES],
                right=[_metric("open-findings", "Maximum", SCAN_PERIOD)],
                width=6,
            ),
            cloudwatch.GraphWidget(
                # Published by verification (handlers/verify.py): creation → compliant SG seen.
                title="Exposure: load balancer creation to compliant SG (seconds)",
                left=[
                    _metric("exposure-seconds", statistic, PERIOD)
                    for statistic in ("p50", "p90", "Maximum")
                ],
                right=[
                    _metric(f"lb-{outcome}", "Maximum", SCAN_PERIOD)
                    for outcome in (Outcome.BORN_PROTECTED, Outcome.BORN_OPEN)
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                # Published by the remediate function (handlers/remediate.py): the scan's queued
                # repairs by outcome, and records handed back unstarted for lack of time.
                title="Queued repairs",
                left=[
                    _metric(f"queued-{outcome}", "Sum", PERIOD)
                    for outcome in (*QUEUED_OUTCOMES, "not-started")
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Lambda errors",
                left=[
                    f.function.metric_errors(period=PERIOD, label=f.spec.name) for f in functions
                ],
                width=6,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                # Every handler's input rejected at the edge (handlers/malformed.py): dropped
                # (EventBridge) or failed alone, to the dead-letter queue (SQS).
                title="Malformed input rejected at the edge",
                left=[_metric(MALFORMED_METRIC, "Sum", PERIOD)],
                width=24,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Failure and dead-letter queues",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, label=name)
                    for name, queue in queues.items()
                ],
                right=[
                    queue.metric_approximate_age_of_oldest_message(
                        period=PERIOD, label=f"{name} age"
                    )
                    for name, queue in work_queues.items()
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=12),
        )
