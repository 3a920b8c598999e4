"""Issue 12: every discrepancy of shared/reviews/controller-fidelity.md, through the real
handlers, the sandbox and its independently corrected controller simulator."""

from __future__ import annotations

from typing import Any

import pytest
from frontguard.engine.revert import Scope, plan_revert
from frontguard.engine.scan import scan
from frontguard.model import Outcome
from frontguard.policy import ControllerFlags

from sandbox import Sandbox
from sandbox.scenario import ControllerOptions, Owned
from sandbox.wiring import Frontguard, wire
from tests.integration.test_events import frontguard_groups, inbound

A = "alb.ingress.kubernetes.io/"
SG = A + "security-groups"
BACKEND = A + "manage-backend-security-group-rules"
OPEN = {"mode": "enforce", "default_sources": ["0.0.0.0/0"], "verify_delay_seconds": 0}
APPROVED = "approved"


def enforce(sandbox: Sandbox, **policy: Any) -> Frontguard:
    return wire(sandbox, {**OPEN, **policy})


def our_group(sandbox: Sandbox, owned: Owned, lb_arn: str | None = None) -> str:
    [group] = [
        g
        for g in frontguard_groups(sandbox)
        if {"Key": "frontguard.io/load-balancer", "Value": lb_arn or owned.lb_arn} in g["Tags"]
    ]
    return str(group["GroupId"])


def annotations_now(owned: Owned) -> list[dict[str, str]]:
    return [dict(o["metadata"].get("annotations") or {}) for o in owned.objects]


# --- 1. per-port restrictions in an IngressGroup ------------------------------------------------


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        pytest.param(
            [("ops/admin", 443, ["10.0.0.0/8"]), ("web/site", 80, None)],
            {("tcp", 443, "10.0.0.0/8"), ("tcp", 80, "0.0.0.0/0")},
            id="A: a restriction stays on its own port, never 443 from everyone",
        ),
        pytest.param(
            [("ops/admin", 443, ["10.0.0.0/8"]), ("web/site", 443, None)],
            {("tcp", 443, "10.0.0.0/8")},
            id="B: an unrestricted member on the same port does not open it",
        ),
        pytest.param(
            [("a/one", 443, ["10.0.0.0/8"]), ("b/two", 8443, ["192.168.0.0/16"])],
            {("tcp", 443, "10.0.0.0/8"), ("tcp", 8443, "192.168.0.0/16")},
            id="C: each member's restriction on its own port",
        ),
    ],
)
def test_group_restrictions_are_planned_per_listen_port(sandbox, members, expected):
    """Review #1: as the controller's managed SG would admit them."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    for ref, port, cidrs in members:
        shop = prod.ingress(ref, group="shop", ports=[port], inbound_cidrs=cidrs)

    assert fg.deliver(shop.event)["outcome"] == "remediated"

    assert inbound(sandbox, our_group(sandbox, shop)) == expected


# --- 2. IngressGroup membership -----------------------------------------------------------------


def test_a_foreign_class_ingress_with_the_group_name_is_not_a_member(sandbox):
    """Review #2 (a): remediated; only the ALB-class members are patched."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    prod.ingress_class("nginx", controller="k8s.io/ingress-nginx")
    legacy = prod.ingress("c/legacy", ingress_class="nginx", group="shop")
    prod.ingress("a/web", group="shop", ports=[443])
    shop = prod.ingress("b/api", group="shop", ports=[443])
    before = annotations_now(legacy)

    assert fg.deliver(shop.event)["outcome"] == "remediated"

    ours = our_group(sandbox, shop)
    patched = [a for a in annotations_now(prod_ingresses(prod, "a/web", "b/api"))]
    assert all(a[SG] == ours and a[BACKEND] == "true" for a in patched)
    assert annotations_now(legacy) == before
    prod.lbc.reconcile()
    assert ours in shop.security_groups()


def prod_ingresses(prod, *refs: str) -> Owned:
    return Owned(prod, "Ingress", [tuple(r.split("/")) for r in refs], None)  # type: ignore[misc]


