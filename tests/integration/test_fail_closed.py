"""Fail-closed mode (issue 17 item 5): the controller's managed SG is refused, no load balancer
is created, frontguard names the blocked owner and the fix; once the owner names an approved
SG the load balancer is born with it, never world-open."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.kube import INGRESSES
from sandbox.scenario import Cluster, ControllerOptions
from sandbox.wiring import ENFORCE, Frontguard, wire

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
SERVICE_SG = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
SERVICE_BACKEND = "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules"
FAIL_CLOSED = ControllerOptions(deny_managed_security_groups=True)


def team_sg(sandbox: Sandbox, cluster: Cluster) -> str:
    ec2 = sandbox.client("ec2")
    group_id = str(
        ec2.create_security_group(
            GroupName="shop-web-approved", Description="team SG", VpcId=cluster.vpc_id
        )["GroupId"]
    )
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "203.0.113.0/24"}],
            }
        ],
    )
    return group_id


def refused(cluster: Cluster) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.lbc.cloudtrail_events("CreateSecurityGroup")
        if "errorCode" in e["detail"]
    ]


def world_open(sandbox: Sandbox, group_ids: list[str]) -> list[str]:
    groups = sandbox.client("ec2").describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    return [
        g["GroupId"]
        for g in groups
        for p in g["IpPermissions"]
        if any(r["CidrIp"] == "0.0.0.0/0" for r in p.get("IpRanges", []))
        or any(r["CidrIpv6"] == "::/0" for r in p.get("Ipv6Ranges", []))
    ]


@pytest.fixture
def prod(sandbox: Sandbox) -> Cluster:
    return sandbox.cluster("prod", controller=FAIL_CLOSED)


def test_refused_managed_sg_creates_no_load_balancer_and_reports_like_the_controller(sandbox, prod):
    web = prod.ingress("shop/web", ports=[443])

    assert web.stack is None
    assert sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    [event] = web.events("FailedDeployModel")
    assert event["type"] == "Warning"
    assert event["message"].startswith(
        "Failed deploy model due to operation error EC2: CreateSecurityGroup, https response "
        "error StatusCode: 403, RequestID: "
    )
    assert "api error UnauthorizedOperation: You are not authorized" in event["message"]
    [record] = refused(prod)
    assert record["detail"]["errorCode"] == "Client.UnauthorizedOperation"
    assert record["detail"]["responseElements"] is None

    prod.lbc.reconcile()  # the controller retries: refused again (a new RequestID each time)
    assert len(refused(prod)) == 2
    assert len(web.events("FailedDeployModel")) == 2
    assert sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"] == []


def test_frontguard_names_the_blocked_owner_and_the_fix_then_the_lb_is_born_with_the_approved_sg(
    sandbox, prod
):
    approved = team_sg(sandbox, prod)
    fg: Frontguard = wire(sandbox, {**ENFORCE, "approved_security_groups": [approved]})
    web = prod.ingress("shop/web", ports=[443])
    [denied] = refused(prod)
    fg.reset_counts()

    result = fg.deliver(denied)

    assert result["outcome"] == "error"
    [alert] = fg.alerts()
    assert alert["outcome"] == "error"
    assert alert["owner"] == {
        "kind": "ingress",
        "namespace": "shop",
        "name": "web",
        "group": None,
        "frontend_nlb": False,
    }
    assert alert["cluster"] == "prod"
    assert alert["load_balancer_arn"] == "blocked-load-balancer:prod/ingress.k8s.aws/stack=shop/web"
    assert alert["blocked_by"] == "fail-closed" and alert["owner_objects"] == ["shop/web"]
    assert INGRESS_SG in alert["fix"] and f'{INGRESS_BACKEND}: "true"' in alert["fix"]
    assert "Client.UnauthorizedOperation" in alert["detail"]
    assert fg.mutating_aws_calls() == {}  # nothing in the account changed
    assert fg.mutating_kube_calls() == 0
    assert sum(fg.kube_calls().values()) <= 2, fg.kube_calls()

    # The controller retries; the same blocked owner alerts once per alert period.
    prod.lbc.reconcile()
    fg.deliver(refused(prod)[-1])
    assert len(fg.alerts()) == 1

    # The fix: the owner names the approved SG; the controller's retry creates the LB with it.
    web.annotate({INGRESS_SG: approved, INGRESS_BACKEND: "true"})
    prod.lbc.reconcile()
    stack = prod.lbc.stacks[("ingress.k8s.aws", "shop/web")]
    on_lb = web.security_groups(stack.load_balancer.arn)
    assert on_lb[0] == approved and len(on_lb) == 2  # + the controller's backend SG
    assert world_open(sandbox, on_lb) == []
    assert stack.managed_sg_id is None and stack.managed_sg_event is None  # never made
    assert fg.deliver(stack.load_balancer.event)["outcome"] == "compliant"


def test_a_blocked_service_gets_the_service_annotations_in_its_fix(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    api = prod.service("shop/api", ports=[("TCP", 443)])
    assert api.stack is None

    assert fg.deliver(refused(prod)[-1])["outcome"] == "error"

    [alert] = fg.alerts()
    assert alert["owner"]["kind"] == "service" and alert["owner"]["name"] == "api"
    assert SERVICE_SG in alert["fix"] and SERVICE_BACKEND in alert["fix"]


def test_refusals_elsewhere_are_ignored_without_an_alert(sandbox, prod):
    fg = wire(sandbox, {**ENFORCE, "clusters": ["staging-*"]})
    prod.ingress("shop/web", ports=[443])
    [denied] = refused(prod)

    result = fg.deliver(denied)

    assert result == {"outcome": "ignored", "reason": "cluster not selected by policy"}
    assert fg.alerts() == []


def test_an_owner_deleted_since_the_refusal_is_ignored(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    prod.ingress("shop/web", ports=[443])
    [denied] = refused(prod)
    prod.kube.delete_object(INGRESSES, "shop", "web")

    result = fg.deliver(denied)

    assert result["outcome"] == "ignored"
    assert result["reason"].startswith("owner ingress/shop/web is gone")
    assert fg.alerts() == []


def test_a_managed_sg_that_failed_for_another_reason_is_ignored_at_no_cost(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    prod.ingress("shop/web", ports=[443])
    [denied] = refused(prod)
    throttled = {
        **denied,
        "detail": {**denied["detail"], "errorCode": "Client.RequestLimitExceeded"},
    }
    fg.reset_counts()

    result = fg.deliver(throttled)

    assert result["outcome"] == "ignored"
    assert "Client.RequestLimitExceeded" in result["reason"]
    assert sum(fg.aws_calls.values()) == 0 and sum(fg.kube_calls().values()) == 0
    assert fg.alerts() == []
