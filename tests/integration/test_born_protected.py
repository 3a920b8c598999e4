"""Born protected (issue 17): load balancers built from class-level defaults at policy width are
left as the controller made them; one created open in a born-protected cluster alerts
``born-open`` naming the object that should have closed it."""

from __future__ import annotations

from typing import Any

from frontguard.engine.remediate import remediate_load_balancer
from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, wire

POLICY_CIDRS = ["203.0.113.0/24", "198.51.100.0/24"]
INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"


def frontguard_groups(sandbox: Sandbox) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["SecurityGroups"]
    return groups


def inbound(sandbox: Sandbox, group_id: str) -> set[tuple[int, str]]:
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return {
        (p["FromPort"], r.get("CidrIp") or r.get("CidrIpv6") or r.get("PrefixListId"))
        for p in group["IpPermissions"]
        for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", []) + p.get("PrefixListIds", [])
    }


def born_class(cluster: Any, cidrs: list[str], prefix_lists: list[str] | None = None) -> None:
    spec: dict[str, Any] = {"inboundCIDRs": cidrs}
    if prefix_lists:
        spec["prefixListsIDs"] = prefix_lists
    cluster.ingress_class_params("fg-born", spec=spec)
    cluster.ingress_class("fg-born", params="fg-born")


def test_ingress_of_a_class_at_policy_width_is_born_protected_and_left_alone(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod*"]})
    prod = sandbox.cluster("prod")
    born_class(prod, POLICY_CIDRS)
    web = prod.ingress("shop/web", ports=[80, 443], ingress_class="fg-born")
    managed = web.managed_sg_id
    assert managed is not None
    # The controller built its managed SG from the class's sources, never 0.0.0.0/0.
    assert inbound(sandbox, managed) == {(p, c) for p in (80, 443) for c in POLICY_CIDRS}
    fg.reset_counts()

    result = fg.deliver(web.event)

    assert result["outcome"] == "born-protected"
    assert frontguard_groups(sandbox) == []
    assert INGRESS_SG not in web.object["metadata"]["annotations"]
    assert fg.mutating_aws_calls() == {}
    assert fg.alerts() == []
    prod.lbc.reconcile()
    assert managed in web.security_groups()


def test_scan_leaves_a_born_protected_load_balancer_alone(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"]})
    prod = sandbox.cluster("prod")
    born_class(prod, POLICY_CIDRS)
    web = prod.ingress("shop/web", ports=[443], ingress_class="fg-born")

    report = scan(fg.runtime.engine)

    [item] = [i for i in report.items if i.load_balancer_arn == web.lb_arn]
    assert item.outcome.value == "born-protected"
    assert frontguard_groups(sandbox) == []


def test_owner_narrower_than_the_policy_is_still_refined(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"]})
    prod = sandbox.cluster("prod")
    # The Service's own ranges are within the policy: the controller's SG admits only them,
    # but the owner could widen it again; frontguard's SG carries the owner's intent instead.
    api = prod.service("shop/api", ports=[("TCP", 443)], source_ranges=["203.0.113.0/25"])

    result = fg.deliver(api.event)

    assert result["outcome"] == "born-open"
    [alert] = fg.alerts()
    assert (
        "port 443: the owner narrows the policy to 203.0.113.0/25"
        in (alert["why_not_born_protected"])
    )
    [group] = frontguard_groups(sandbox)
    assert inbound(sandbox, group["GroupId"]) == {(443, "203.0.113.0/25")}


def test_open_ingress_in_a_born_protected_cluster_alerts_born_open_and_is_remediated(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"]})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])  # class "alb": no IngressClassParams

    result = fg.deliver(web.event)

    assert result["outcome"] == "born-open"
    [alert] = fg.alerts()
    assert alert["outcome"] == "born-open"
    assert alert["missing_or_drifted_object"] == "IngressClass/alb"
    assert any("0.0.0.0/0" in entry for entry in alert["why_not_born_protected"])
    assert "frontguard render born-protected" in alert["fix"]
    [group] = frontguard_groups(sandbox)
    assert web.object["metadata"]["annotations"][INGRESS_SG] == group["GroupId"]
    prod.lbc.reconcile()
    assert group["GroupId"] in web.security_groups()


def test_open_ingress_in_audit_mode_alerts_born_open_and_changes_nothing(sandbox):
    fg = wire(sandbox, {**ENFORCE, "mode": "audit", "born_protected": ["prod"]})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.reset_counts()

    result = fg.deliver(web.event)

    assert result["outcome"] == "born-open"
    assert fg.mutating_aws_calls() == {}
    assert INGRESS_SG not in web.object["metadata"]["annotations"]


def test_drifted_class_params_are_named(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"]})
    prod = sandbox.cluster("prod")
    born_class(prod, ["0.0.0.0/0"])
    web = prod.ingress("shop/web", ports=[443], ingress_class="fg-born")

    result = fg.deliver(web.event)

    assert result["outcome"] == "born-open"
    [alert] = fg.alerts()
    assert alert["missing_or_drifted_object"] == "IngressClassParams/fg-born"
    assert "drifted" in alert["born_open"]


def test_outside_born_protected_clusters_everything_is_as_today(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["other-*"]})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    born_class(prod, POLICY_CIDRS)
    at_width = prod.ingress("shop/api", ports=[443], ingress_class="fg-born")
    fg.reset_counts()

    assert fg.deliver(web.event)["outcome"] == "remediated"
    # Opt-in: a class at policy width elsewhere is still swapped, with no extra read.
    assert fg.deliver(at_width.event)["outcome"] == "remediated"
    assert fg.aws_calls["ec2.DescribeSecurityGroups"] == 2  # frontguard's SG, once per LB


def test_managed_sg_widened_by_hand_is_not_born_protected(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"]})
    prod = sandbox.cluster("prod")
    born_class(prod, POLICY_CIDRS)
    web = prod.ingress("shop/web", ports=[443], ingress_class="fg-born")
    managed = web.managed_sg_id
    sandbox.client("ec2").authorize_security_group_ingress(
        GroupId=managed,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )

    result = fg.deliver(web.event)

    assert result["outcome"] == "born-open"
    [alert] = fg.alerts()
    assert any("tcp/22 from 0.0.0.0/0" in e for e in alert["why_not_born_protected"])
    assert len(frontguard_groups(sandbox)) == 1


def test_exposure_is_measured_when_the_remediation_is_verified(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"], "notify_on_success": True})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    created = sandbox.client("elbv2").describe_load_balancers(LoadBalancerArns=[web.lb_arn])[
        "LoadBalancers"
    ][0]["CreatedTime"]
    assert created is not None

    result = fg.deliver(web.event)
    [born_open] = fg.alerts()
    prod.lbc.reconcile()
    [verification] = fg.run_verifications()

    assert result["outcome"] == "born-open"
    assert born_open["open_seconds_so_far"] >= 0
    assert verification.outcome == "verified"
    exposure = verification.data["exposure_seconds"]
    assert isinstance(exposure, float)
    assert exposure >= born_open["open_seconds_so_far"]
    [verified] = [a for a in fg.alerts() if a["outcome"] == "verified"]
    assert verified["exposure_seconds"] == exposure


def test_born_protected_exposure_is_zero(sandbox):
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"]})
    prod = sandbox.cluster("prod")
    born_class(prod, POLICY_CIDRS)
    web = prod.ingress("shop/web", ports=[443], ingress_class="fg-born")

    result = remediate_load_balancer(fg.runtime.engine, web.lb_arn)

    assert result.outcome.value == "born-protected"
    assert result.extra["exposure_seconds"] == 0.0


def test_service_without_the_mutating_policy_is_remediated_and_its_exposure_measured(sandbox):
    # Services have no class-level sources: on EKS < 1.36 (no MutatingAdmissionPolicy), or
    # where the policy is not applied, they are born open and repaired after the fact.
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod"], "notify_on_success": True})
    prod = sandbox.cluster("prod")
    born_class(prod, POLICY_CIDRS)  # Ingresses are covered; Services are not
    api = prod.service("shop/api", ports=[("TCP", 443)])

    result = fg.deliver(api.event)
    [born_open] = fg.alerts()
    prod.lbc.reconcile()
    [verification] = fg.run_verifications()

    assert result["outcome"] == "born-open"
    assert "MutatingAdmissionPolicy" in born_open["detail"]
    assert verification.outcome == "verified"
    assert verification.data["exposure_seconds"] >= born_open["open_seconds_so_far"] >= 0
    assert frontguard_groups(sandbox)  # frontguard's own SG replaced the world-open one