def test_ingress_class_params_group_beats_the_annotation(sandbox):
    """Review #2 (b) and (c): params group ``shared`` wins; y/two's CIDRs count; an
    annotation-classified Ingress keeps its own ALB and is never touched."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    prod.ingress_class_params("shared", spec={"group": {"name": "shared"}})
    prod.ingress_class("alb", params="shared")
    legacy = prod.ingress("z/legacy", class_annotation="alb", ports=[80])
    prod.ingress("x/one", ports=[443])
    shared = prod.ingress(
        "y/two",
        ports=[8443],
        annotations={A + "group.name": "team-b"},
        inbound_cidrs=["10.0.0.0/8"],
    )
    legacy_before = annotations_now(legacy)

    assert fg.deliver(shared.event)["outcome"] == "remediated"

    ours = our_group(sandbox, shared)
    assert inbound(sandbox, ours) == {("tcp", 443, "0.0.0.0/0"), ("tcp", 8443, "10.0.0.0/8")}
    assert all(a[SG] == ours for a in annotations_now(prod_ingresses(prod, "x/one", "y/two")))
    assert annotations_now(legacy) == legacy_before
    assert legacy.lb_arn != shared.lb_arn
    # The legacy Ingress's own ALB is remediated on its own, with its own SG, and no loop.
    assert fg.deliver(legacy.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    assert fg.deliver(shared.event)["outcome"] != "conflict"
    assert our_group(sandbox, legacy) != ours


# --- 3. Ingresses without spec.ingressClassName ---------------------------------------------


def test_an_ingress_of_the_default_class_is_remediated(sandbox):
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    prod.ingress_class("alb", default=True)
    web = prod.ingress("shop/web", ingress_class=None, ports=[80])

    assert fg.deliver(web.event)["outcome"] == "remediated"


def test_an_ingress_classified_by_annotation_alone_is_remediated(sandbox):
    """No IngressClass object named like the annotation: the controller matches the value
    against its --ingress-class flag (here customised, as the policy says)."""
    fg = enforce(sandbox, controller={"ingress_class": "edge"})
    prod = sandbox.cluster("prod", controller=ControllerOptions(ingress_class="edge"))
    web = prod.ingress("shop/web", class_annotation="edge", ingress_class=None, ports=[80])

    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    assert our_group(sandbox, web) in web.security_groups()


# --- 4. the backend SG feature switched off ----------------------------------------------------


def test_without_the_backend_sg_feature_nothing_is_patched_and_an_alert_names_the_flag(sandbox):
    fg = enforce(sandbox)
    prod = sandbox.cluster(
        "prod", controller=ControllerOptions(enable_backend_security_group=False)
    )
    web = prod.ingress("shop/web", ports=[443])
    before = annotations_now(web)

    result = fg.deliver(web.event)

    assert result["outcome"] == "error"
    assert "enable-backend-security-group" in result["reason"]
    assert annotations_now(web) == before
    assert fg.mutating_kube_calls() == 0
    [alert] = fg.alerts()
    assert alert["outcome"] == "error"
    prod.lbc.reconcile()
    assert not web.warnings()  # the Ingress still reconciles


def test_a_requested_sg_the_controller_cannot_build_is_an_open_finding_never_compliant(sandbox):
    """Review #4: the controller's backend-SG feature is switched off after the LB was made
    (the policy still says on): the annotations frontguard wrote fail every build
    (FailedBuildModel), the SG is never attached, and the scan reports an error."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    prod.lbc.enable_backend_security_group = False

    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    assert web.events("FailedBuildModel")
    assert our_group(sandbox, web) not in web.security_groups()

    items = {i.load_balancer_arn: i for i in scan(fg.runtime.engine).items}
    assert items[web.lb_arn].outcome is Outcome.ERROR
    assert "backendSG feature is required" in items[web.lb_arn].reason


# --- 5. Gateway mergingMode ---------------------------------------------------------------------


def test_prefer_gateway_merging_mode_lets_frontguard_patch_the_gateways_own_configuration(
    sandbox,
):
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    platform = sandbox.client("ec2").create_security_group(
        GroupName="platform", Description="platform", VpcId=prod.vpc_id
    )["GroupId"]
    gw = prod.gateway(
        "app/gw",
        ports=[443],
        class_config={
            "scheme": "internet-facing",
            "mergingMode": "prefer-gateway",
            "securityGroups": [platform],
            "manageBackendSecurityGroupRules": True,
        },
    )

    assert fg.deliver(gw.event)["outcome"] == "remediated"

    assert prod.configuration("app/frontguard-gw") is not None
    prod.lbc.reconcile()
    assert our_group(sandbox, gw) in gw.security_groups()


# --- 6. SG names --------------------------------------------------------------------------------


