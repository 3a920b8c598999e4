"""The frontguard stack for one account and region."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from aws_cdk import (
    Aws,
    CfnCondition,
    CfnOutput,
    CfnResource,
    Duration,
    Environment,
    Fn,
    Stack,
)
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from cdk_stacksets import StackSetStack
from constructs import Construct
from frontguard import permissions

from infra import bundling
from infra.alerting import AlertTopic
from infra.canary import CANARY, ScheduledCanary
from infra.config import SSM_STANDARD_LIMIT, DeploymentConfig, Target, VpcAttachment
from infra.eks_access import EksAccess
from infra.fail_closed import FailClosed
from infra.functions import FrontguardFunction, FunctionSpec
from infra.least_privilege import Scope
from infra.observability import NAMESPACE, Observability
from infra.principals import FUNCTIONS, role_name
from infra.queues import VerificationQueue
from infra.remediation import PACE_SECONDS, REMEDIATE, RemediationQueue
from infra.scan_role import ScanRole
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
DESCRIPTION: Final = "frontguard: keeps AWS Load Balancer Controller LBs behind policy SGs"
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
    """The member stack of one account and region, deployed with ``cdk deploy``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, target: Target
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=target.account, region=target.region),
            description=DESCRIPTION,
        )
        self.triggers = build_member(
            self,
            stack_name=construct_id,
            config=config,
            account=target.account,
            region=target.region,
            clusters=target.clusters,
            vpc=target.vpc,
            # IAM is global: the account's first target creates the named scan role.
            scan_role_region=next(t.region for t in config.targets if t.account == target.account),
        )


