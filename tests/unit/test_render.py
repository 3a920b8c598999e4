"""`frontguard render born-protected`: the objects validated against the Kubernetes client's
typed models, the controller's CRD fields, and their CEL evaluated by cel-python."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import celpy
import pytest
from celpy.adapter import json_to_cel
from frontguard import render
from frontguard.adapters.prefix_lists import PrefixList
from frontguard.controller.class_fields import INGRESS_CLASS_PARAMS_SPEC, LB_CONFIGURATION_SPEC
from frontguard.errors import ConfigurationError
from frontguard.policy import Policy
from kubernetes.client import ApiClient


def typed(obj: Any, model: str) -> Any:
    """The body as the API server would send it, read into the client's typed model."""
    return ApiClient().deserialize(json.dumps(obj), model, "application/json")


POLICY = Policy.from_document(
    {
        "born_protected": ["prod"],
        "approved_security_groups": ["sg-0123456789abcdef0"],
        "rules": [
            {"namespace": "payments", "sources": ["10.20.0.0/16"]},
            {"scheme": "internet-facing", "sources": ["203.0.113.0/24", "2001:db8::/32"]},
        ],
        "default_sources": ["vpc"],
    }
)


def pl(key: str, id_: str, *entries: str) -> PrefixList:
    family = "IPv6" if ":" in entries[0] else "IPv4"
    return PrefixList(id_, f"frontguard-{key}", key, family, 10, 1, tuple(entries))


OWNED = {
    "*/rule-0/IPv4": pl("*/rule-0/IPv4", "pl-00000000000000001", "10.20.0.0/16"),
    "*/rule-1/IPv4": pl("*/rule-1/IPv4", "pl-00000000000000002", "203.0.113.0/24"),
    "*/rule-1/IPv6": pl("*/rule-1/IPv6", "pl-00000000000000003", "2001:db8::/32"),
    "prod/default/IPv4": pl("prod/default/IPv4", "pl-00000000000000004", "10.0.0.0/16"),
}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render.born_protected(POLICY, "prod", OWNED)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_ingress_class_params_carry_the_policy_and_frontguards_lists(objects):
    params = {o["metadata"]["name"]: o["spec"] for o in of_kind(objects, "IngressClassParams")}
    assert params["frontguard-rule-0"] == {
        "inboundCIDRs": ["10.20.0.0/16"],
        "prefixListsIDs": ["pl-00000000000000001"],
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["payments"]}
            ]
        },
    }
    assert params["frontguard-rule-1"]["inboundCIDRs"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert params["frontguard-rule-1"]["scheme"] == "internet-facing"
    # Rules after a namespace-specific one leave its namespace to it.
    assert params["frontguard-default"]["namespaceSelector"]["matchExpressions"][0] == {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["payments"],
    }
    assert params["frontguard-default"]["inboundCIDRs"] == ["10.0.0.0/16"]  # vpc, expanded


def check_fields(spec: dict[str, Any], catalog: dict[str, object]) -> None:
    for name, value in spec.items():
        kind = catalog[name]  # KeyError: a field the controller's CRD does not have
        if kind == "[]string":
            assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif kind == "LabelSelector":
            from kubernetes.client import V1LabelSelector

            selector = typed(value, "V1LabelSelector")
            assert isinstance(selector, V1LabelSelector)
            assert ApiClient().sanitize_for_serialization(selector) == value
        else:
            assert value in kind  # type: ignore[operator]


def test_controller_objects_use_only_the_crd_fields_with_their_types(objects):
    for params in of_kind(objects, "IngressClassParams"):
        assert params["apiVersion"] == "elbv2.k8s.aws/v1beta1"
        check_fields(params["spec"], INGRESS_CLASS_PARAMS_SPEC)
        assert params["spec"]["inboundCIDRs"]  # non-empty: annotations are ignored
        for cidr in params["spec"]["inboundCIDRs"]:
            ipaddress.ip_network(cidr)
    configs = of_kind(objects, "LoadBalancerConfiguration")
    assert configs
    for config in configs:
        assert config["apiVersion"] == "gateway.k8s.aws/v1"
        check_fields(config["spec"], LB_CONFIGURATION_SPEC)
        assert "sourceRanges" in config["spec"]  # nil would mean 0.0.0.0/0 and ::/0
        assert config["spec"]["mergingMode"] == "prefer-gateway-class"
        assert config["metadata"]["namespace"] == "frontguard-system"


def test_gateway_classes_reference_their_configuration(objects):
    configs = {o["metadata"]["name"] for o in of_kind(objects, "LoadBalancerConfiguration")}
    for gateway_class in of_kind(objects, "GatewayClass"):
        ref = gateway_class["spec"]["parametersRef"]
        assert ref["group"] == "gateway.k8s.aws"
        assert ref["kind"] == "LoadBalancerConfiguration"
        assert ref["name"] in configs
        assert ref["namespace"] == "frontguard-system"  # mandatory for class-level configs


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("IngressClass", "V1IngressClass"),
        ("ValidatingAdmissionPolicy", "V1ValidatingAdmissionPolicy"),
        ("ValidatingAdmissionPolicyBinding", "V1ValidatingAdmissionPolicyBinding"),
    ],
)
def test_kubernetes_objects_round_trip_through_the_typed_models(objects, kind, model):
    client = ApiClient()
    for obj in of_kind(objects, kind):
        # Unknown fields would be dropped and wrong types rejected: the round trip is exact.
        assert client.sanitize_for_serialization(typed(obj, model)) == obj


