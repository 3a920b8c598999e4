"""The frontguard stack for one account and region."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from aws_cdk import Aws, CfnCondition, CfnResource, Duration, Environment, Fn, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_stacksets import StackSetStack
from constructs import Construct
from frontguard import permissions

from infra import bundling
from infra.alerting import AlertTopic
from infra.config import DeploymentConfig, Target, VpcAttachment
from infra.eks_access import EksAccess
from infra.functions import FrontguardFunction, FunctionSpec
from infra.least_privilege import Scope
from infra.observability import NAMESPACE, Observability
from infra.queues import VerificationQueue
from infra.scan_role import ScanRole
from infra.state_table import StateTable
from infra.triggers import Triggers

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
)
SCAN: Final = FunctionSpec(
    name="Scan",
    handler="frontguard.handlers.scan.handler",
    description="frontguard: account-wide compliance scan, drift repair and cleanup",
    actions=permissions.SCAN_FUNCTION,
    # CPU scales with memory: a scan of thousands of LBs is mostly JSON and planning.
    memory_mb=1769,
    timeout=Duration.minutes(15),
    asynchronous=True,
    # One scan at a time: drift bursts queue up instead of racing each other.
    reserved_concurrency=1,
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
        build_member(
            self,
            config=config,
            account=target.account,
            region=target.region,
            clusters=config.clusters,
            vpc=config.vpc,
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
        build_member(
            self,
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
    config: DeploymentConfig,
    account: str,
    region: str,
    clusters: Sequence[str],
    vpc: VpcAttachment | None,
    scan_role_region: str | None = None,
) -> None:
    """Everything of a member stack; ``clusters=()`` (the StackSet) means "the account's
    clusters, whichever they are": named roles and no access entries."""
    organization = not clusters
    alerts = AlertTopic(stack, "Alerts", alerts=config.alerts)
    state = StateTable(stack, "State")
    verification = VerificationQueue(stack, "Verification", consumer_timeout=VERIFY.timeout)

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
        policy_parameter=config.policy_parameter,
        topic_key_alias=central.key_alias if central else None,
    )
    environment = {
        "FRONTGUARD_ALERT_TOPIC_ARN": alert_topic_arn,
        "FRONTGUARD_VERIFY_QUEUE_URL": verification.queue.queue_url,
        "FRONTGUARD_STATE_TABLE": state.table.table_name,
        "POWERTOOLS_SERVICE_NAME": "frontguard",
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
    }
    if config.security_hub:
        environment["FRONTGUARD_SECURITY_HUB"] = "true"
    if config.policy_parameter:
        environment["FRONTGUARD_POLICY_PARAMETER"] = config.policy_parameter
    elif config.policy_json:
        environment["FRONTGUARD_POLICY"] = config.policy_json

    code = bundling.lambda_code()
    log_retention = LOG_RETENTION[config.log_retention_days]
    extra_actions = (
        *(permissions.POLICY_PARAMETER if config.policy_parameter else ()),
        *(permissions.SECURITY_HUB if config.security_hub else ()),
    )
    functions = {
        spec.name: FrontguardFunction(
            stack,
            spec.name,
            spec=replace(spec, actions=(*spec.actions, *extra_actions)),
            code=code,
            environment=environment,
            permissions=scope_,
            log_retention=log_retention,
            vpc=vpc,
            role_name=f"frontguard-{spec.name.lower()}-{region}" if organization else None,
            event_source_queue=verification.queue if spec is VERIFY else None,
        )
        for spec in (EVENTS, VERIFY, SCAN)
    }
    Triggers(
        stack,
        "Triggers",
        events_function=functions[EVENTS.name],
        scan_function=functions[SCAN.name],
        schedule=config.schedule,
    )
    EksAccess(
        stack,
        "EksAccess",
        clusters=clusters,
        roles={name: function.role for name, function in functions.items()},
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
    dead_letter_queues = {
        f"{name}Failures": function.failure_queue
        for name, function in functions.items()
        if function.failure_queue is not None
    }
    dead_letter_queues["VerificationDeadLetters"] = verification.dead_letter_queue
    Observability(
        stack,
        "Observability",
        functions=list(functions.values()),
        clusters=clusters,
        dead_letter_queues=dead_letter_queues,
        topic=alerts.topic,
    )
