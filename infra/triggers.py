"""EventBridge rules: CloudTrail events and the schedule, each to the function that acts."""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import FrontguardFunction

CLOUDTRAIL: Final = "AWS API Call via CloudTrail"
ELBV2_API_VERSION: Final = "2015-12-01"  # tells ELBv2 from Classic ELB
# A record with errorCode is a call that failed: nothing changed.
SUCCEEDED: Final = {"errorCode": [{"exists": False}]}
# CreateListener/ModifyListener: a new or changed port must be planned into frontguard's SG
# (the scan's steady-state check takes ports from the SG itself, without DescribeListeners).
DRIFT_ELBV2_CALLS: Final = (
    "SetSecurityGroups",
    "DeleteLoadBalancer",
    "CreateListener",
    "ModifyListener",
)
DRIFT_EC2_CALLS: Final = (
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "DeleteSecurityGroup",
)


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


def elbv2_drift_pattern() -> events.EventPattern:
    return events.EventPattern(
        source=["aws.elasticloadbalancing"],
        detail_type=[CLOUDTRAIL],
        detail={
            "eventSource": ["elasticloadbalancing.amazonaws.com"],
            "eventName": list(DRIFT_ELBV2_CALLS),
            "apiVersion": [ELBV2_API_VERSION],
            **SUCCEEDED,
        },
    )


def ec2_drift_pattern() -> events.EventPattern:
    return events.EventPattern(
        source=["aws.ec2"],
        detail_type=[CLOUDTRAIL],
        detail={
            "eventSource": ["ec2.amazonaws.com"],
            "eventName": list(DRIFT_EC2_CALLS),
            **SUCCEEDED,
        },
    )


class Triggers(Construct):
    """CreateLoadBalancer → events; drift calls and the schedule → scan.

    Drift goes to the scan function because repairing it and cleaning up after a deleted LB
    need the account-wide view the scan engine has (an edited SG may front several LBs); its
    handler tells a CloudTrail drift event from a ``Scheduled Event`` and handles it alone.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        events_function: FrontguardFunction,
        scan_function: FrontguardFunction,
        schedule: str,
    ) -> None:
        super().__init__(scope, construct_id)
        events.Rule(
            self,
            "CreateLoadBalancer",
            description="frontguard: remediate a load balancer as soon as it is created",
            event_pattern=create_load_balancer_pattern(),
            targets=[_target(events_function)],
        )
        for construct_name, pattern in (
            ("Elbv2Drift", elbv2_drift_pattern()),
            ("Ec2Drift", ec2_drift_pattern()),
        ):
            events.Rule(
                self,
                construct_name,
                description="frontguard: scan when a security group or load balancer changes",
                event_pattern=pattern,
                targets=[_target(scan_function)],
            )
        events.Rule(
            self,
            "Schedule",
            description="frontguard: account-wide compliance scan",
            schedule=events.Schedule.expression(schedule),
            targets=[_target(scan_function)],
        )


def _target(function: FrontguardFunction) -> targets.LambdaFunction:
    failures: sqs.IQueue | None = function.failure_queue
    assert failures is not None, "EventBridge invokes asynchronously: the function needs a DLQ"
    # Events that EventBridge could not deliver (throttling, permissions) land with the
    # function's own failures, behind the same alarm.
    return targets.LambdaFunction(function.function, dead_letter_queue=failures)