def corp_allowlist(sandbox: Sandbox, prod: Any) -> str:
    """A team SG whose ``Name`` tag (not its group name) is ``corp-allowlist``."""
    return str(
        sandbox.client("ec2").create_security_group(
            GroupName="corp",
            Description="corp allowlist",
            VpcId=prod.vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": "Name", "Value": "corp-allowlist"}],
                }
            ],
        )["GroupId"]
    )


def test_an_approved_sg_written_by_name_counts_as_approved(sandbox):
    prod = sandbox.cluster("prod")
    approved = corp_allowlist(sandbox, prod)
    fg = enforce(sandbox, approved_security_groups=[approved])
    web = prod.ingress(
        "shop/web",
        ports=[443],
        annotations={SG: "corp-allowlist", BACKEND: "true"},
    )
    assert approved in web.security_groups()
    before = annotations_now(web)

    result = fg.deliver(web.event)

    assert result["outcome"] == "compliant"
    assert annotations_now(web) == before


def test_an_approved_sg_by_name_next_to_an_open_one_is_kept_as_its_id(sandbox):
    prod = sandbox.cluster("prod")
    ec2 = sandbox.client("ec2")
    approved = corp_allowlist(sandbox, prod)
    world = ec2.create_security_group(GroupName="open", Description="open", VpcId=prod.vpc_id)
    fg = enforce(sandbox, approved_security_groups=[approved])
    web = prod.ingress(
        "shop/web", ports=[443], annotations={SG: f"corp-allowlist,{world['GroupId']}"}
    )

    assert fg.deliver(web.event)["outcome"] == "remediated"

    ours = our_group(sandbox, web)
    assert annotations_now(web)[0][SG] == f"{ours},{approved}"
    prod.lbc.reconcile()
    assert {ours, approved} <= set(web.security_groups())


# --- 8. frontend NLB ----------------------------------------------------------------------------


def test_fixing_a_frontend_nlb_leaves_the_albs_sgs_and_backend_switch_alone(sandbox):
    """Review #8: the NLB's explicit list gets exactly frontguard's SG (no backend SG) and
    the ALB-wide backend-rules switch is not flipped."""
    prod = sandbox.cluster("prod")
    ec2 = sandbox.client("ec2")
    team = ec2.create_security_group(GroupName="team", Description="team", VpcId=prod.vpc_id)[
        "GroupId"
    ]
    edge = ec2.create_security_group(GroupName="edge", Description="edge", VpcId=prod.vpc_id)[
        "GroupId"
    ]
    fg = enforce(sandbox, approved_security_groups=[team])
    web = prod.ingress(
        "shop/web",
        ports=[443],
        frontend_nlb=True,
        annotations={SG: team, BACKEND: "false", A + "frontend-nlb-security-groups": edge},
    )
    nlb = web.frontend_nlb
    assert nlb is not None
    assert web.security_groups(nlb.arn) == [edge]

    assert fg.deliver(nlb.event)["outcome"] == "remediated"
    prod.lbc.reconcile()

    ours = our_group(sandbox, web, nlb.arn)
    assert web.security_groups(nlb.arn) == [ours]
    assert web.security_groups() == [team]
    assert annotations_now(web)[0][BACKEND] == "false"
    assert annotations_now(web)[0][SG] == team


def test_a_frontend_nlb_carrying_the_albs_approved_sg_is_compliant(sandbox):
    prod = sandbox.cluster("prod")
    team = sandbox.client("ec2").create_security_group(
        GroupName="team", Description="team", VpcId=prod.vpc_id
    )["GroupId"]
    fg = enforce(sandbox, approved_security_groups=[team])
    web = prod.ingress(
        "shop/web", ports=[443], frontend_nlb=True, annotations={SG: team, BACKEND: "false"}
    )
    nlb = web.frontend_nlb
    assert nlb is not None
    before = annotations_now(web)

    assert fg.deliver(nlb.event)["outcome"] == "compliant"
    assert annotations_now(web) == before
    assert frontguard_groups(sandbox) == []


# --- 9. params of annotation-classified Ingresses -------------------------------------------


def test_class_params_do_not_narrow_an_annotation_classified_ingress(sandbox):
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    prod.ingress_class_params("narrow", spec={"inboundCIDRs": ["10.0.0.0/8"]})
    prod.ingress_class("alb", params="narrow")
    web = prod.ingress("shop/web", class_annotation="alb", ingress_class=None, ports=[80])

    assert fg.deliver(web.event)["outcome"] == "remediated"

    assert inbound(sandbox, our_group(sandbox, web)) == {("tcp", 80, "0.0.0.0/0")}


