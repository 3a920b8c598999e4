"""`frontguard render born-protected`: the objects validated against the Kubernetes client's
typed models, the controller's CRD fields, and their CEL evaluated by cel-python."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from frontguard import render
from frontguard.adapters.prefix_lists import PrefixList
from frontguard.controller.class_fields import INGRESS_CLASS_PARAMS_SPEC, LB_CONFIGURATION_SPEC
from frontguard.errors import ConfigurationError
from frontguard.policy import Policy
from kubernetes.client import ApiClient

from tests.admission import refusals


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


def admission(objects: list[dict[str, Any]], obj: dict[str, Any], groups=("devs",)) -> list[str]:
    """What the policy refuses (messages), as the API server would evaluate it
    (tests/admission.py: matchConditions, variables, every validation)."""
    [policy] = of_kind(objects, "ValidatingAdmissionPolicy")
    return refusals(policy, obj, tuple(groups))


INBOUND = "alb.ingress.kubernetes.io/inbound-cidrs"
INGRESS_SCHEME = "alb.ingress.kubernetes.io/scheme"
SERVICE_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"


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
        ingress({INGRESS_SCHEME: "internet-facing", INBOUND: "203.0.113.0/25"}),
        ingress({"alb.ingress.kubernetes.io/security-groups": "sg-0123456789abcdef0"}),
        service(["203.0.113.0/24"], annotations={SERVICE_SCHEME: "internet-facing"}),
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


# R2-4: CIDR semantics, not strings. Internet-facing in shop: rule-1's 203.0.113.0/24 and
# 2001:db8::/32; internal in shop: the default rule's VPC 10.0.0.0/16; payments: 10.20.0.0/16.
WORLD_SPELLINGS = [
    ["0.0.0.0/0"],
    ["::/0"],
    ["0::/0"],
    ["0:0:0:0:0:0:0:0/0"],
    ["0000:0000:0000:0000:0000:0000:0000:0000/0"],
    ["1.2.3.4/0"],  # host bits set: still /0
    ["0.0.0.0/1", "128.0.0.0/1"],  # a split cover of IPv4
    ["::/1", "8000::/1"],  # and of IPv6
    ["203.0.113.0/24", "0.0.0.0/1", "128.0.0.0/1"],  # a good range does not excuse the rest
]
OUTSIDE = [["198.51.100.0/24"], ["203.0.112.0/23"], ["2001:db9::/32"], ["10.0.0.0/16"]]
GARBAGE = [["not-a-cidr"], ["203.0.113.0"], ["203.0.113.0/33"], ["203.000.113.0/24"], [""]]
INSIDE = [
    ["203.0.113.0/24"],
    ["203.0.113.128/25"],
    ["203.0.113.7/32"],
    ["2001:db8::/32"],
    ["2001:0db8:0000::/48"],  # IPv6 spelled long
    ["2001:db8:0:0:0:0:0:1/128"],
    ["203.0.113.0/25", "2001:db8:ff::/48"],
]
PUBLIC = {"internet-facing"}


def _service_by_spec(ranges: list[str]) -> dict[str, Any]:
    return service(ranges, annotations={SERVICE_SCHEME: "internet-facing"})


def _service_by_annotation(ranges: list[str]) -> dict[str, Any]:
    return service(
        annotations={SERVICE_SCHEME: "internet-facing", SOURCE_RANGES: ", ".join(ranges)}
    )


def _ingress_of_another_class(ranges: list[str]) -> dict[str, Any]:
    return ingress(
        {INGRESS_SCHEME: "internet-facing", INBOUND: ",".join(ranges)}, ingress_class="legacy"
    )


SOURCES = {
    "loadBalancerSourceRanges": _service_by_spec,
    "load-balancer-source-ranges": _service_by_annotation,
    "inbound-cidrs": _ingress_of_another_class,
}


@pytest.fixture(scope="module")
def with_other_class() -> list[dict[str, Any]]:
    return render.born_protected(POLICY, "prod", OWNED, other_classes=["legacy"])


@pytest.mark.parametrize("field", list(SOURCES))
@pytest.mark.parametrize("ranges", WORLD_SPELLINGS + OUTSIDE + GARBAGE, ids=repr)
def test_every_range_outside_the_policy_is_refused_whatever_its_spelling(
    with_other_class, field, ranges
):
    messages = admission(with_other_class, SOURCES[field](ranges))
    assert len(messages) == 1
    assert messages[0].startswith(field)


@pytest.mark.parametrize("field", list(SOURCES))
@pytest.mark.parametrize("ranges", INSIDE, ids=repr)
def test_ranges_inside_the_policys_sources_are_admitted(with_other_class, field, ranges):
    assert admission(with_other_class, SOURCES[field](ranges)) == []


def test_the_allowed_ranges_follow_namespace_and_scheme(objects):
    internal = service(["10.0.4.0/24"])  # shop, internal: the VPC (default rule)
    assert admission(objects, internal) == []
    assert admission(objects, service(["203.0.113.0/24"])) != []  # a public rule's range
    payments = service(["10.20.1.0/24"])
    payments["metadata"]["namespace"] = "payments"
    assert admission(objects, payments) == []
    assert admission(objects, internal | {"metadata": payments["metadata"]}) != []


@pytest.mark.parametrize("version", [(1, 30), (1, 29)])
def test_clusters_without_cels_cidr_library_are_refused(version):
    with pytest.raises(ConfigurationError, match=r"1\.31"):
        render.born_protected(POLICY, "prod", OWNED, kubernetes_version=version)