class FrontguardMemberStackSetStack(StackSetStack):
    """The same member stack as a StackSet template (infra/organization.py): account and
    region are pseudo parameters; clusters differ per account, so the functions' roles get
    fixed names that cluster owners map in EKS (no access entry that a missing cluster would
    fail), and the EKS grants cover the account's clusters that the policy selects."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        config: DeploymentConfig,
        asset_buckets: Sequence[s3.IBucket],
        asset_bucket_prefix: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            asset_buckets=list(asset_buckets),
            asset_bucket_prefix=asset_bucket_prefix,
        )
        self.template_options.description = DESCRIPTION
        self.triggers = build_member(
            self,
            stack_name="frontguard",
            config=config,
            account=Aws.ACCOUNT_ID,
            region=Aws.REGION,
            clusters=(),
            vpc=None,
            scan_role_region=config.organization.regions[0] if config.organization else None,
        )


def build_member(
    stack: Stack,
    *,
    stack_name: str,
    config: DeploymentConfig,
    account: str,
    region: str,
    clusters: Sequence[str],
    vpc: VpcAttachment | None,
    scan_role_region: str | None = None,
) -> Triggers:
    """Everything of a member stack; ``clusters=()`` (the StackSet) means "the account's
    clusters, whichever they are": named roles and no access entries."""
    organization = not clusters
    canary_clusters = set(config.canary.clusters) & set(clusters) if config.canary else set()
    alerts = AlertTopic(
        stack,
        "Alerts",
        alerts=config.alerts,
        extra_publishers=(CANARY.name,) if canary_clusters else (),
    )
    state = StateTable(stack, "State")
    verification = VerificationQueue(stack, "Verification", consumer_timeout=VERIFY.timeout)
    remediation = RemediationQueue(stack, "Remediation", consumer_timeout=REMEDIATE.timeout)
    scan_queue = ScanQueue(stack, "ScanQueue", consumer_timeout=SCAN.timeout)
    policy_parameter, policy_digest = _policy_parameter(stack, stack_name, config)

    # Alerts and digests go to the organization's topic when there is one; the stack's own
    # topic then carries its CloudWatch alarms only.
    central = config.central_alerts
    alert_topic_arn = central.topic_arn if central else alerts.topic.topic_arn
    scope_ = Scope(
        account=account,
        region=region,
        clusters=clusters or ("*",),
        topic_arn=alert_topic_arn,
        topic_key_arn=alerts.key.key_arn,
        verify_queue_arn=verification.queue.queue_arn,
        state_table_arn=state.table.table_arn,
        policy_parameter=config.policy_parameter or policy_parameter_name(stack_name),
        topic_key_alias=central.key_alias if central else None,
    )
    environment = {
        "FRONTGUARD_ALERT_TOPIC_ARN": alert_topic_arn,
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
    if config.security_hub:
        environment["FRONTGUARD_SECURITY_HUB"] = "true"

    code = bundling.lambda_code()
    log_retention = LOG_RETENTION[config.log_retention_days]
    extra_actions = (
        *permissions.POLICY_PARAMETER,
        *(permissions.SECURITY_HUB if config.security_hub else ()),
    )
    functions = {
        spec.name: FrontguardFunction(
            stack,
            spec.name,
            spec=replace(spec, actions=(*spec.actions, *extra_actions)),
            code=code,
            environment=environment,
            # Only the scan sends to the remediation queue.
            permissions=(
                replace(scope_, remediation_queue_arn=remediation.queue.queue_arn)
                if spec is SCAN
                else scope_
            ),
            log_retention=log_retention,
            vpc=vpc,
            # Fixed names in every stack: the channels' resource policies name these roles
            # (infra/principals.py), and cluster owners map them in EKS.
            role_name=role_name(spec.name, region),
            event_source_queue={
                VERIFY.name: verification.queue,
                SCAN.name: scan_queue.queue,
                REMEDIATE.name: remediation.queue,
            }.get(spec.name),
        )
        for spec in (EVENTS, VERIFY, SCAN, REMEDIATE)
    }
    assert tuple(functions) == FUNCTIONS, "infra/principals.py names every function's role"
    if policy_parameter is not None:
        for function in functions.values():
            function.function.node.add_dependency(policy_parameter)
    triggers = Triggers(
        stack,
        "Triggers",
        events_function=functions[EVENTS.name],
        scan_queue=scan_queue,
        schedule=config.schedule,
        scan_function=functions[SCAN.name],
        sweep_schedule=config.sweep_schedule,
        own_roles=[
            functions[EVENTS.name].role,
            functions[SCAN.name].role,
            functions[REMEDIATE.name].role,  # its SG changes are frontguard's own too
        ],
    )
    if config.fail_closed is not None:
        FailClosed(
            stack,
            "FailClosed",
            controller_role_names=config.fail_closed.controller_role_names,
            events_function=functions[EVENTS.name],
        )
    EksAccess(
        stack,
        "EksAccess",
        clusters=clusters,
        functions=functions,
        read_only={VERIFY.name},
    )
    if config.scan_role is not None and (organization or region == scan_role_region):
        scan_role = ScanRole(
            stack,
            "OrganizationScanRole",
            role_name=config.scan_role.role_name,
            trusted_accounts=config.scan_role.trusted_accounts,
            organization_id=config.scan_role.organization_id,
            clusters=clusters,
            permissions_scope=scope_,
        )
        if organization and scan_role_region is not None:
            # One template for every region of an account: only the first region creates
            # the (global, named) role.
            home = CfnCondition(
                stack,
                "ScanRoleHomeRegion",
                expression=Fn.condition_equals(Aws.REGION, scan_role_region),
            )
            role = scan_role.role.node.default_child
            assert isinstance(role, CfnResource)
            role.cfn_options.condition = home
    canary = (
        ScheduledCanary(
            stack,
            "ScheduledCanary",
            config=config.canary,
            clusters=clusters,
            code=code,
            # With the organization's topic the stack's own carries alarms only: the canary
            # then reads no alerts (its alert and verification stages say so).
            alert_topic=None if central else alerts.topic,
            alarm_topic=alerts.topic,
            alert_topic_arn=alert_topic_arn,
            environment={
                key: environment[key]
                for key in (
                    "POWERTOOLS_SERVICE_NAME",
                    "POWERTOOLS_METRICS_NAMESPACE",
                    "AWS_STS_REGIONAL_ENDPOINTS",
                )
            },
            permissions_scope=scope_,
            log_retention=log_retention,
            vpc=vpc,
        )
        if config.canary is not None and canary_clusters
        else None
    )
    dead_letter_queues = {
        f"{name}Failures": function.failure_queue
        for name, function in functions.items()
        if function.failure_queue is not None
    }
    dead_letter_queues["ScanUndelivered"] = scan_queue.undelivered
    Observability(
        stack,
        "Observability",
        functions=list(functions.values()),
        clusters=clusters,
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

    _outputs(
        stack,
        triggers,
        functions=functions,
        topic_arn=alert_topic_arn,
        scan_queue_arn=scan_queue.queue.queue_arn,
        work_queue_urls=[
            verification.queue.queue_url,
            remediation.queue.queue_url,
            scan_queue.queue.queue_url,
        ],
        state_table_arn=state.table.table_arn,
        dead_letter_queue_urls=[
            q.queue_url
            for q in (
                *dead_letter_queues.values(),
                verification.dead_letter_queue,
                scan_queue.dead_letter_queue,
                remediation.dead_letter_queue,
            )
        ],
        clusters=tuple(clusters),
        state_table_name=state.table.table_name,
        canary=canary,
    )
    return triggers


def _outputs(
    stack: Stack,
    triggers: Triggers,
    *,
    functions: dict[str, FrontguardFunction],
    topic_arn: str,
    scan_queue_arn: str,
    work_queue_urls: list[str],
    state_table_arn: str,
    dead_letter_queue_urls: list[str],
    clusters: tuple[str, ...],
    state_table_name: str,
    canary: ScheduledCanary | None = None,
) -> None:
    """What ``frontguard doctor`` reads to find the deployment (DescribeStacks)."""
    values: dict[str, str] = {"AlertTopicArn": topic_arn, "ScanQueueArn": scan_queue_arn}
    for name, function in functions.items():
        values[f"{name}FunctionName"] = function.function.function_name
        values[f"{name}FunctionArn"] = function.function.function_arn
        values[f"{name}RoleArn"] = function.role.role_arn
    for name, rule in triggers.rules.items():
        values[f"Rule{name}"] = rule.rule_name
    values["DeadLetterQueueUrls"] = Fn.join(",", dead_letter_queue_urls)
    # The channels whose resource policies the doctor reads (R2-7).
    values["WorkQueueUrls"] = Fn.join(",", work_queue_urls)
    values["StateTableArn"] = state_table_arn
    values["Clusters"] = ",".join(clusters)
    # The CLI proves frontguard's prefix lists by their creation records in this table.
    values["StateTableName"] = state_table_name
    if canary is not None:
        values["CanaryAlertsQueueUrl"] = canary.queue.queue_url
        values["CanaryFunctionName"] = canary.function.function.function_name
        values["CanaryRoleArn"] = canary.function.role.role_arn
    for key, value in values.items():
        CfnOutput(stack, key, value=value)


def _policy_parameter(
    stack: Stack, construct_id: str, config: DeploymentConfig
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
        stack,
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