# --- 13. at most 5 SGs ----------------------------------------------------------------------


def test_too_many_approved_sgs_alert_instead_of_a_patch_the_controller_cannot_apply(sandbox):
    prod = sandbox.cluster("prod")
    ec2 = sandbox.client("ec2")
    approved = [
        ec2.create_security_group(GroupName=f"a{i}", Description="a", VpcId=prod.vpc_id)["GroupId"]
        for i in range(4)
    ]
    open_sg = ec2.create_security_group(GroupName="o", Description="o", VpcId=prod.vpc_id)
    fg = enforce(sandbox, approved_security_groups=approved)
    web = prod.ingress(
        "shop/web", ports=[443], annotations={SG: ",".join([*approved, open_sg["GroupId"]])}
    )
    before = annotations_now(web)

    result = fg.deliver(web.event)

    assert result["outcome"] == "error"
    assert "5 security groups" in result["reason"]
    assert annotations_now(web) == before
    assert frontguard_groups(sandbox) == []


# --- 14. Gateway reference edge cases -------------------------------------------------------


def test_a_gateway_reference_with_a_wrong_kind_is_still_the_configuration_used(sandbox):
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    gw = prod.gateway("app/gw", ports=[443], config={"scheme": "internet-facing"})
    namespace, name = gw.refs[0]
    from sandbox.kube import GATEWAYS

    prod.kube.patch_object(
        GATEWAYS,
        namespace,
        name,
        {"spec": {"infrastructure": {"parametersRef": {"kind": "LoadBalancerConfig"}}}},
    )

    assert fg.deliver(gw.event)["outcome"] == "remediated"

    config = prod.configuration("app/gw-config")
    assert config is not None
    assert config["spec"]["securityGroups"] == [our_group(sandbox, gw)]
    assert prod.configuration("app/frontguard-gw") is None


# --- 16. listen port 443 with a certificate ------------------------------------------------


def test_an_ingress_with_a_certificate_and_no_listen_ports_is_planned_on_443(sandbox):
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    web = prod.ingress(
        "shop/web", ports=None, certificate="arn:aws:acm:eu-west-1:123456789012:certificate/x"
    )

    assert fg.deliver(web.event)["outcome"] == "remediated"

    assert inbound(sandbox, our_group(sandbox, web)) == {("tcp", 443, "0.0.0.0/0")}


# --- intake ----------------------------------------------------------------------------------


def test_a_console_made_load_balancer_without_tags_is_ignored_without_aws_calls(sandbox):
    fg = enforce(sandbox)
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    event = {**web.event, "detail": {**web.event["detail"]}}
    event["detail"]["requestParameters"] = {"name": "console-alb", "type": "application"}
    fg.reset_counts()

    result = fg.deliver(event)

    assert result["outcome"] == "ignored"
    assert sum(fg.aws_calls.values()) == 0


# --- one world through all four doors -------------------------------------------------------


@pytest.mark.parametrize("flags", [None])
def test_event_scan_verify_and_revert_agree_on_one_world(sandbox, flags):
    """A group with a per-port restriction, a params-named member and a foreign-class
    Ingress carrying the group name: every door sees the same members and the same plan."""
    prod = sandbox.cluster("prod")
    prod.ingress_class("nginx", controller="k8s.io/ingress-nginx")
    legacy = prod.ingress("c/legacy", ingress_class="nginx", group="shop")
    prod.ingress("ops/admin", group="shop", ports=[443], inbound_cidrs=["10.0.0.0/8"])
    shop = prod.ingress("web/site", group="shop", ports=[80])

    audit = wire(sandbox, {**OPEN, "mode": "audit"})
    event_result = audit.deliver(shop.event)
    [finding] = audit.alerts()
    scanned = {i.load_balancer_arn: i for i in scan(audit.runtime.engine).items}[shop.lb_arn]
    assert event_result["outcome"] == scanned.outcome.value == "audit-finding"
    assert sorted(finding["planned_annotations"]) == ["ops/admin", "web/site"]
    assert set(finding["planned_rules"]) == {"tcp/443 from 10.0.0.0/8", "tcp/80 from 0.0.0.0/0"}

    fg = enforce(sandbox)
    assert fg.deliver(shop.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    assert {v.outcome for v in fg.run_verifications()} == {"verified"}
    rescanned = {i.load_balancer_arn: i for i in scan(fg.runtime.engine).items}[shop.lb_arn]
    assert rescanned.outcome is Outcome.COMPLIANT

    plan = plan_revert(
        fg.runtime.engine.kube("prod"),
        sandbox.client("ec2"),
        sandbox.client("elbv2"),
        Scope("prod"),
        ControllerFlags(),
    )
    assert sorted(o.ref for o in plan.patches) == ["ingress/ops/admin", "ingress/web/site"]
    assert "c/legacy" not in str([o.ref for o in plan.objects])
    assert legacy.object["metadata"]["annotations"].get(SG) is None


# --- the review's open questions -------------------------------------------------------------


def test_an_nlb_behind_a_privatelink_service_is_not_swapped_unless_the_policy_says_so(sandbox):
    """docs/controller-rules.md "PrivateLink": AWS checks consumers' client IPs against the
    NLB's SG by default; the world-open SG is not replaced without the policy's consent."""
    prod = sandbox.cluster("prod")
    api = prod.service("shop/api", ports=[("TCP", 443)])
    service_id = sandbox.client("ec2").create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[api.lb_arn], AcceptanceRequired=True
    )["ServiceConfiguration"]["ServiceId"]
    before = annotations_now(api)

    result = enforce(sandbox).deliver(api.event)

    assert result["outcome"] == "conflict"
    assert service_id in result["reason"]
    assert annotations_now(api) == before
    assert frontguard_groups(sandbox) == []
    assert enforce(sandbox, privatelink="remediate").deliver(api.event)["outcome"] == "remediated"


