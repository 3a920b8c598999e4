"""Fail-closed mode (issue 17 item 5): the controller's managed SG is refused and no load
balancer is created. In enforce mode frontguard creates its own pre-load-balancer SG for the
blocked owner and patches it, so the load balancer is born behind frontguard's SG (never
world-open) and is compliant as it stands; in audit mode (or for an owner it cannot plan)
frontguard names the blocked owner and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from frontguard.adapters import aws
from frontguard.engine.scan import scan
from frontguard.errors import RetryableError

from sandbox import Sandbox
from sandbox.kube import INGRESSES, SERVICES
from sandbox.scenario import Cluster, ControllerOptions
from sandbox.wiring import ENFORCE, Frontguard, wire
from tests.reliability.faults import frontguard_groups, kube_fault

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
SERVICE_SG = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
SERVICE_BACKEND = "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules"
FAIL_CLOSED = ControllerOptions(deny_managed_security_groups=True)
AUDIT = {**ENFORCE, "mode": "audit"}


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
    fg: Frontguard = wire(sandbox, {**AUDIT, "approved_security_groups": [approved]})
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
    fg = wire(sandbox, AUDIT)
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


# --- Enforce mode: frontguard's own SG before the load balancer exists ------------------------

WEB_KEY = aws.PreLoadBalancerKey("prod", "ingress.k8s.aws/stack", "shop/web")
POLICY_RULES = {"203.0.113.0/24", "198.51.100.0/24"}  # ENFORCE's internet-facing sources


def group(sandbox: Sandbox, group_id: str) -> dict[str, Any]:
    ec2 = sandbox.client("ec2")
    [found] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return dict(found)


def inbound(raw: dict[str, Any]) -> set[tuple[str, int, str]]:
    return {
        (p["IpProtocol"], p["FromPort"], r["CidrIp"])
        for p in raw["IpPermissions"]
        for r in p.get("IpRanges", [])
    }


def fake_pre_lb(
    sandbox: Sandbox, key: aws.PreLoadBalancerKey, *, vpc_id: str, description: str
) -> str:
    """An SG with frontguard's pre-load-balancer tags and name, made by someone else."""
    return str(
        sandbox.client("ec2").create_security_group(
            GroupName=aws.pre_lb_security_group_name(key),
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [
                        {"Key": "frontguard.io/managed-by", "Value": "frontguard"},
                        {"Key": "frontguard.io/stack", "Value": key.marker},
                        {"Key": "frontguard.io/cluster", "Value": key.cluster},
                    ],
                }
            ],
        )["GroupId"]
    )


