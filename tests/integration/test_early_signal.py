"""The earliest signal (issue 17 item 4): the controller's CreateSecurityGroup of a managed SG
starts the event path before (or without) the CreateLoadBalancer event."""

from __future__ import annotations

import copy

import pytest

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, Frontguard, wire

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
SERVICE_SG = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
GET_RESOURCES = "resourcegroupstaggingapi.GetResources"
# wire() re-reads twice (discovery delays 0, 0) before giving up: three GetResources in all.
DISCOVERY_READS = 3


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


def frontguard_group_ids(sandbox: Sandbox) -> list[str]:
    groups = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["SecurityGroups"]
    return [g["GroupId"] for g in groups]


def test_managed_sg_event_alone_remediates_the_ingress_load_balancer(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.reset_counts()

    result = fg.deliver(web.security_group_event)

    assert result["outcome"] == "remediated"
    assert result["load_balancer_arns"] == web.lb_arn
    [group_id] = frontguard_group_ids(sandbox)
    annotations = web.object["metadata"]["annotations"]
    assert annotations[INGRESS_SG] == group_id
    assert annotations[INGRESS_BACKEND] == "true"
    # One tag lookup finds the LB; the rest is the CreateLoadBalancer path's own budget.
    assert fg.aws_calls[GET_RESOURCES] == 1
    assert sum(fg.aws_calls.values()) <= 12 + 1, fg.aws_calls
    [alert] = fg.alerts()
    assert alert["outcome"] == "remediated" and alert["load_balancer_arn"] == web.lb_arn

    prod.lbc.reconcile()
    assert web.security_groups() == [group_id, prod.lbc._backend_sg_id]


def test_both_events_for_one_load_balancer_converge_once(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.security_group_event)
    prod.lbc.reconcile()
    fg.reset_counts()
    alerts = len(fg.alerts())

    result = fg.deliver(copy.deepcopy(web.event))  # CreateLoadBalancer arrives second

    assert result["outcome"] == "compliant"
    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    assert len(fg.alerts()) == alerts
    assert len(frontguard_group_ids(sandbox)) == 1
    assert GET_RESOURCES not in fg.aws_calls


def test_managed_sg_event_of_a_service_remediates_its_nlb(sandbox, fg):
    prod = sandbox.cluster("prod")
    api = prod.service("shop/api", ports=[("TCP", 443)])
    fg.reset_counts()

    result = fg.deliver(api.security_group_event)

    assert result["outcome"] == "remediated"
    [group_id] = frontguard_group_ids(sandbox)
    assert api.object["metadata"]["annotations"][SERVICE_SG] == group_id
    assert fg.aws_calls[GET_RESOURCES] == 1


@pytest.mark.parametrize("lb", ["alb", "nlb"])
def test_managed_sg_event_of_a_gateway_remediates_through_its_configuration(sandbox, fg, lb):
    prod = sandbox.cluster("prod")
    gw = prod.gateway("edge/public", lb=lb, ports=[443] if lb == "alb" else [5432])
    prefix = f"gateway.k8s.aws.{lb}"
    tags = gw.security_group_event["detail"]["requestParameters"]["tagSpecificationSet"]
    assert {"key": f"{prefix}/resource", "value": "ManagedLBSecurityGroup"} in (
        tags["items"][0]["tags"]
    )
    fg.reset_counts()

    result = fg.deliver(gw.security_group_event)

    assert result["outcome"] == "remediated", result
    [group_id] = frontguard_group_ids(sandbox)
    config = prod.configuration("edge/frontguard-public")
    assert config is not None and config["spec"]["securityGroups"] == [group_id]
    assert fg.aws_calls[GET_RESOURCES] == 1


def test_managed_sg_event_before_the_load_balancer_exists_is_ignored_with_its_reason(
    sandbox, fg, caplog
):
    caplog.set_level("INFO", logger="frontguard")
    prod = sandbox.cluster("prod")
    prod.lbc.interrupt_after_security_group = True
    web = prod.ingress("shop/web", ports=[443])
    assert web.stack is None  # the reconcile stopped between the SG and the LB
    [managed] = [
        e
        for e in prod.lbc.cloudtrail_events("CreateSecurityGroup")
        if "ingress.k8s.aws/stack" in str(e["detail"]["requestParameters"])
    ]
    fg.reset_counts()

    result = fg.deliver(managed)

    assert result["outcome"] == "ignored"
    assert "no load balancer tagged ingress.k8s.aws/stack=shop/web" in result["reason"]
    assert "CreateLoadBalancer event and the scheduled scan follow" in result["reason"]
    assert dict(fg.aws_calls) == {GET_RESOURCES: DISCOVERY_READS}
    assert fg.alerts() == []
    assert any(
        r.getMessage() == "event ignored" and "shop/web" in getattr(r, "reason", "")
        for r in caplog.records
    )

    # The controller goes on (same SG, found by its tags); CreateLoadBalancer then remediates.
    prod.lbc.reconcile()
    [created] = prod.lbc.cloudtrail_events("CreateLoadBalancer")
    assert (
        created["detail"]["requestParameters"]["securityGroups"][0]
        == (managed["detail"]["responseElements"]["groupId"])
    )
    assert fg.deliver(created)["outcome"] == "remediated"


def test_a_security_group_without_the_controllers_managed_tag_costs_no_aws_call(sandbox, fg):
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    [backend] = [
        e
        for e in prod.lbc.cloudtrail_events("CreateSecurityGroup")
        if "backend-sg" in str(e["detail"]["requestParameters"])
    ]
    fg.reset_counts()

    result = fg.deliver(backend)

    assert result["outcome"] == "ignored"
    assert "not a managed load balancer SG" in result["reason"]
    assert sum(fg.aws_calls.values()) == 0
    assert sum(fg.kube_calls().values()) == 0
