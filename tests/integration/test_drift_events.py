"""Drift events (CloudTrail, routed to the scan function): a targeted re-check of one LB."""

from __future__ import annotations

from typing import Any

import pytest
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

    result = scan_handler.handler(event, FakeLambdaContext())

    assert result["outcome"] == "drift"
    assert ports_of(sandbox, group_id) == {443: POLICY_SOURCES}
    assert [a["outcome"] for a in fg.alerts()][-1] == "drift"


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