def test_enforce_gives_blocked_owners_frontguards_sg_and_their_lbs_are_born_behind_it(
    sandbox, prod
):
    fg = wire(sandbox, ENFORCE)
    web = prod.ingress("shop/web", ports=[443])
    api = prod.service("shop/api", ports=[("TCP", 443), ("UDP", 53)])
    assert web.stack is None and api.stack is None
    fg.reset_counts()

    results = [fg.deliver(event) for event in refused(prod)]

    assert [r["outcome"] for r in results] == ["remediated", "remediated"]
    alerts = {a["owner"]["kind"]: a for a in fg.alerts()}
    assert set(alerts) == {"ingress", "service"}
    web_sg, api_sg = alerts["ingress"]["security_group_id"], alerts["service"]["security_group_id"]
    assert alerts["ingress"]["pre_load_balancer"] is True
    assert alerts["ingress"]["load_balancer_arn"] == (
        "blocked-load-balancer:prod/ingress.k8s.aws/stack=shop/web"
    )
    assert web.object["metadata"]["annotations"][INGRESS_SG] == web_sg
    assert web.object["metadata"]["annotations"][INGRESS_BACKEND] == "true"
    assert api.object["metadata"]["annotations"][SERVICE_SG] == api_sg
    assert api.object["metadata"]["annotations"][SERVICE_BACKEND] == "true"
    made = group(sandbox, web_sg)
    assert made["GroupName"] == aws.pre_lb_security_group_name(WEB_KEY)
    assert made["Description"].startswith(aws.PRE_LB_DESCRIPTION)
    assert made["VpcId"] == prod.vpc_id
    assert inbound(made) == {("tcp", 443, cidr) for cidr in POLICY_RULES}
    assert inbound(group(sandbox, api_sg)) == {
        (protocol, port, cidr)
        for protocol, port in (("tcp", 443), ("udp", 53))
        for cidr in POLICY_RULES
    }
    assert fg.mutating_aws_calls() == {
        "ec2.CreateSecurityGroup": 2,
        "ec2.AuthorizeSecurityGroupIngress": 2,
    }
    assert sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"] == []

    # The controller's retry on the owner change creates the LBs behind frontguard's SGs.
    prod.lbc.reconcile()
    for key, sg in (
        (("ingress.k8s.aws", "shop/web"), web_sg),
        (("service.k8s.aws", "shop/api"), api_sg),
    ):
        stack = prod.lbc.stacks[key]
        born_with = stack.load_balancer.event["detail"]["requestParameters"]["securityGroups"]
        assert born_with[0] == sg and len(born_with) == 2  # + the controller's backend SG
        on_lb = web.security_groups(stack.load_balancer.arn)
        assert on_lb == born_with
        assert world_open(sandbox, on_lb) == []
        assert stack.managed_sg_id is None and stack.managed_sg_event is None  # never made

    # The CreateLoadBalancer events, a scan and verification: compliant, nothing changes.
    fg.reset_counts()
    before = len(fg.alerts())
    web_lb = prod.lbc.stacks[("ingress.k8s.aws", "shop/web")].load_balancer
    api_lb = prod.lbc.stacks[("service.k8s.aws", "shop/api")].load_balancer
    assert fg.deliver(web_lb.event)["outcome"] == "compliant"
    assert fg.deliver(api_lb.event)["outcome"] == "compliant"
    fg.reset_counts()
    report = scan(fg.runtime.engine)
    assert sorted(i.outcome.value for i in report.items) == ["compliant", "compliant"]
    # The scan's quick check agrees from bulk data: no per-LB call at steady state.
    assert fg.aws_calls["elbv2.DescribeListeners"] == 0
    assert fg.aws_calls["ec2.DescribeSecurityGroups"] == 1, fg.aws_calls
    assert report.cleaned_up == [] and report.kept_orphans == [] and report.impostors == []
    assert fg.mutating_aws_calls() == {} and fg.mutating_kube_calls() == 0
    assert len(fg.alerts()) == before
    for lb, sg, owner in (
        (web_lb, web_sg, alerts["ingress"]["owner"]),
        (api_lb, api_sg, alerts["service"]["owner"]),
    ):
        checked = fg.verify(
            {
                "load_balancer_arn": lb.arn,
                "cluster": "prod",
                "security_group_id": sg,
                "owner": owner,
            }
        )
        assert checked.outcome == "verified", checked


