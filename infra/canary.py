"""The scheduled canary (docs/canary.md): one function, one schedule per cluster, a queue
subscribed to the alert topic for the canary's own alerts, and two alarms per cluster on the
alert topic.

A Lambda, not a Step Functions state machine: one run is bounded (``timeout_seconds``, at
most 14 minutes) below Lambda's 15-minute limit and is the CLI's code path unchanged; the
minutes it waits cost about as much as the state transitions would (docs/canary.md, "Cost").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_eks as eks
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from frontguard import permissions
from frontguard.canary.owners import canary_filter_policy

from infra.config import CanaryConfig, VpcAttachment
from infra.functions import FrontguardFunction, FunctionSpec
from infra.least_privilege import Scope
from infra.observability import NAMESPACE, SERVICE
from infra.principals import role_name

CANARY_GROUP: Final = "frontguard-canary"  # infra/rbac.yaml: a Role in the canary namespace
# The run's wall time plus the report, metrics and alert after it.
FUNCTION_TIMEOUT: Final = Duration.minutes(15)
CANARY: Final = FunctionSpec(
    name="Canary",
    handler="frontguard.handlers.canary.handler",
    description="frontguard: measure a new load balancer's real exposure end to end",
    actions=permissions.CANARY_FUNCTION,
    memory_mb=256,
    timeout=FUNCTION_TIMEOUT,
    # Invoked by its schedule: a failed run is reported by its alarm, not retried (a retry
    # would only measure again, later).
    asynchronous=True,
    reserved_concurrency=None,
)


class ScheduledCanary(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: CanaryConfig,
        clusters: Sequence[str],
        code: lambda_.Code,
        alert_topic: sns.ITopic | None,
        alarm_topic: sns.ITopic,
        alert_topic_arn: str,
        environment: Mapping[str, str],
        permissions_scope: Scope,
        log_retention: logs.RetentionDays,
        vpc: VpcAttachment | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The canary's own alerts: its namespace's, and those naming no owner (matched by
        # load balancer ARN). SSE-SQS: SNS delivers to it without a key grant.
        self.queue = sqs.Queue(
            self,
            "Alerts",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.hours(1),
        )
        Validations.of(self.queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="the canary reads and deletes every message of this subscription within "
                "its run (also those it cannot parse); older ones expire after an hour: a "
                "dead-letter queue would hold nothing",
            )
        )
        if alert_topic is not None:
            alert_topic.add_subscription(
                subscriptions.SqsSubscription(
                    self.queue,
                    raw_message_delivery=True,
                    filter_policy={"namespace": _filter(config.namespace)},
                )
            )
        self.function = FrontguardFunction(
            self,
            "Canary",
            spec=CANARY,
            code=code,
            environment={
                **environment,
                "FRONTGUARD_ALERT_TOPIC_ARN": alert_topic_arn,
                "FRONTGUARD_CANARY_QUEUE_URL": self.queue.queue_url,
            },
            permissions=replace(
                permissions_scope,
                clusters=tuple(config.clusters),
                canary_queue_arn=self.queue.queue_arn,
            ),
            log_retention=log_retention,
            vpc=vpc,
            # A fixed name: the alert topic admits only frontguard's roles by ARN
            # (infra/principals.py).
            role_name=role_name(CANARY.name, Stack.of(self).region),
        )
        self.rules: dict[str, events.Rule] = {}
        self.alarms: list[cloudwatch.Alarm] = []
        for cluster in config.clusters:
            if cluster not in clusters:
                continue
            self.rules[cluster] = events.Rule(
                self,
                f"Schedule-{cluster}",
                description=f"frontguard canary for cluster {cluster}",
                schedule=events.Schedule.expression(config.schedule),
                targets=[
                    targets.LambdaFunction(
                        self.function.function,
                        event=events.RuleTargetInput.from_object(
                            {
                                "cluster": cluster,
                                "kind": config.kind,
                                "namespace": config.namespace,
                                "timeout_seconds": config.timeout_seconds,
                                "max_exposure_seconds": config.max_exposure_seconds,
                            }
                        ),
                        retry_attempts=0,
                    )
                ],
            )
            self.alarms += self._alarms(cluster, config, alarm_topic)
            eks.CfnAccessEntry(
                self,
                f"{cluster}-Canary",
                cluster_name=cluster,
                principal_arn=self.function.role.role_arn,
                kubernetes_groups=[CANARY_GROUP],
                type="STANDARD",
            ).node.add_dependency(self.function.function)

    def _alarms(
        self, cluster: str, config: CanaryConfig, topic: sns.ITopic
    ) -> list[cloudwatch.Alarm]:
        """No successful run in a schedule period (a run that did not happen is a failure too;
        an alarm evaluates at most one day: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html),
        and an exposure above the configured bound."""
        period = _period(config.schedule)

        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=name,
                dimensions_map={"cluster": cluster, "service": SERVICE},
                statistic=statistic,
                period=period,
            )

        failed = cloudwatch.Alarm(
            self,
            f"Failed-{cluster}",
            alarm_description=f"frontguard: the canary of cluster {cluster} failed or did not "
            "run (its canary-failed alert and log say which stage and why)",
            metric=metric("canary-success", "Minimum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        slow = cloudwatch.Alarm(
            self,
            f"Exposure-{cluster}",
            alarm_description=f"frontguard: the canary load balancer of cluster {cluster} was "
            f"open longer than {config.max_exposure_seconds} s",
            metric=metric("canary-exposure-seconds", "Maximum"),
            threshold=config.max_exposure_seconds,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (failed, slow):
            alarm.add_alarm_action(actions.SnsAction(topic))
        return [failed, slow]


def _period(schedule: str) -> Duration:
    """The schedule's period for the alarms, at most one day (a cron schedule: one day)."""
    day = 24 * 60
    if schedule.startswith("rate("):
        amount, unit = schedule[5:-1].split()
        minutes = int(amount) * {"minute": 1, "hour": 60, "day": day}[unit.rstrip("s")]
        return Duration.minutes(min(max(minutes, 1), day))
    return Duration.days(1)


def _filter(namespace: str) -> sns.SubscriptionFilter:
    """The subscription's filter on the ``namespace`` attribute, exactly as the runtime states
    it (frontguard.canary.owners.canary_filter_policy)."""
    conditions = json.loads(canary_filter_policy(namespace))["namespace"]
    return sns.SubscriptionFilter(conditions=conditions)
