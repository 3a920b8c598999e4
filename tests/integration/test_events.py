"""The event path end to end: CloudTrail event → frontguard → annotations → the controller."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, Frontguard, state_snapshot, wire

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
SERVICE_SG = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
SERVICE_BACKEND = "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules"


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


def inbound(sandbox: Sandbox, group_id: str) -> set[tuple[str, int, str]]:
    group = sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    rules = set()
    for permission in group["IpPermissions"]:
        for source in (
            [r["CidrIp"] for r in permission.get("IpRanges", [])]
            + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
            + [p["PrefixListId"] for p in permission.get("PrefixListIds", [])]
        ):
            rules.add((permission["IpProtocol"], permission["FromPort"], source))
    return rules


def frontguard_groups(sandbox: Sandbox) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["SecurityGroups"]
    return groups


def test_internet_facing_alb_gets_policy_sg_through_the_controller(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", scheme="internet-facing", ports=[80, 443])
    managed = web.managed_sg_id
    fg.reset_counts()

    result = fg.deliver(web.event)

    assert result["outcome"] == "remediated"
    [group] = frontguard_groups(sandbox)
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["frontguard.io/load-balancer"] == web.lb_arn
    assert not any(k.startswith(("elbv2.k8s.aws", "ingress.k8s.aws")) for k in tags)
    assert inbound(sandbox, group["GroupId"]) == {
        ("tcp", port, cidr) for port in (80, 443) for cidr in ("203.0.113.0/24", "198.51.100.0/24")
    }
    annotations = web.object["metadata"]["annotations"]
    assert annotations[INGRESS_SG] == group["GroupId"]
    assert annotations[INGRESS_BACKEND] == "true"
    assert json.loads(annotations["frontguard.io/replaced"]) == {
        INGRESS_SG: None,
        INGRESS_BACKEND: None,
    }
    [request] = fg.verification_requests()
    assert request["security_group_id"] == group["GroupId"]
    [alert] = fg.alerts()
    assert alert["outcome"] == "remediated"
    assert alert["owner"]["namespace"] == "shop" and alert["cluster"] == "prod"
    assert len(alert["subject"]) <= 100

    # API budget (issue 3): at most 12 AWS calls and 2 + members Kubernetes calls.
    assert sum(fg.aws_calls.values()) <= 12, fg.aws_calls
    assert sum(fg.kube_calls().values()) <= 3, fg.kube_calls()

    prod.lbc.reconcile()
    on_lb = web.security_groups()
    assert group["GroupId"] in on_lb
    assert managed not in on_lb
    assert not sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-id", "Values": [managed]}]
    )["SecurityGroups"]


def test_second_delivery_of_the_same_event_makes_no_mutating_call(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    fg.reset_counts()
    alerts_before = len(fg.alerts())

    result = fg.deliver(copy.deepcopy(web.event))

    assert result["outcome"] == "compliant"
    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    assert len(fg.alerts()) == alerts_before
    assert len(frontguard_groups(sandbox)) == 1


def test_owner_inbound_cidrs_narrow_the_sg(sandbox, fg):
    prod = sandbox.cluster("prod")
    narrow = prod.ingress(
        "shop/admin", ports=[443], inbound_cidrs=["203.0.113.10/32", "192.0.2.0/24"]
    )

    assert fg.deliver(narrow.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    # 203.0.113.10/32 lies inside the policy; 192.0.2.0/24 is beyond it: reported, not admitted.
    assert inbound(sandbox, group["GroupId"]) == {("tcp", 443, "203.0.113.10/32")}
    [alert] = fg.alerts()
    assert alert["beyond_policy"] == ["192.0.2.0/24"]


def test_owner_sources_all_outside_the_policy_admit_nothing_and_say_why(sandbox, fg):
    prod = sandbox.cluster("prod")
    partner = prod.service("shop/partner", ports=[("TCP", 443)], source_ranges=["192.0.2.0/24"])

    assert fg.deliver(partner.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    assert inbound(sandbox, group["GroupId"]) == set()  # never widened to make traffic flow
    [alert] = fg.alerts()
    assert alert["beyond_policy"] == ["192.0.2.0/24"]
    assert "admits nothing" in alert["warning"]


def test_service_source_ranges_narrow_the_sg_and_udp_listeners_get_udp_rules(sandbox, fg):
    prod = sandbox.cluster("prod")
    dns = prod.service("infra/dns", ports=[("UDP", 53), ("TCP", 443)], source_ranges=["0.0.0.0/0"])

    assert fg.deliver(dns.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    assert inbound(sandbox, group["GroupId"]) == {
        (protocol, port, cidr)
        for protocol, port in (("udp", 53), ("tcp", 443))
        for cidr in ("203.0.113.0/24", "198.51.100.0/24")
    }
    annotations = dns.object["metadata"]["annotations"]
    assert annotations[SERVICE_SG] == group["GroupId"]
    assert annotations[SERVICE_BACKEND] == "true"


def test_ingress_group_members_across_namespaces_get_identical_values(sandbox, fg):
    prod = sandbox.cluster("prod")
    shared = prod.ingress_group("shared", members=["team-a/one", "team-b/two"], ports=[443])
    fg.reset_counts()

    assert fg.deliver(shared.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    values = {obj["metadata"]["annotations"][INGRESS_SG] for obj in shared.objects}
    assert values == {group["GroupId"]}
    assert len(shared.objects) == 2
    assert sum(fg.kube_calls().values()) <= 2 + 2, fg.kube_calls()
    prod.lbc.reconcile()
    assert group["GroupId"] in shared.security_groups()
    assert shared.warnings() == []


def test_ingress_group_named_by_ingress_class_params(sandbox, fg):
    prod = sandbox.cluster("prod")
    shared = prod.ingress_group("platform", members=["a/one", "b/two"], via_params=True)

    assert fg.deliver(shared.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    assert {o["metadata"]["annotations"][INGRESS_SG] for o in shared.objects} == {group["GroupId"]}


def test_sg_less_nlb_needs_recreation_and_nothing_changes(sandbox, fg):
    prod = sandbox.cluster("prod")
    legacy = prod.service("legacy/api", ports=[("TCP", 443)], security_groups=False)
    fg.reset_counts()

    assert fg.deliver(legacy.event)["outcome"] == "needs-recreation"

    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    [alert] = fg.alerts()
    assert alert["outcome"] == "needs-recreation"
    assert "kubectl delete" in alert["fix"] and "never deletes" in alert["fix"]


def test_service_exempt_by_the_policy_is_skipped(sandbox):
    exemption = {
        "cluster": "prod",
        "namespace": "shop",
        "kind": "service",
        "name": "vip",
        "reason": "SEC-42",
        "approved_by": "platform-security",
        "expires": "2099-12-31",
    }
    fg = wire(sandbox, {**ENFORCE, "exemptions": [exemption]})
    prod = sandbox.cluster("prod")
    vip = prod.service("shop/vip")
    fg.reset_counts()

    assert fg.deliver(vip.event)["outcome"] == "exempt"

    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    assert fg.alerts() == []


def test_object_no_longer_handled_by_the_controller_is_skipped(sandbox, fg):
    prod = sandbox.cluster("prod")
    svc = prod.service("shop/api", handled_by="annotation")
    svc.annotate({"service.beta.kubernetes.io/aws-load-balancer-type": None})

    assert fg.deliver(svc.event)["outcome"] == "not-controller-handled"
    assert frontguard_groups(sandbox) == []


def test_load_balancer_not_made_by_the_controller_is_ignored(sandbox, fg):
    foreign = sandbox.foreign_load_balancer("terraform-lb")
    fg.reset_counts()

    result = fg.deliver(foreign.event)

    assert result["outcome"] == "ignored"
    assert fg.mutating_aws_calls() == {}
    assert fg.alerts() == []


def test_cluster_not_selected_by_policy_is_ignored(sandbox):
    fg = wire(sandbox, {**ENFORCE, "clusters": ["prod-*"]})
    dev = sandbox.cluster("dev")
    web = dev.ingress("shop/web")

    assert fg.deliver(web.event)["outcome"] == "ignored"
    assert frontguard_groups(sandbox) == []


def test_gitops_managed_owner_gets_an_alert_with_the_annotations_to_commit(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress(
        "shop/web",
        annotations={"argocd.argoproj.io/tracking-id": "shop:networking.k8s.io/Ingress:shop/web"},
    )

    assert fg.deliver(web.event)["outcome"] == "gitops-pending"

    [group] = frontguard_groups(sandbox)
    assert INGRESS_SG not in web.object["metadata"]["annotations"]
    [alert] = fg.alerts()
    assert alert["outcome"] == "gitops-pending"
    assert f'{INGRESS_SG}: "{group["GroupId"]}"' in alert["fix"]
    assert f'{INGRESS_BACKEND}: "true"' in alert["fix"]


def test_gitops_policy_patch_patches_anyway(sandbox):
    fg = wire(sandbox, {**ENFORCE, "gitops": "patch"})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", labels={"kustomize.toolkit.fluxcd.io/name": "shop"})

    assert fg.deliver(web.event)["outcome"] == "remediated"
    assert INGRESS_SG in web.object["metadata"]["annotations"]


def test_frontend_nlb_sharing_the_albs_sgs_is_protected_through_the_alb(sandbox, fg):
    """Without frontend-nlb-security-groups the NLB carries the ALB's SGs (issue 12,
    docs/controller-rules.md): its own event changes nothing, the ALB's remediation covers it."""
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443], frontend_nlb=True)
    nlb = web.frontend_nlb
    assert nlb is not None

    assert fg.deliver(nlb.event)["outcome"] == "ignored"
    assert frontguard_groups(sandbox) == []
    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()

    annotations = web.object["metadata"]["annotations"]
    [group] = frontguard_groups(sandbox)
    assert annotations[INGRESS_SG] == group["GroupId"]
    assert "alb.ingress.kubernetes.io/frontend-nlb-security-groups" not in annotations
    assert group["GroupId"] in web.security_groups(nlb.arn)
    assert fg.deliver(nlb.event)["outcome"] == "compliant"


