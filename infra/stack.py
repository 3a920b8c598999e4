"""The frontguard stack for one account and region."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from aws_cdk import Duration, Environment, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct
from frontguard import permissions

from infra import bundling
from infra.alerting import AlertTopic
from infra.config import DeploymentConfig, Target
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

        scope_ = Scope(
            account=target.account,
            region=target.region,
            clusters=config.clusters,
            topic_arn=alerts.topic.topic_arn,
            topic_key_arn=alerts.key.key_arn,
            verify_queue_arn=verification.queue.queue_arn,
            state_table_arn=state.table.table_arn,
            policy_parameter=config.policy_parameter,
        )
        environment = {
            "FRONTGUARD_ALERT_TOPIC_ARN": alerts.topic.topic_arn,
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
                self,
                spec.name,
                spec=replace(spec, actions=(*spec.actions, *extra_actions)),
                code=code,
                environment=environment,
                permissions=scope_,
                log_retention=log_retention,
                vpc=config.vpc,
                event_source_queue=verification.queue if spec is VERIFY else None,
            )
            for spec in (EVENTS, VERIFY, SCAN)
        }
        Triggers(
            self,
            "Triggers",
            events_function=functions[EVENTS.name],
            scan_function=functions[SCAN.name],
            schedule=config.schedule,
        )
        EksAccess(
            self,
            "EksAccess",
            clusters=config.clusters,
            roles={name: function.role for name, function in functions.items()},
        )
        if config.scan_role is not None:
            ScanRole(
                self,
                "OrganizationScanRole",
                role_name=config.scan_role.role_name,
                trusted_accounts=config.scan_role.trusted_accounts,
                organization_id=config.scan_role.organization_id,
                clusters=config.clusters,
                permissions_scope=scope_,
            )
        dead_letter_queues = {
            f"{name}Failures": function.failure_queue
            for name, function in functions.items()
            if function.failure_queue is not None
        }
        dead_letter_queues["VerificationDeadLetters"] = verification.dead_letter_queue
        Observability(
            self,
            "Observability",
            functions=list(functions.values()),
            clusters=config.clusters,
            dead_letter_queues=dead_letter_queues,
            topic=alerts.topic,
        )