def test_binding_warns_by_default_and_denies_by_choice(objects):
    [binding] = of_kind(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == ["Warn"]
    denied = render.born_protected(POLICY, "prod", OWNED, deny=True)
    [binding] = of_kind(denied, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == ["Deny"]


def test_missing_prefix_lists_are_a_clear_error():
    with pytest.raises(ConfigurationError, match="prefix lists for rule-0 of cluster prod"):
        render.born_protected(POLICY, "prod", {})


# --- CEL ------------------------------------------------------------------------------------

ENV = celpy.Environment()


def admission(objects: list[dict[str, Any]], obj: dict[str, Any], groups=("devs",)) -> list[str]:
    """What the policy refuses (messages), as the API server would evaluate it: matchConditions
    first, then every validation."""
    [policy] = of_kind(objects, "ValidatingAdmissionPolicy")
    activation = {
        "object": json_to_cel(obj),
        "request": json_to_cel(
            {"kind": {"kind": obj["kind"]}, "userInfo": {"groups": list(groups)}}
        ),
    }

    def evaluate(expression: str) -> bool:
        return bool(ENV.program(ENV.compile(expression)).evaluate(activation))

    if not all(evaluate(c["expression"]) for c in policy["spec"]["matchConditions"]):
        return []
    return [v["message"] for v in policy["spec"]["validations"] if not evaluate(v["expression"])]


def ingress(
    annotations: dict[str, str] | None = None, ingress_class: str | None = "frontguard-rule-1"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": []}
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations or {}},
        "spec": spec,
    }


def service(ranges=None, annotations=None, type_="LoadBalancer") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": [{"port": 443}]}
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "shop", "annotations": annotations or {}},
        "spec": spec,
    }


@pytest.mark.parametrize(
    "obj",
    [
        ingress(),
        ingress({"alb.ingress.kubernetes.io/inbound-cidrs": "203.0.113.0/25"}),
        ingress({"alb.ingress.kubernetes.io/security-groups": "sg-0123456789abcdef0"}),
        service(["203.0.113.0/24"]),
        service(),
        service(["0.0.0.0/0"], type_="ClusterIP"),  # no load balancer: not matched
    ],
)
def test_allowed(objects, obj):
    assert admission(objects, obj) == []


@pytest.mark.parametrize(
    ("obj", "refusal"),
    [
        (ingress(ingress_class=None), "governed IngressClass"),
        (ingress(ingress_class="alb"), "governed IngressClass"),
        (
            ingress({"alb.ingress.kubernetes.io/inbound-cidrs": "10.0.0.0/8, 0.0.0.0/0"}),
            "inbound-cidrs",
        ),
        (ingress({"alb.ingress.kubernetes.io/inbound-cidrs": "::/0"}), "inbound-cidrs"),
        (
            ingress(
                {
                    "alb.ingress.kubernetes.io/security-groups": "sg-0123456789abcdef0,sg-0fffffffffffffff0"
                }
            ),
            "security-groups",
        ),
        (ingress({"alb.ingress.kubernetes.io/security-groups": "my-own-sg"}), "security-groups"),
        (service(["10.0.0.0/8", "0.0.0.0/0"]), "loadBalancerSourceRanges"),
        (
            service(
                annotations={"service.beta.kubernetes.io/load-balancer-source-ranges": "0.0.0.0/0"}
            ),
            "load-balancer-source-ranges",
        ),
        (
            service(
                annotations={
                    "service.beta.kubernetes.io/aws-load-balancer-security-groups": "sg-0fffffffffffffff0"
                }
            ),
            "aws-load-balancer-security-groups",
        ),
    ],
)
def test_refused(objects, obj, refusal):
    messages = admission(objects, obj)
    assert len(messages) == 1
    assert refusal in messages[0]


def test_frontguards_own_patches_are_not_matched(objects):
    patched = ingress({"alb.ingress.kubernetes.io/security-groups": "sg-0aaaaaaaaaaaaaaa0"})
    assert admission(objects, patched)
    assert admission(objects, patched, groups=("frontguard", "system:authenticated")) == []


def test_other_controllers_classes_can_be_let_through():
    objects = render.born_protected(POLICY, "prod", OWNED, other_classes=["nginx"])
    assert admission(objects, ingress(ingress_class="nginx")) == []
