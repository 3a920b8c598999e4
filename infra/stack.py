"""The frontguard stack for one account and region."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Final

from aws_cdk import CfnOutput, Duration, Environment, Fn, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from frontguard import permissions

from infra import bundling
from infra.alerting import AlertTopic
from infra.config import SSM_STANDARD_LIMIT, DeploymentConfig, Target
from infra.eks_access import EksAccess
from infra.functions import FrontguardFunction, FunctionSpec
from infra.least_privilege import Scope
from infra.observability import NAMESPACE, Observability
from infra.queues import VerificationQueue
from infra.remediation import PACE_SECONDS, REMEDIATE, RemediationQueue
from infra.state_table import StateTable
from infra.triggers import ScanQueue, Triggers

EVENTS: Final = FunctionSpec(
    name="Events",
    handler="frontguard.handlers.events.handler",
    description="frontguard: remediate a load balancer from its CloudTrail CreateLoadBalancer",
    actions=permissions.EVENTS_FUNCTION,
    memory_mb=512,
    # The LB may not be listed yet (retries) and the EKS patch is a network round trip.
    timeout=Duration.minutes(2),
    asynchronous=True,
)
VERIFY: Final = FunctionSpec(
    name="Verify",
    handler="frontguard.handlers.verify.handler",
    description="frontguard: check that remediated load balancers carry their security group",
    actions=permissions.VERIFY_FUNCTION,
    memory_mb=512,
    timeout=Duration.minutes(2),
    asynchronous=False,
    # The handler also stops taking records when the time left is short (a slow cluster).
    batch_size=10,
)
SCAN: Final = FunctionSpec(
    name="Scan",
    handler="frontguard.handlers.scan.handler",
    description="frontguard: account-wide compliance scan, drift repair and cleanup",
    actions=permissions.SCAN_FUNCTION,
    # CPU scales with memory: a scan of thousands of LBs is mostly JSON and planning.
    memory_mb=1769,
    timeout=Duration.minutes(15),
    # Fed by the scan queue (FIFO, one message group): one scan or drift check at a time,
    # without reserved concurrency; one message per invocation, as a scan needs the timeout.
    asynchronous=False,
    batch_size=1,
)
LOG_RETENTION: Final = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


class FrontguardStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, target: Target
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=target.account, region=target.region),
            description="frontguard: keeps AWS Load Balancer Controller LBs behind policy SGs",
        )
        alerts = AlertTopic(self, "Alerts", alerts=config.alerts)
        state = StateTable(self, "State")
        verification = VerificationQueue(self, "Verification", consumer_timeout=VERIFY.timeout)
        remediation = RemediationQueue(self, "Remediation", consumer_timeout=REMEDIATE.timeout)
        scan_queue = ScanQueue(self, "ScanQueue", consumer_timeout=SCAN.timeout)
        policy_parameter, policy_digest = self._policy_parameter(construct_id, config)

        scope_ = Scope(
            account=target.account,
            region=target.region,
            clusters=target.clusters,
            topic_arn=alerts.topic.topic_arn,
            topic_key_arn=alerts.key.key_arn,
            verify_queue_arn=verification.queue.queue_arn,
            state_table_arn=state.table.table_arn,
            policy_parameter=config.policy_parameter or policy_parameter_name(construct_id),
        )
        environment = {
            "FRONTGUARD_ALERT_TOPIC_ARN": alerts.topic.topic_arn,
            "FRONTGUARD_VERIFY_QUEUE_URL": verification.queue.queue_url,
            "FRONTGUARD_STATE_TABLE": state.table.table_name,
            "FRONTGUARD_REMEDIATION_QUEUE_URL": remediation.queue.queue_url,
            "FRONTGUARD_REMEDIATION_PACE_SECONDS": str(PACE_SECONDS),
            "FRONTGUARD_POLICY_PARAMETER": (
                policy_parameter.parameter_name
                if policy_parameter is not None
                else str(config.policy_parameter)
            ),
            "POWERTOOLS_SERVICE_NAME": "frontguard",
            "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
            # Private subnets reach STS through its regional endpoint only; some runtime SDK
            # versions default to the global one.
            # https://docs.aws.amazon.com/sdkref/latest/guide/feature-sts-regionalized-endpoints.html
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        }
        if policy_digest is not None:
            # A changed policy changes the functions' configuration, so no container keeps
            # serving the old one (the runtime reads the parameter once per container).
            environment["FRONTGUARD_POLICY_SHA256"] = policy_digest

        code = bundling.lambda_code()
        log_retention = LOG_RETENTION[config.log_retention_days]
        functions = {
            spec.name: FrontguardFunction(
                self,
                spec.name,
                spec=replace(spec, actions=(*spec.actions, *permissions.POLICY_PARAMETER)),
                code=code,
                environment=environment,
                # Only the scan sends to the remediation queue.
                permissions=(
                    replace(scope_, remediation_queue_arn=remediation.queue.queue_arn)
                    if spec is SCAN
                    else scope_
                ),
                log_retention=log_retention,
                vpc=target.vpc,
                event_source_queue={
                    VERIFY.name: verification.queue,
                    SCAN.name: scan_queue.queue,
                    REMEDIATE.name: remediation.queue,
                }.get(spec.name),
            )
            for spec in (EVENTS, VERIFY, SCAN, REMEDIATE)
        }
        if policy_parameter is not None:
            for function in functions.values():
                function.function.node.add_dependency(policy_parameter)
        self.triggers = Triggers(
            self,
            "Triggers",
            events_function=functions[EVENTS.name],
            scan_queue=scan_queue,
            schedule=config.schedule,
            own_roles=[
                functions[EVENTS.name].role,
                functions[SCAN.name].role,
                functions[REMEDIATE.name].role,  # its SG changes are frontguard's own too
            ],
        )
        EksAccess(
            self,
            "EksAccess",
            clusters=target.clusters,
            functions=functions,
            read_only={VERIFY.name},
        )
        dead_letter_queues = {
            f"{name}Failures": function.failure_queue
            for name, function in functions.items()
            if function.failure_queue is not None
        }
        dead_letter_queues["ScanUndelivered"] = scan_queue.undelivered
        Observability(
            self,
            "Observability",
            functions=list(functions.values()),
            clusters=target.clusters,
            failure_queues=dead_letter_queues,
            redrive_queues={
                "VerificationDeadLetters": verification.dead_letter_queue,
                "ScanDeadLetters": scan_queue.dead_letter_queue,
                "RemediationDeadLetters": remediation.dead_letter_queue,
            },
            work_queues={
                "Verification": verification.queue,
                "Scan": scan_queue.queue,
                "Remediation": remediation.queue,
            },
            topic=alerts.topic,
        )

        self._outputs(
            functions=functions,
            topic_arn=alerts.topic.topic_arn,
            scan_queue_arn=scan_queue.queue.queue_arn,
            dead_letter_queue_urls=[
                q.queue_url
                for q in (
                    *dead_letter_queues.values(),
                    verification.dead_letter_queue,
                    scan_queue.dead_letter_queue,
                    remediation.dead_letter_queue,
                )
            ],
            clusters=target.clusters,
        )

    def _outputs(
        self,
        *,
        functions: dict[str, FrontguardFunction],
        topic_arn: str,
        scan_queue_arn: str,
        dead_letter_queue_urls: list[str],
        clusters: tuple[str, ...],
    ) -> None:
        """What ``frontguard doctor`` reads to find the deployment (DescribeStacks)."""
        values: dict[str, str] = {"AlertTopicArn": topic_arn, "ScanQueueArn": scan_queue_arn}
        for name, function in functions.items():
            values[f"{name}FunctionName"] = function.function.function_name
            values[f"{name}FunctionArn"] = function.function.function_arn
            values[f"{name}RoleArn"] = function.role.role_arn
        for name, rule in self.triggers.rules.items():
            values[f"Rule{name}"] = rule.rule_name
        values["DeadLetterQueueUrls"] = Fn.join(",", dead_letter_queue_urls)
        values["Clusters"] = ",".join(clusters)
        for key, value in values.items():
            CfnOutput(self, key, value=value)

    def _policy_parameter(
        self, construct_id: str, config: DeploymentConfig
    ) -> tuple[ssm.StringParameter | None, str | None]:
        """The inline policy, always in an SSM parameter the stack owns.

        Always, not only when it is too big for Lambda's 4 KB environment: one delivery path
        in every deployment, the policy never competes with the other variables for the
        4 KB, and the doctor reads the same parameter the functions do.
        """
        document = config.policy_json
        if document is None:
            return None, None
        parameter = ssm.StringParameter(
            self,
            "Policy",
            parameter_name=policy_parameter_name(construct_id),
            description="frontguard policy document (written by the stack; edit the config)",
            string_value=document,
            tier=policy_tier(document),
        )
        return parameter, hashlib.sha256(document.encode()).hexdigest()


def policy_parameter_name(stack_name: str) -> str:
    """Where the stack keeps an inline policy document."""
    return f"/frontguard/{stack_name}/policy"


def policy_tier(document: str) -> ssm.ParameterTier:
    """Standard parameters hold 4 KB, Advanced 8 KB (config validation caps the size)."""
    if len(document.encode()) <= SSM_STANDARD_LIMIT:
        return ssm.ParameterTier.STANDARD
    return ssm.ParameterTier.ADVANCED