def test_a_second_refusal_reuses_the_pre_lb_sg(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    web = prod.ingress("shop/web", ports=[443])
    [denied] = refused(prod)
    first = fg.deliver(denied)
    [alert] = fg.alerts()
    fg.reset_counts()

    # The same event delivered again: the SG is found, proven and the owner already asks for it.
    again = fg.deliver(denied)

    assert first["outcome"] == "remediated" and again["outcome"] == "compliant"
    assert fg.mutating_aws_calls() == {} and fg.mutating_kube_calls() == 0
    assert len(fg.alerts()) == 1

    # Someone drops the annotations: the controller is refused again; frontguard re-patches
    # with the same SG and creates none.
    web.annotate({INGRESS_SG: None, INGRESS_BACKEND: None})
    prod.lbc.reconcile()
    assert fg.deliver(refused(prod)[-1])["outcome"] == "remediated"
    assert "ec2.CreateSecurityGroup" not in fg.mutating_aws_calls()
    assert web.object["metadata"]["annotations"][INGRESS_SG] == alert["security_group_id"]


def test_a_look_alike_pre_lb_sg_in_the_same_vpc_is_never_used(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    impostor = fake_pre_lb(sandbox, WEB_KEY, vpc_id=prod.vpc_id, description="not frontguard")
    web = prod.ingress("shop/web", ports=[443])

    result = fg.deliver(refused(prod)[-1])

    # Its name is taken: frontguard makes its own under a random name (security review r2,
    # R2-8) and the conflict alert names the look-alike.
    assert result["outcome"] == "remediated"
    outcomes = [a["outcome"] for a in fg.alerts()]
    assert outcomes == ["conflict", "remediated"]
    assert fg.alerts()[0]["impostor_security_groups"] == [impostor]
    ours = web.object["metadata"]["annotations"][INGRESS_SG]
    assert ours != impostor
    assert inbound(group(sandbox, impostor)) == set()  # never converged


def test_a_look_alike_pre_lb_sg_in_another_vpc_is_refused_and_frontguard_makes_its_own(
    sandbox, prod
):
    fg = wire(sandbox, ENFORCE)
    other_vpc = sandbox.client("ec2").create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    impostor = fake_pre_lb(sandbox, WEB_KEY, vpc_id=other_vpc, description=aws.PRE_LB_DESCRIPTION)
    web = prod.ingress("shop/web", ports=[443])

    assert fg.deliver(refused(prod)[-1])["outcome"] == "remediated"

    conflict, remediated = fg.alerts()
    assert conflict["outcome"] == "conflict" and conflict["impostor_security_groups"] == [impostor]
    ours = remediated["security_group_id"]
    assert ours != impostor and group(sandbox, ours)["VpcId"] == prod.vpc_id
    assert web.object["metadata"]["annotations"][INGRESS_SG] == ours


def test_the_scan_deletes_an_unattached_pre_lb_sg_after_grace_never_an_attached_one(sandbox, prod):
    fg = wire(sandbox, {**ENFORCE, "cleanup_grace_hours": 0})
    prod.ingress("shop/web", ports=[443])
    prod.service("shop/api", ports=[("TCP", 443)])
    for event in refused(prod):
        fg.deliver(event)
    sgs = {a["owner"]["kind"]: a["security_group_id"] for a in fg.alerts()}
    prod.kube.delete_object(SERVICES, "shop", "api")  # gone before the controller's retry
    prod.lbc.reconcile()
    other_vpc = sandbox.client("ec2").create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    api_key = aws.PreLoadBalancerKey("prod", "service.k8s.aws/stack", "shop/gone")
    impostor = fake_pre_lb(sandbox, api_key, vpc_id=other_vpc, description="not frontguard")

    kept = scan(wire(sandbox, {**ENFORCE, "cleanup_grace_hours": 24}).runtime.engine)
    assert kept.cleaned_up == [] and kept.kept_orphans == [sgs["service"]]

    report = scan(fg.runtime.engine)

    assert report.cleaned_up == [sgs["service"]]
    assert impostor in report.impostors
    remaining = {
        g["GroupId"] for g in sandbox.client("ec2").describe_security_groups()["SecurityGroups"]
    }
    assert sgs["ingress"] in remaining and impostor in remaining
    assert sgs["service"] not in remaining


def test_a_failed_patch_leaves_no_half_applied_owner_and_the_retry_reuses_the_sg(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    web = prod.ingress("shop/web", ports=[443])
    [denied] = refused(prod)
    prod.kube.inject(kube_fault(500, method="PATCH"))

    with pytest.raises(RetryableError):  # Lambda retries the event, then keeps it (DLQ)
        fg.deliver(denied)

    prod.kube.clear_faults()
    [made] = frontguard_groups(sandbox)
    assert INGRESS_SG not in (web.object["metadata"].get("annotations") or {})
    assert fg.alerts() == []
    fg.reset_counts()

    assert fg.deliver(denied)["outcome"] == "remediated"  # the retry

    assert "ec2.CreateSecurityGroup" not in fg.mutating_aws_calls()
    assert web.object["metadata"]["annotations"][INGRESS_SG] == made["GroupId"]
    prod.lbc.reconcile()
    stack = prod.lbc.stacks[("ingress.k8s.aws", "shop/web")]
    assert web.security_groups(stack.load_balancer.arn)[0] == made["GroupId"]


def test_a_forbidden_patch_alerts_error_and_changes_no_owner(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    web = prod.ingress("shop/web", ports=[443])
    prod.kube.inject(kube_fault(403, method="PATCH"))

    result = fg.deliver(refused(prod)[-1])

    prod.kube.clear_faults()
    assert result["outcome"] == "error"
    [alert] = fg.alerts()
    assert alert["outcome"] == "error"
    assert alert["load_balancer_arn"] == "blocked-load-balancer:prod/ingress.k8s.aws/stack=shop/web"
    assert INGRESS_SG not in (web.object["metadata"].get("annotations") or {})


# --- Gateways: the same reaction through the Gateway's LoadBalancerConfiguration --------------

EDGE_KEY = aws.PreLoadBalancerKey("prod", "gateway.k8s.aws.alb/stack", "shop/edge")


def vpc_cidr(sandbox: Sandbox, vpc_id: str) -> str:
    [vpc] = sandbox.client("ec2").describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    return str(vpc["CidrBlock"])


def test_a_blocked_alb_gateway_gets_frontguards_sg_and_its_lb_is_born_behind_it(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    edge = prod.gateway("shop/edge", ports=[80, 443])  # no configuration of its own
    assert edge.stack is None
    [event] = edge.events("FailedDeployModel")  # the Gateway reconciler's own Event
    assert "api error UnauthorizedOperation" in event["message"]
    [denied] = refused(prod)
    tags = denied["detail"]["requestParameters"]["tagSpecificationSet"]["items"][0]["tags"]
    assert {"key": "gateway.k8s.aws.alb/stack", "value": "shop/edge"} in tags
    fg.reset_counts()

    result = fg.deliver(denied)

    assert result["outcome"] == "remediated"
    [alert] = fg.alerts()
    assert alert["owner"]["kind"] == "gateway" and alert["pre_load_balancer"] is True
    assert alert["load_balancer_arn"] == (
        "blocked-load-balancer:prod/gateway.k8s.aws.alb/stack=shop/edge"
    )
    sg = alert["security_group_id"]
    made = group(sandbox, sg)
    assert made["GroupName"] == aws.pre_lb_security_group_name(EDGE_KEY)
    assert made["Description"].startswith(aws.PRE_LB_DESCRIPTION)
    assert made["VpcId"] == prod.vpc_id
    # Every listener of the spec (HTTP 80, HTTPS 443), from the policy's sources for an
    # internal load balancer (the controller's default scheme): the refused call's VPC.
    cidr = vpc_cidr(sandbox, prod.vpc_id)
    assert inbound(made) == {("tcp", 80, cidr), ("tcp", 443, cidr)}
    # Requested as the engine requests it: frontguard's own configuration, referenced by
    # the Gateway.
    config = prod.configuration("shop/frontguard-edge")
    assert config is not None
    assert config["spec"] == {"securityGroups": [sg], "manageBackendSecurityGroupRules": True}
    assert config["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "frontguard"}
    ref = edge.object["spec"]["infrastructure"]["parametersRef"]
    assert ref["name"] == "frontguard-edge" and ref["kind"] == "LoadBalancerConfiguration"
    assert fg.mutating_aws_calls() == {
        "ec2.CreateSecurityGroup": 1,
        "ec2.AuthorizeSecurityGroupIngress": 1,
    }
    assert fg.mutating_kube_calls() == 2  # create the configuration, reference it
    assert sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"] == []

    # The controller's retry builds the Gateway's LB behind frontguard's SG.
    prod.lbc.reconcile()
    stack = prod.lbc.stacks[("gateway.k8s.aws.alb", "shop/edge")]
    born_with = stack.load_balancer.event["detail"]["requestParameters"]["securityGroups"]
    assert born_with[0] == sg and len(born_with) == 2  # + the controller's backend SG
    on_lb = edge.security_groups(stack.load_balancer.arn)
    assert on_lb == born_with and world_open(sandbox, on_lb) == []
    assert stack.managed_sg_id is None and stack.managed_sg_event is None  # never made

    # Every listener got its LB listener here (the simulator has no routes), so the pre-LB
    # SG is the plan for the real listeners: compliant, no swap, nothing changes.
    fg.reset_counts()
    assert fg.deliver(stack.load_balancer.event)["outcome"] == "compliant"
    report = scan(fg.runtime.engine)
    assert [i.outcome.value for i in report.items] == ["compliant"]
    assert report.cleaned_up == [] and report.impostors == []
    assert fg.mutating_aws_calls() == {} and fg.mutating_kube_calls() == 0
    assert len(fg.alerts()) == 1
    assert edge.security_groups(stack.load_balancer.arn) == born_with
    checked = fg.verify(
        {
            "load_balancer_arn": stack.load_balancer.arn,
            "cluster": "prod",
            "security_group_id": sg,
            "owner": alert["owner"],
        }
    )
    assert checked.outcome == "verified", checked


def test_a_gateway_listener_without_a_load_balancer_listener_gets_the_usual_swap(sandbox, prod):
    """The Gateway's own configuration restricts its sources and is patched in place; a spec
    listener the load balancer does not get (the controller skips ports without routes)
    leaves the pre-LB SG wider than the plan: an SG keyed by the load balancer replaces it
    through the same configuration, from one frontguard SG to the other."""
    fg = wire(sandbox, ENFORCE)
    edge = prod.gateway(
        "shop/edge",
        ports=[80, 443],
        config={"scheme": "internet-facing", "sourceRanges": ["203.0.113.0/26"]},
    )
    assert fg.deliver(refused(prod)[-1])["outcome"] == "remediated"
    [alert] = fg.alerts()
    pre = alert["security_group_id"]
    # The owner's own restriction, narrowed by the policy (never wider than either).
    assert inbound(group(sandbox, pre)) == {
        ("tcp", 80, "203.0.113.0/26"),
        ("tcp", 443, "203.0.113.0/26"),
    }
    config = prod.configuration("shop/edge-config")
    assert config is not None
    assert config["spec"]["securityGroups"] == [pre]
    assert config["spec"]["manageBackendSecurityGroupRules"] is True
    assert config["spec"]["sourceRanges"] == ["203.0.113.0/26"]  # untouched
    assert "infrastructure" in edge.object["spec"]  # its own reference, unchanged

    prod.lbc.reconcile()
    stack = prod.lbc.stacks[("gateway.k8s.aws.alb", "shop/edge")]
    lb_arn = stack.load_balancer.arn
    assert edge.security_groups(lb_arn)[0] == pre
    # Port 80 has no route: the controller would not have materialised its listener.
    elbv2 = sandbox.client("elbv2")
    [http] = [
        ls
        for ls in elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
        if ls["Port"] == 80
    ]
    elbv2.delete_listener(ListenerArn=http["ListenerArn"])
    fg.reset_counts()

    result = fg.deliver(stack.load_balancer.event)

    assert result["outcome"] == "remediated"
    keyed = fg.alerts()[-1]["security_group_id"]
    assert keyed != pre
    assert inbound(group(sandbox, keyed)) == {("tcp", 443, "203.0.113.0/26")}
    assert prod.configuration("shop/edge-config")["spec"]["securityGroups"] == [keyed]
    assert inbound(group(sandbox, pre)) == {
        ("tcp", 80, "203.0.113.0/26"),
        ("tcp", 443, "203.0.113.0/26"),
    }  # not narrowed in place
    prod.lbc.reconcile()
    on_lb = edge.security_groups(lb_arn)
    assert on_lb[0] == keyed and pre not in on_lb
    assert world_open(sandbox, on_lb) == []


def test_a_gateway_whose_class_pins_security_groups_gets_a_conflict_and_nothing_is_created(
    sandbox, prod
):
    fg = wire(sandbox, ENFORCE)
    edge = prod.gateway("shop/edge", ports=[443], class_config={"securityGroups": []})
    assert edge.stack is None
    fg.reset_counts()

    result = fg.deliver(refused(prod)[-1])

    assert result["outcome"] == "conflict"
    [alert] = fg.alerts()
    assert alert["outcome"] == "conflict"
    assert "GatewayClass" in alert["detail"] and "gateway-system/shop-edge-config" in alert["fix"]
    assert fg.mutating_aws_calls() == {} and fg.mutating_kube_calls() == 0
    assert frontguard_groups(sandbox) == []
    assert prod.configuration("shop/frontguard-edge") is None
    assert "infrastructure" not in edge.object["spec"]


def test_a_blocked_nlb_gateway_gets_tcp_and_udp_rules_and_its_nlb_is_born_behind_them(
    sandbox, prod
):
    fg = wire(sandbox, ENFORCE)
    relay = prod.gateway(
        "shop/relay",
        lb="nlb",
        ports=[("TCP", 443), ("UDP", 5353)],
        config={"scheme": "internet-facing"},
    )
    assert relay.stack is None

    assert fg.deliver(refused(prod)[-1])["outcome"] == "remediated"

    [alert] = fg.alerts()
    assert alert["load_balancer_arn"] == (
        "blocked-load-balancer:prod/gateway.k8s.aws.nlb/stack=shop/relay"
    )
    sg = alert["security_group_id"]
    assert inbound(group(sandbox, sg)) == {
        (protocol, port, cidr)
        for protocol, port in (("tcp", 443), ("udp", 5353))
        for cidr in POLICY_RULES
    }
    prod.lbc.reconcile()
    stack = prod.lbc.stacks[("gateway.k8s.aws.nlb", "shop/relay")]
    assert stack.load_balancer.event["detail"]["requestParameters"]["type"] == "network"
    on_lb = relay.security_groups(stack.load_balancer.arn)
    assert on_lb[0] == sg and world_open(sandbox, on_lb) == []
    assert fg.deliver(stack.load_balancer.event)["outcome"] == "compliant"


def test_a_blocked_gitops_gateway_gets_the_changes_to_commit_and_nothing_is_patched(sandbox, prod):
    fg = wire(sandbox, ENFORCE)
    edge = prod.gateway(
        "shop/edge", ports=[443], annotations={"argocd.argoproj.io/tracking-id": "shop:edge"}
    )
    fg.reset_counts()

    assert fg.deliver(refused(prod)[-1])["outcome"] == "gitops-pending"

    [alert] = fg.alerts()
    sg = alert["security_group_id"]
    assert alert["planned_annotations"] == {
        "LoadBalancerConfiguration shop/frontguard-edge (create)": {
            "spec.securityGroups": sg,
            "spec.manageBackendSecurityGroupRules": "true",
        },
        "Gateway shop/edge": {
            "spec.infrastructure.parametersRef": (
                "gateway.k8s.aws/LoadBalancerConfiguration frontguard-edge"
            )
        },
    }
    assert fg.mutating_kube_calls() == 0
    assert prod.configuration("shop/frontguard-edge") is None
    assert "infrastructure" not in edge.object["spec"]
    assert fg.mutating_aws_calls()["ec2.CreateSecurityGroup"] == 1  # ready for the commit
    assert sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
