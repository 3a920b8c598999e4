"""Fail-closed mode's pre-load-balancer SG: its name, its proof, its recognition on a load
balancer, and the controller's rules it is planned from (pure; no servers)."""

from __future__ import annotations

from typing import Any

import pytest
from frontguard.adapters.aws import (
    PRE_LB_DESCRIPTION,
    PreLoadBalancerKey,
    SecurityGroup,
    pre_lb_ownership_problem,
    pre_lb_security_group_name,
    split_ownership,
)
from frontguard.controller.ingress import ClassifiedIngress, group_listen_ports, group_scheme
from frontguard.controller.objects import AnnotationError
from frontguard.controller.service import service_listen_ports, service_scheme

KEY = PreLoadBalancerKey("prod", "ingress.k8s.aws/stack", "shop/web")
LB = "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/k8s-shop-web/abc"


def pre_lb(
    group_id: str = "sg-pre",
    *,
    key: PreLoadBalancerKey = KEY,
    name: str | None = None,
    description: str = PRE_LB_DESCRIPTION + " (x)",
    vpc: str = "vpc-1",
) -> SecurityGroup:
    return SecurityGroup(
        id=group_id,
        name=name if name is not None else pre_lb_security_group_name(key),
        vpc_id=vpc,
        tags={
            "frontguard.io/managed-by": "frontguard",
            "frontguard.io/stack": key.marker,
            "frontguard.io/cluster": key.cluster,
        },
        rules=frozenset(),
        description=description,
    )


def test_the_name_is_derived_from_cluster_and_stack_alone():
    assert pre_lb_security_group_name(KEY) == pre_lb_security_group_name(
        PreLoadBalancerKey("prod", "ingress.k8s.aws/stack", "shop/web")
    )
    others = {
        pre_lb_security_group_name(PreLoadBalancerKey("staging", KEY.stack_tag, KEY.stack)),
        pre_lb_security_group_name(PreLoadBalancerKey("prod", "service.k8s.aws/stack", KEY.stack)),
        pre_lb_security_group_name(PreLoadBalancerKey("prod", KEY.stack_tag, "shop/api")),
    }
    assert pre_lb_security_group_name(KEY) not in others and len(others) == 3
    assert len(pre_lb_security_group_name(KEY)) <= 255


def test_proof_needs_the_derived_name_frontguards_description_and_the_vpc():
    assert pre_lb_ownership_problem(pre_lb(), KEY, "vpc-1") is None
    assert pre_lb_ownership_problem(pre_lb()) is None  # from its own tags (clean-up)
    assert "name" in (pre_lb_ownership_problem(pre_lb(name="frontguard-prelb-x"), KEY) or "")
    assert "description" in (pre_lb_ownership_problem(pre_lb(description="frontguard"), KEY) or "")
    assert "VPC" in (pre_lb_ownership_problem(pre_lb(), KEY, "vpc-2") or "")
    other = PreLoadBalancerKey("prod", KEY.stack_tag, "shop/api")
    assert pre_lb_ownership_problem(pre_lb(key=other), KEY) == "its tags name another stack"


def test_an_lb_recognises_its_pre_lb_sg_only_when_it_carries_it_and_it_is_proven():
    lookup = split_ownership([pre_lb()], LB, "vpc-1", pre_lb=KEY, attached=("sg-pre", "sg-b"))
    assert lookup.group is not None and lookup.group.id == "sg-pre" and lookup.impostors == ()

    not_carried = split_ownership([pre_lb()], LB, "vpc-1", pre_lb=KEY, attached=("sg-b",))
    assert not_carried.group is None and not_carried.impostors == ()

    fake = pre_lb(description="open door")
    refused = split_ownership([fake], LB, "vpc-1", pre_lb=KEY, attached=("sg-pre",))
    assert refused.group is None and [p for _, p in refused.impostors] == [
        "its description is not frontguard's"
    ]
    elsewhere = split_ownership([pre_lb()], LB, "vpc-2", pre_lb=KEY, attached=("sg-pre",))
    assert elsewhere.group is None and len(elsewhere.impostors) == 1


def ingress(annotations: dict[str, str], params: dict[str, Any] | None = None) -> ClassifiedIngress:
    obj = {"metadata": {"namespace": "shop", "name": "web", "annotations": annotations}}
    return ClassifiedIngress(obj, True, "", {"spec": params} if params else None)


def test_ingress_group_ports_and_scheme_as_the_controller_builds_them():
    a = ingress({"alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]'})
    b = ingress({"alb.ingress.kubernetes.io/certificate-arn": "arn:cert"})
    assert group_listen_ports([a, b]) == {443: "HTTPS"}
    assert group_listen_ports([ingress({})]) == {80: "HTTP"}
    with pytest.raises(AnnotationError, match="conflicting protocol"):
        group_listen_ports(
            [a, ingress({"alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 443}]'})]
        )
    assert group_scheme([ingress({})]) == "internal"
    public = {"alb.ingress.kubernetes.io/scheme": "internet-facing"}
    assert group_scheme([ingress(public)]) == "internet-facing"
    assert group_scheme([ingress(public, {"scheme": "internal"})]) == "internal"  # params win
    with pytest.raises(AnnotationError, match="conflicting scheme"):
        group_scheme([ingress(public), ingress({"alb.ingress.kubernetes.io/scheme": "internal"})])


def test_service_ports_merge_tcp_and_udp_and_the_scheme_defaults_to_internal():
    service = {
        "metadata": {"namespace": "shop", "name": "dns", "annotations": {}},
        "spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}, {"port": 443}]},
    }
    assert service_listen_ports(service) == {53: "TCP_UDP", 443: "TCP"}
    assert service_scheme(service) == "internal"
    legacy = {
        "metadata": {
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-internal": "false"}
        }
    }
    assert service_scheme(legacy) == "internet-facing"
