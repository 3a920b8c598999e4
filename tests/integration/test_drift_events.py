"""Drift events (CloudTrail, routed to the scan function): a targeted re-check of one LB."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from frontguard.handlers import scan as scan_handler

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, FakeLambdaContext, Frontguard, wire

POLICY_SOURCES = {"203.0.113.0/24", "198.51.100.0/24"}


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


def cloudtrail(source: str, event_name: str, request: dict[str, Any]) -> dict[str, Any]:
    service = source.removeprefix("aws.")
    return {
        "version": "0",
        "id": f"drift-{event_name}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": "123456789012",
        "region": "eu-west-1",
        "detail": {
            "eventSource": f"{service}.amazonaws.com",
            "eventName": event_name,
            "requestParameters": request,
            "userAgent": "console.amazonaws.com",
        },
    }


def ports_of(sandbox: Sandbox, group_id: str) -> dict[int, set[str]]:
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    ports: dict[int, set[str]] = {}
    for permission in group["IpPermissions"]:
        for source in permission.get("IpRanges", []):
            ports.setdefault(permission["FromPort"], set()).add(source["CidrIp"])
    return ports


def test_new_listener_is_planned_into_the_sg(sandbox, fg, handler_env, remediated):
    _, web, group_id = remediated
    sandbox.client("elbv2").create_listener(
        LoadBalancerArn=web.lb_arn,
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )
    event = cloudtrail(
        "aws.elasticloadbalancing",
        "CreateListener",
        {"loadBalancerArn": web.lb_arn, "port": 8080, "protocol": "HTTP"},
    )

    result = scan_handler.handler(event, FakeLambdaContext())

    assert result["outcome"] == "drift"
    assert ports_of(sandbox, group_id) == {443: POLICY_SOURCES, 8080: POLICY_SOURCES}


def test_modified_listener_is_found_through_its_arn(sandbox, fg, handler_env, remediated):
    _, web, group_id = remediated
    elbv2 = sandbox.client("elbv2")
    [listener] = elbv2.describe_listeners(LoadBalancerArn=web.lb_arn)["Listeners"]
    elbv2.modify_listener(ListenerArn=listener["ListenerArn"], Port=8080, Protocol="HTTP")
    event = cloudtrail(
        "aws.elasticloadbalancing", "ModifyListener", {"listenerArn": listener["ListenerArn"]}
    )

    result = scan_handler.handler(event, FakeLambdaContext())

    assert result["outcome"] == "drift"
    assert ports_of(sandbox, group_id) == {8080: POLICY_SOURCES}


def test_rule_added_by_hand_to_frontguards_sg_is_revoked(sandbox, fg, handler_env, remediated):
    _, _, group_id = remediated
    sandbox.client("ec2").authorize_security_group_ingress(
        GroupId=group_id, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    event = cloudtrail("aws.ec2", "AuthorizeSecurityGroupIngress", {"groupId": group_id})
    mallory = "arn:aws:sts::123456789012:assumed-role/Admin/mallory"
    event["detail"]["userIdentity"] = {"type": "AssumedRole", "arn": mallory}

    result = scan_handler.handler(event, FakeLambdaContext())

    assert result["outcome"] == "drift"
    assert ports_of(sandbox, group_id) == {443: POLICY_SOURCES}
    drift = fg.alerts()[-1]
    assert drift["outcome"] == "drift"
    # Issue 22 item 2: who made the change it undid (CloudTrail), what was open, and how.
    assert (drift["actor"], drift["detected_by"]) == (mallory, "event")
    assert drift["was_open"] == ["tcp/22 from 0.0.0.0/0 (on frontguard's SG, outside the plan)"]


def test_security_groups_swapped_on_the_lb_queue_a_verification(
    sandbox, fg, handler_env, remediated
):
    prod, web, group_id = remediated
    elbv2 = sandbox.client("elbv2")
    others = [g for g in web.security_groups() if g != group_id]
    elbv2.set_security_groups(LoadBalancerArn=web.lb_arn, SecurityGroups=others)
    fg.verification_requests()  # drain the remediation's own request
    event = cloudtrail(
        "aws.elasticloadbalancing",
        "SetSecurityGroups",
        {"loadBalancerArn": web.lb_arn, "securityGroups": others},
    )

    result = scan_handler.handler(event, FakeLambdaContext())

    # Annotations and rules are still right: nothing to patch, but the controller must put the
    # SG back, and a verification will tell if it does not.
    assert result["outcome"] == "compliant"
    assert [r["load_balancer_arn"] for r in fg.verification_requests()] == [web.lb_arn]
    prod.lbc.reconcile()
    assert group_id in web.security_groups()


def test_events_about_other_security_groups_are_ignored(sandbox, fg, handler_env, remediated):
    prod, _, _ = remediated
    ec2 = sandbox.client("ec2")
    team = ec2.create_security_group(GroupName="team", Description="team", VpcId=prod.vpc_id)
    fg.reset_counts()
    event = cloudtrail("aws.ec2", "AuthorizeSecurityGroupIngress", {"groupId": team["GroupId"]})

    result = scan_handler.handler(event, FakeLambdaContext())

    assert result["outcome"] == "ignored"


# --- deploy audit 5 and 6 -------------------------------------------------------------------


def test_a_console_edit_of_a_rule_is_seen_and_repaired(sandbox, fg, handler_env, remediated):
    """The EC2 console's "Edit inbound rules" arrives as ModifySecurityGroupRules, with the SG
    inside ``ModifySecurityGroupRulesRequest`` (its CloudTrail shape)."""
    _, _, group_id = remediated
    ec2 = sandbox.client("ec2")
    ec2.authorize_security_group_ingress(
        GroupId=group_id, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    event = cloudtrail(
        "aws.ec2",
        "ModifySecurityGroupRules",
        {"ModifySecurityGroupRulesRequest": {"GroupId": group_id, "SecurityGroupRule": {}}},
    )

    result = scan_handler.handler(event, FakeLambdaContext())

    assert result["outcome"] == "drift"
    assert ports_of(sandbox, group_id) == {443: POLICY_SOURCES}


def test_a_listener_on_a_brand_new_lb_is_left_to_the_events_path(
    sandbox, fg, handler_env, remediated
):
    """The controller adds listeners seconds after CreateLoadBalancer: a drift check then would
    race the events function and could report a false drift."""
    _, web, _ = remediated
    created = sandbox.client("elbv2").describe_load_balancers(LoadBalancerArns=[web.lb_arn])[
        "LoadBalancers"
    ][0]["CreatedTime"]
    fg.reset_counts()
    young = {
        **cloudtrail("aws.elasticloadbalancing", "CreateListener", {"loadBalancerArn": web.lb_arn})
    }
    young["time"] = (created + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")

    result = scan_handler.handler(young, FakeLambdaContext())

    assert result == {"outcome": "ignored", "reason": "new load balancer: the events path has it"}
    assert fg.mutating_aws_calls() == Counter()


def test_the_scan_queue_batch_is_handled_record_by_record(sandbox, fg, handler_env, remediated):
    """EventBridge → SQS FIFO → the scan function: the body is the EventBridge event."""
    _, _, group_id = remediated
    sandbox.client("ec2").authorize_security_group_ingress(
        GroupId=group_id, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    drift = cloudtrail("aws.ec2", "AuthorizeSecurityGroupIngress", {"groupId": group_id})
    batch = fifo_batch([json.dumps(drift), "not json"])

    response = scan_handler.handler(batch, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    assert ports_of(sandbox, group_id) == {443: POLICY_SOURCES}


def test_after_a_failed_record_the_rest_of_a_fifo_batch_comes_back_in_order(
    sandbox, fg, handler_env
):
    """The scheduled scan behind a malformed message is not run out of order: the whole batch
    failed, which Powertools raises so that Lambda returns every record to the queue."""
    batch = fifo_batch(["not json", json.dumps({"detail-type": "Scheduled Event"})])
    fg.reset_counts()

    with pytest.raises(BatchProcessingError):
        scan_handler.handler(batch, FakeLambdaContext())

    assert fg.aws_calls == Counter()


def fifo_batch(bodies: list[str]) -> dict[str, Any]:
    """An SQS FIFO batch as Lambda's event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764460800000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1764460800000",
                    "SequenceNumber": str(18849496460467696128 + index),
                    "MessageGroupId": "frontguard-scan",
                    "MessageDeduplicationId": f"dedup-{index}",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:frontguard-scan.fifo",
                "awsRegion": "eu-west-1",
            }
            for index, body in enumerate(bodies)
        ]
    }
