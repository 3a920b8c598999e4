"""Gateway API and EKS Auto Mode load balancers, end to end through the sandbox.

A Gateway's SGs come from its LoadBalancerConfiguration (frontguard patches or creates the
Gateway's own, never the class-level one); Auto Mode's LBs are reported, and remediated only
behind ``remediate_auto_mode``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from frontguard.engine.scan import scan
from frontguard.model import Outcome

from sandbox import Sandbox
from sandbox.kube import GATEWAYS
from sandbox.scenario import Cluster, Owned
from sandbox.wiring import ENFORCE, Frontguard, wire
from tests.integration.test_events import frontguard_groups, inbound

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
POLICY_SOURCES = ("203.0.113.0/24", "198.51.100.0/24")


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


@pytest.fixture
def prod(sandbox: Sandbox) -> Cluster:
    return sandbox.cluster("prod")


def gateway_of(gw: Owned) -> dict[str, Any]:
    namespace, name = gw.refs[0]
    found = gw.cluster.kube.get_object(GATEWAYS, namespace, name)
    assert found is not None
    return found


def parameters_ref(gw: Owned) -> dict[str, Any] | None:
    ref: dict[str, Any] | None = (gateway_of(gw)["spec"].get("infrastructure") or {}).get(
        "parametersRef"
    )
    return ref


def state(sandbox: Sandbox, owned: Owned) -> tuple[Any, ...]:
    """What an untouched load balancer must keep: its SGs, its owner, the SGs' rules."""
    return (
        sorted(owned.security_groups()),
        [
            {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
            for obj in owned.objects
        ],
        {g: inbound(sandbox, g) for g in owned.security_groups()},
    )


@pytest.mark.parametrize("lb", ["alb", "nlb"])
def test_gateway_without_configuration_is_remediated_through_a_new_configuration(
    sandbox, fg, prod, lb
):
    ports = [443] if lb == "alb" else [5432]
    gw = prod.gateway("edge/public", lb=lb, ports=ports)
    managed = gw.managed_sg_id

    result = fg.deliver(gw.event)

    assert result["outcome"] == "remediated", result
    [group] = frontguard_groups(sandbox)
    sg = group["GroupId"]
    # An internal LB without a rule of its own gets the policy default: the VPC's CIDR.
    assert inbound(sandbox, sg) == {("tcp", ports[0], prod.vpc_cidr)}
    config = prod.configuration("edge/frontguard-public")
    assert config is not None
    assert config["spec"] == {"securityGroups": [sg], "manageBackendSecurityGroupRules": True}
    replaced = json.loads(config["metadata"]["annotations"]["frontguard.io/replaced"])
    assert replaced["created"] is True
    assert parameters_ref(gw) == {
        "group": "gateway.k8s.aws",
        "kind": "LoadBalancerConfiguration",
        "name": "frontguard-public",
    }
    assert gateway_of(gw)["spec"]["listeners"][0]["port"] == ports[0]  # untouched
    [alert] = fg.alerts()
    assert alert["outcome"] == "remediated"
    assert alert["owner"]["kind"] == "gateway" and alert["owner"]["name"] == "public"

    prod.lbc.reconcile()
    assert sg in gw.security_groups() and managed not in gw.security_groups()
    assert [v.outcome for v in fg.run_verifications()] == ["verified"]

    fg.reset_counts()
    assert fg.deliver(copy.deepcopy(gw.event))["outcome"] == "compliant"
    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_gateway_configuration_is_patched_in_place_other_fields_untouched(
    sandbox, fg, prod, version
):
    own = {
        "scheme": "internet-facing",
        "loadBalancerAttributes": [{"key": "idle_timeout.timeout_seconds", "value": "120"}],
        "listenerConfigurations": [
            {"protocolPort": "HTTPS:443", "defaultCertificate": "arn:aws:acm:eu-west-1:1:cert/x"}
        ],
    }
    gw = prod.gateway("edge/public", ports=[443], config=own, config_version=version)
    before_ref = parameters_ref(gw)

    assert fg.deliver(gw.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    config = prod.configuration("edge/public-config")
    assert config is not None and config["apiVersion"] == f"gateway.k8s.aws/{version}"
    assert config["spec"] == {
        **own,
        "securityGroups": [group["GroupId"]],
        "manageBackendSecurityGroupRules": True,
    }
    assert json.loads(config["metadata"]["annotations"]["frontguard.io/replaced"]) == {
        "spec.securityGroups": None,
        "spec.manageBackendSecurityGroupRules": None,
    }
    assert parameters_ref(gw) == before_ref
    assert prod.configuration("edge/frontguard-public") is None
    assert inbound(sandbox, group["GroupId"]) == {("tcp", 443, s) for s in POLICY_SOURCES}
    prod.lbc.reconcile()
    assert group["GroupId"] in gw.security_groups()


def test_class_level_security_groups_are_reported_as_conflict_not_fought(sandbox, fg, prod):
    platform = sandbox.client("ec2").create_security_group(
        GroupName="platform", Description="platform", VpcId=prod.vpc_id
    )["GroupId"]
    gw = prod.gateway(
        "edge/public",
        ports=[443],
        config={"scheme": "internet-facing"},
        class_config={"securityGroups": [platform]},
    )
    before = state(sandbox, gw)
    fg.reset_counts()

    result = fg.deliver(gw.event)

    assert result["outcome"] == "conflict"
    [alert] = fg.alerts()
    assert alert["outcome"] == "conflict"
    assert "GatewayClass" in alert["detail"] and platform in alert["detail"]
    assert "gateway-system/edge-public-config" in alert["fix"]
    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    assert state(sandbox, gw) == before


def test_configuration_source_ranges_narrow_the_sg(sandbox, fg, prod):
    gw = prod.gateway(
        "edge/admin",
        ports=[443],
        config={
            "scheme": "internet-facing",
            "sourceRanges": ["203.0.113.10/32", "192.0.2.0/24"],
        },
    )

    assert fg.deliver(gw.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    # 203.0.113.10/32 lies inside the policy; 192.0.2.0/24 is beyond it: reported, not admitted.
    assert inbound(sandbox, group["GroupId"]) == {("tcp", 443, "203.0.113.10/32")}
    [alert] = fg.alerts()
    assert alert["beyond_policy"] == ["192.0.2.0/24"]
    config = prod.configuration("edge/admin-config")
    assert config is not None
    assert config["spec"]["sourceRanges"] == ["203.0.113.10/32", "192.0.2.0/24"]  # untouched


def test_auto_mode_alb_is_reported_with_planned_rules_and_left_untouched_by_default(
    sandbox, fg, prod
):
    web = prod.auto_mode_ingress("shop/auto", ports=[443])
    before = state(sandbox, web)
    fg.reset_counts()

    result = fg.deliver(web.event)

    assert result["outcome"] == "audit-finding", result
    [alert] = fg.alerts()
    assert alert["outcome"] == "audit-finding"
    assert alert["owner"]["auto_mode"] is True
    assert alert["planned_rules"] == [f"tcp/443 from {s}" for s in sorted(POLICY_SOURCES)]
    assert "remediate_auto_mode" in alert["fix"]
    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    assert not frontguard_groups(sandbox)
    assert state(sandbox, web) == before


def test_auto_mode_alb_is_remediated_when_the_policy_switch_is_on(sandbox, prod):
    fg = wire(sandbox, {**ENFORCE, "remediate_auto_mode": True})
    web = prod.auto_mode_ingress("shop/auto", ports=[443])

    assert fg.deliver(web.event)["outcome"] == "remediated"

    [group] = frontguard_groups(sandbox)
    annotations = web.object["metadata"]["annotations"]
    assert annotations[INGRESS_SG] == group["GroupId"]
    assert annotations[INGRESS_BACKEND] == "true"
    prod.lbc.reconcile()
    assert group["GroupId"] in web.security_groups()


def test_scan_classifies_gateway_and_auto_mode_load_balancers(sandbox, prod):
    gw = prod.gateway("edge/public", ports=[443], config={"scheme": "internet-facing"})
    auto = prod.auto_mode_ingress("shop/auto", ports=[443])
    audit = wire(sandbox, {**ENFORCE, "mode": "audit"})

    report = scan(audit.runtime.engine)

    outcomes = {item.load_balancer_arn: item.outcome for item in report.items}
    assert outcomes == {gw.lb_arn: Outcome.AUDIT_FINDING, auto.lb_arn: Outcome.AUDIT_FINDING}

    enforce = wire(sandbox, ENFORCE)
    first = scan(enforce.runtime.engine)
    assert {i.load_balancer_arn: i.outcome for i in first.items} == {
        gw.lb_arn: Outcome.REMEDIATED,
        auto.lb_arn: Outcome.AUDIT_FINDING,
    }
    prod.lbc.reconcile()
    again = scan(enforce.runtime.engine)
    assert {i.load_balancer_arn: i.outcome for i in again.items}[gw.lb_arn] is Outcome.COMPLIANT


def test_verification_fails_with_advice_when_the_configuration_is_reverted(sandbox, fg, prod):
    gw = prod.gateway("edge/public", ports=[443], config={"scheme": "internet-facing"})
    assert fg.deliver(gw.event)["outcome"] == "remediated"
    [group] = frontguard_groups(sandbox)
    prod.kube.patch_object(
        "gateway.k8s.aws/v1/loadbalancerconfigurations",
        "edge",
        "public-config",
        {"spec": {"securityGroups": None, "manageBackendSecurityGroupRules": None}},
    )
    prod.lbc.reconcile()

    results = fg.run_verifications()

    assert results[-1].outcome == "verification-failed"
    kinds = {f.kind.value for f in results[-1].findings}
    assert {"security-group-not-attached", "managed-security-group-attached"} <= kinds
    assert "annotation-reverted" in kinds
    alert = next(a for a in fg.alerts() if a["outcome"] == "verification-failed")
    assert "spec.securityGroups" in alert["fix"] and group["GroupId"] in alert["fix"]