def test_an_alb_whose_frontend_nlb_shares_its_sg_admits_that_sg_on_its_ports(sandbox):
    """docs/controller-rules.md "Frontend NLB": health checks and PrivateLink traffic reach the
    ALB from the NLB's addresses; the shared SG references itself, admitting no new client."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443], frontend_nlb=True)

    assert fg.deliver(web.event)["outcome"] == "remediated"

    ours = our_group(sandbox, web)
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[ours])["SecurityGroups"]
    referenced = {
        (p["FromPort"], pair["GroupId"])
        for p in group["IpPermissions"]
        for pair in p.get("UserIdGroupPairs", [])
    }
    assert referenced == {(443, ours)}
    assert inbound(sandbox, ours) == {("tcp", 443, "0.0.0.0/0")}
    prod.lbc.reconcile()
    nlb = web.frontend_nlb
    assert nlb is not None
    assert ours in web.security_groups(nlb.arn)
    # Steady state: the scan finds it compliant at a glance, no per-LB call.
    fg.reset_counts()
    items = {i.load_balancer_arn: i for i in scan(fg.runtime.engine).items}
    assert items[web.lb_arn].outcome is Outcome.COMPLIANT
    assert fg.aws_calls["elbv2.DescribeListeners"] == 0


# --- 10 and 11: deletion timeouts and parsed comparisons -------------------------------------


def test_an_undeletable_managed_sg_does_not_fail_verification(sandbox):
    """Review #10: another SG references the controller's managed SG; the controller detaches
    it, fails to delete it (FailedDeployModel), and frontguard's SG is attached: verified."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    managed = web.managed_sg_id
    assert managed is not None
    ec2 = sandbox.client("ec2")
    other = ec2.create_security_group(GroupName="db", Description="db", VpcId=prod.vpc_id)
    ec2.authorize_security_group_ingress(
        GroupId=other["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": managed}],
            }
        ],
    )

    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()

    assert managed not in web.security_groups()
    assert ec2.describe_security_groups(GroupIds=[managed])["SecurityGroups"]
    assert web.events("FailedDeployModel")
    assert {v.outcome for v in fg.run_verifications()} == {"verified"}


def test_group_members_whose_lists_differ_only_in_spacing_are_not_a_conflict(sandbox):
    """Review #11: lists compare parsed; no Event, no group-conflict finding."""
    prod = sandbox.cluster("prod")
    ec2 = sandbox.client("ec2")
    a, b = (
        ec2.create_security_group(GroupName=n, Description=n, VpcId=prod.vpc_id)["GroupId"]
        for n in ("a", "b")
    )
    fg = enforce(sandbox, approved_security_groups=[a, b])
    prod.ingress("x/one", group="shop", ports=[443], annotations={SG: f"{a}, {b}", BACKEND: "true"})
    shop = prod.ingress(
        "y/two", group="shop", ports=[443], annotations={SG: f"{a},{b},", BACKEND: "True"}
    )

    assert not shop.warnings()
    assert fg.deliver(shop.event)["outcome"] == "compliant"