def test_audit_mode_leaves_aws_and_kubernetes_state_unchanged(sandbox):
    fg = wire(sandbox, {**ENFORCE, "mode": "audit"})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[80, 443])

    def snapshot():
        return state_snapshot(sandbox, prod)

    before = snapshot()
    fg.reset_counts()
    result = fg.deliver(web.event)

    assert result["outcome"] == "audit-finding"
    assert snapshot() == before
    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    [alert] = fg.alerts()
    assert alert["outcome"] == "audit-finding"
    assert "tcp/443 from 203.0.113.0/24" in alert["planned_rules"]
    assert INGRESS_SG in alert["planned_annotations"]["shop/web"]


def test_plan_beyond_the_rules_per_sg_limit_is_refused_with_an_alert(sandbox):
    fg = wire(sandbox, {**ENFORCE, "max_rules_per_security_group": 3})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[80, 443])

    assert fg.deliver(web.event)["outcome"] == "error"

    assert frontguard_groups(sandbox) == []
    [alert] = fg.alerts()
    assert "more than the 3" in alert["detail"]


def test_malformed_event_is_logged_and_dropped_without_crashing(sandbox, fg, caplog):
    event = {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "x"}}
    assert fg.deliver(event)["outcome"] == "ignored"
    broken = {"detail-type": "AWS API Call via CloudTrail"}
    result = fg.deliver(broken)
    assert result["outcome"] == "invalid-event"
    assert "detail" in result["reason"]
    assert any("malformed input rejected" in r.getMessage() for r in caplog.records)


def test_event_path_alert_names_the_actor_and_detected_by(sandbox, fg):
    """Issue 22 item 2: the event path's alert says who made the call frontguard answered
    (CloudTrail userIdentity.arn) and that the event detected it."""
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/actor", scheme="internet-facing", ports=[443])
    caller = web.event["detail"]["userIdentity"]["arn"]

    assert fg.deliver(web.event)["outcome"] == "remediated"

    [alert] = fg.alerts()
    assert alert["outcome"] == "remediated"
    assert alert["actor"] == caller and caller.startswith("arn:aws:sts::")
    assert alert["detected_by"] == "event"
