"""EventBridge rules: CloudTrail events and the schedule, each to the function that acts.

CreateLoadBalancer invokes the events function directly (asynchronous invoke: retries, then
its failure queue). Drift events and the schedule go through one SQS FIFO queue, consumed by
the scan function: one message group, so scans and drift checks run one at a time without
reserved concurrency, and an event waits in the queue (up to 14 days, alarmed on age)
instead of being throttled and dropped by Lambda's asynchronous queue
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from frontguard.tags import MANAGED_LB_SG, MANAGED_SG_PREFIXES

from infra.functions import FrontguardFunction
from infra.queues import dead_letter_queue, only_frontguard_sends

CLOUDTRAIL: Final = "AWS API Call via CloudTrail"
ELBV2_API_VERSION: Final = "2015-12-01"  # tells ELBv2 from Classic ELB
# A record with errorCode is a call that failed: nothing changed.
SUCCEEDED: Final = {"errorCode": [{"exists": False}]}
# Every ELBv2 call that changes which SGs front an LB or which ports it listens on
# (CreateListener/ModifyListener: a new or changed port must be planned into frontguard's SG;
# the scan's steady-state check takes ports from the SG itself, without DescribeListeners).
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Operations.html
DRIFT_ELBV2_CALLS: Final = ("SetSecurityGroups", "CreateListener", "ModifyListener")
# Every EC2 call that changes an SG's ingress rules: the EC2 console's "Edit inbound rules"
# and Terraform's aws_vpc_security_group_ingress_rule use ModifySecurityGroupRules.
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySecurityGroupRules.html
# Egress calls are left out on purpose: frontguard's policy is about who reaches the LB, and
# the handler has nothing to do for them.
DRIFT_EC2_CALLS: Final = (
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "ModifySecurityGroupRules",
    # frontguard's prefix lists (born protected): checked at once, not at the next schedule.
    "ModifyManagedPrefixList",
)
SCAN_MESSAGE_GROUP: Final = "frontguard-scan"
# The sweep rule's constant input (handlers/scan.py routes it by its source).
SWEEP_EVENT: Final = {"source": "frontguard.sweep", "detail-type": "Sweep", "detail": {}}


def not_made_by(role_arns: Sequence[str]) -> dict[str, Any]:
    """Calls made by anyone but ``role_arns``. An ``anything-but`` on a field the event lacks
    does not match, and IAM users' and root's records have no ``sessionIssuer``, so the
    exclusion is "issuer is another role, or there is no issuer".
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html
    """

    def issuer(condition: Mapping[str, Any]) -> dict[str, Any]:
        return {"userIdentity": {"sessionContext": {"sessionIssuer": {"arn": [condition]}}}}

    return {
        "$or": [issuer({"anything-but": list(role_arns)}), issuer({"exists": False})],
    }


def create_load_balancer_pattern() -> events.EventPattern:
    return events.EventPattern(
        source=["aws.elasticloadbalancing"],
        detail_type=[CLOUDTRAIL],
        detail={
            "eventSource": ["elasticloadbalancing.amazonaws.com"],
            "eventName": ["CreateLoadBalancer"],
            "apiVersion": [ELBV2_API_VERSION],
            **SUCCEEDED,
        },
    )


# A tag-on-create call refused by an explicit Deny: EC2 answers UnauthorizedOperation, which
# CloudTrail records with EC2's "Client." prefix (fail-closed mode, infra/fail_closed.py).
DENIED: Final = {"errorCode": ["Client.UnauthorizedOperation"]}


def managed_security_group_pattern(
    *, denied: bool = False, controller_roles: Sequence[str] = ()
) -> events.EventPattern:
    """The controller's ``CreateSecurityGroup`` of its managed SG: the earliest signal of a
    new load balancer (the LB follows in the same reconcile, LBC:pkg/deploy/stack_deployer.go).

    CloudTrail records the request's tags as ``requestParameters.tagSpecificationSet.items[]
    .{resourceType, tags[].{key, value}}``. EventBridge matches an array field when any element
    matches (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html),
    so the narrowest pattern says "some tag key is ``<prefix>/resource`` and some tag value is
    ``ManagedLBSecurityGroup``", not that one tag has both: the handler re-checks the pair
    (handlers/intake.py) before any AWS call.

    ``controller_roles`` (the refused calls of fail-closed mode): only calls whose session
    the controller's roles issued (CloudTrail's ``userIdentity.sessionContext.sessionIssuer
    .userName`` is the role's name). Defence in depth: the events function re-checks the
    caller, the VPC and that the stack has no load balancer (security review r2, R2-1).
    """
    issuer = (
        {
            "userIdentity": {
                "sessionContext": {"sessionIssuer": {"userName": list(controller_roles)}}
            }
        }
        if controller_roles
        else {}
    )
    return events.EventPattern(
        source=["aws.ec2"],
        detail_type=[CLOUDTRAIL],
        detail={
            "eventSource": ["ec2.amazonaws.com"],
            "eventName": ["CreateSecurityGroup"],
            **(DENIED if denied else SUCCEEDED),
            "requestParameters": {
                "tagSpecificationSet": {
                    "items": {
                        "resourceType": ["security-group"],
                        "tags": {
                            "key": [f"{prefix}/resource" for prefix in MANAGED_SG_PREFIXES],
                            "value": [MANAGED_LB_SG],
                        },
                    }
                }
            },
            **issuer,
        },
    )


def elbv2_drift_pattern(own_roles: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.elasticloadbalancing"],
        detail_type=[CLOUDTRAIL],
        detail={
            "eventSource": ["elasticloadbalancing.amazonaws.com"],
            "eventName": list(DRIFT_ELBV2_CALLS),
            "apiVersion": [ELBV2_API_VERSION],
            **SUCCEEDED,
            **not_made_by(own_roles),
        },
    )


def ec2_drift_pattern(own_roles: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.ec2"],
        detail_type=[CLOUDTRAIL],
        detail={
            "eventSource": ["ec2.amazonaws.com"],
            "eventName": list(DRIFT_EC2_CALLS),
            **SUCCEEDED,
            **not_made_by(own_roles),
        },
    )


class ScanQueue(Construct):
    """The FIFO queue in front of the scan function, its dead-letter queue, and the queue
    where EventBridge puts what it could not deliver."""

    # A message that fails this often is a bug or a permanent error; while it retries it holds
    # the message group, so keep it short.
    MAX_RECEIVE_COUNT = 3

    def __init__(self, scope: Construct, construct_id: str, *, consumer_timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            fifo=True,
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        only_frontguard_sends(self.dead_letter_queue)
        self.queue = sqs.Queue(
            self,
            "Fifo",
            fifo=True,
            # EventBridge's event id is in the body: identical bodies are true duplicates.
            content_based_deduplication=True,
            retention_period=Duration.days(14),
            # Lambda requires at least the function timeout for an event source queue.
            # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
            visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() + 60),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=self.MAX_RECEIVE_COUNT
            ),
        )
        # EventBridge's rules write here through their targets' source-restricted Allow
        # (aws:SourceArn = the rule); nobody else (R2-7).
        only_frontguard_sends(self.queue)
        # EventBridge target dead-letter queues must be standard queues.
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
        self.undelivered = dead_letter_queue(self, "Undelivered")
        Validations.of(self.undelivered).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="this queue is itself the dead-letter queue of the EventBridge targets "
                "that feed the scan queue, alarmed on every message sent",
            )
        )


class Triggers(Construct):
    """CreateLoadBalancer and the controller's managed-SG CreateSecurityGroup → events; drift calls and the schedule → the scan queue.

    Drift goes to the scan function because repairing it needs the account-wide view the scan
    engine has (an edited SG may front several LBs); its handler tells a CloudTrail drift event
    from a ``Scheduled Event`` and handles it alone. Deleted LBs and SGs need no event: the
    scheduled scan cleans up after them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        events_function: FrontguardFunction,
        scan_queue: ScanQueue,
        schedule: str,
        own_roles: Sequence[iam.IRole],
        scan_function: FrontguardFunction | None = None,
        sweep_schedule: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        self.rules["CreateLoadBalancer"] = events.Rule(
            self,
            "CreateLoadBalancer",
            description="frontguard: remediate a load balancer as soon as it is created",
            event_pattern=create_load_balancer_pattern(),
            targets=[function_target(events_function)],
        )
        self.rules["CreateManagedSecurityGroup"] = events.Rule(
            self,
            "CreateManagedSecurityGroup",
            description="frontguard: start on the controller's managed SG, before its LB exists",
            event_pattern=managed_security_group_pattern(),
            targets=[function_target(events_function)],
        )
        role_arns = [role.role_arn for role in own_roles]
        for construct_name, pattern in (
            ("Elbv2Drift", elbv2_drift_pattern(role_arns)),
            ("Ec2Drift", ec2_drift_pattern(role_arns)),
        ):
            self.rules[construct_name] = events.Rule(
                self,
                construct_name,
                description="frontguard: re-check when a security group or load balancer changes",
                event_pattern=pattern,
                targets=[_queue_target(scan_queue)],
            )
        self.rules["Schedule"] = events.Rule(
            self,
            "Schedule",
            description="frontguard: account-wide compliance scan",
            schedule=events.Schedule.expression(schedule),
            targets=[_queue_target(scan_queue)],
        )
        if scan_function is not None and sweep_schedule is not None:
            # The sweep invokes the scan function directly, not through the FIFO queue: a scan
            # of many minutes must not hold up the sweep that bounds a lost event's exposure.
            # A sweep that fails is not retried: the next one, a period later, redoes it.
            self.rules["Sweep"] = events.Rule(
                self,
                "Sweep",
                description="frontguard: sweep (what changed since the last sweep, no CloudTrail)",
                schedule=events.Schedule.expression(sweep_schedule),
                targets=[
                    targets.LambdaFunction(
                        scan_function.function,
                        event=events.RuleTargetInput.from_object(SWEEP_EVENT),
                        retry_attempts=0,
                    )
                ],
            )


def function_target(function: FrontguardFunction) -> targets.LambdaFunction:
    failures: sqs.IQueue | None = function.failure_queue
    assert failures is not None, "EventBridge invokes asynchronously: the function needs a DLQ"
    # Events that EventBridge could not deliver (throttling, permissions) land with the
    # function's own failures, behind the same alarm.
    return targets.LambdaFunction(function.function, dead_letter_queue=failures)


def _queue_target(scan_queue: ScanQueue) -> targets.SqsQueue:
    return targets.SqsQueue(
        scan_queue.queue,
        message_group_id=SCAN_MESSAGE_GROUP,
        dead_letter_queue=scan_queue.undelivered,
    )
