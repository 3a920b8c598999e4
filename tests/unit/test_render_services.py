"""The MutatingAdmissionPolicy for Services (`frontguard render born-protected`, Kubernetes
≥ 1.36): validated through the kubernetes client's typed models, and its CEL evaluated by
cel-python against sample Services.

What cel-python evaluates here (tests/admission.py): every matchCondition, both variables
(``scheme``, ``prefixLists``) and the whole JSONPatch mutation expression, in the API server's
order (matchConditions, then variables, then the mutation). ``JSONPatch{...}`` is bound to a
plain message constructor, because cel-python has no Kubernetes type provider; the operations
it produces are then applied to the sample Service with the ``jsonpatch`` library (RFC 6902,
RFC 6901 pointer escaping), and the result is loaded into the typed ``V1Service`` model and
read back with frontguard's own reading of the controller's Service rules.

What is not evaluated: the API server's compile-time type check (cel-go with Kubernetes' type
provider, cost limits), ``matchConstraints`` (asserted as data: services, CREATE and UPDATE),
and the order against the controller's own Service webhook (reasoned in the module's
docstring and docs/born-protected.md, not observed). No admission runs in the sandbox.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
from frontguard import render
from frontguard.adapters.prefix_lists import PrefixList
from frontguard.controller.service import service_restrictions
from frontguard.errors import ConfigurationError
from frontguard.policy import Policy
from frontguard.render_services import (
    glob_regex,
    parse_kubernetes_version,
    version_note,
)
from kubernetes.client import ApiClient

from tests import admission

PREFIX_LISTS = "service.beta.kubernetes.io/aws-load-balancer-security-group-prefix-lists"
SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"

POLICY_DOCUMENT: dict[str, Any] = {
    "born_protected": ["prod"],
    "rules": [
        {"namespace": "payments", "sources": ["10.20.0.0/16"]},
        {"namespace": "team-*", "kind": "service", "sources": ["198.51.100.0/24"]},
        {"namespace": "legacy", "sources": ["sg-0aaaaaaaaaaaaaaa0"]},  # SG only: no list
        {"namespace": "shop", "kind": "ingress", "sources": ["192.0.2.0/24"]},
        {"scheme": "internet-facing", "sources": ["203.0.113.0/24", "2001:db8::/32"]},
    ],
    "default_sources": ["vpc"],
    "exemptions": [
        {
            "kind": "service",
            "cluster": "prod",
            "namespace": "shop",
            "name": "vip",
            "reason": "SEC-42: partner VPN",
            "approved_by": "platform-security",
            "expires": "2099-12-31",
        }
    ],
}
POLICY = Policy.from_document(POLICY_DOCUMENT)


def pl(key: str, id_: str, *entries: str) -> PrefixList:
    family = "IPv6" if ":" in entries[0] else "IPv4"
    return PrefixList(id_, f"frontguard-{key}", key, family, 10, 1, tuple(entries))


OWNED = {
    "*/rule-0/IPv4": pl("*/rule-0/IPv4", "pl-00000000000000001", "10.20.0.0/16"),
    "*/rule-1/IPv4": pl("*/rule-1/IPv4", "pl-00000000000000005", "198.51.100.0/24"),
    "*/rule-3/IPv4": pl("*/rule-3/IPv4", "pl-00000000000000006", "192.0.2.0/24"),
    "*/rule-4/IPv4": pl("*/rule-4/IPv4", "pl-00000000000000002", "203.0.113.0/24"),
    "*/rule-4/IPv6": pl("*/rule-4/IPv6", "pl-00000000000000003", "2001:db8::/32"),
    "prod/default/IPv4": pl("prod/default/IPv4", "pl-00000000000000004", "10.0.0.0/16"),
}
VIEWS = {v.rule: v for v in render._rules_for(POLICY, "prod", OWNED)}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render.born_protected(POLICY, "prod", OWNED, kubernetes_version=(1, 36))


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def typed(obj: Any, model: str) -> Any:
    return ApiClient().deserialize(json.dumps(obj), model, "application/json")


# --- version gate and shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "rendered"),
    [(None, False), ((1, 31), False), ((1, 35), False), ((1, 36), True), ((1, 37), True)],
)
def test_the_mutating_policy_needs_kubernetes_1_36(version, rendered):
    objects = render.born_protected(POLICY, "prod", OWNED, kubernetes_version=version)
    kinds = [o["kind"] for o in objects]
    assert kinds.count("MutatingAdmissionPolicy") == int(rendered)
    assert kinds.count("MutatingAdmissionPolicyBinding") == int(rendered)
    # Everything else is the same with or without it.
    without = render.born_protected(POLICY, "prod", OWNED)
    assert [o for o in objects if not o["kind"].startswith("Mutating")] == without


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("MutatingAdmissionPolicy", "V1MutatingAdmissionPolicy"),
        ("MutatingAdmissionPolicyBinding", "V1MutatingAdmissionPolicyBinding"),
    ],
)
def test_mutating_policy_round_trips_through_the_typed_models(objects, kind, model):
    [obj] = of_kind(objects, kind)
    assert obj["apiVersion"] == "admissionregistration.k8s.io/v1"
    # Unknown fields would be dropped and wrong types rejected: the round trip is exact.
    assert ApiClient().sanitize_for_serialization(typed(obj, model)) == obj


def test_policy_matches_service_creates_and_updates_and_fails_closed(objects):
    [policy] = of_kind(objects, "MutatingAdmissionPolicy")
    [binding] = of_kind(objects, "MutatingAdmissionPolicyBinding")
    spec = policy["spec"]
    assert spec["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["services"],
        }
    ]
    assert spec["failurePolicy"] == "Fail"
    assert spec["reinvocationPolicy"] == "IfNeeded"
    assert [m["patchType"] for m in spec["mutations"]] == ["JSONPatch"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]


def test_no_mutating_policy_when_no_rule_for_services_has_prefix_lists():
    policy = Policy.from_document(
        {"born_protected": ["prod"], "default_sources": ["sg-0aaaaaaaaaaaaaaa0"]}
    )
    objects = render.born_protected(policy, "prod", {}, kubernetes_version=(1, 36))
    assert not of_kind(objects, "MutatingAdmissionPolicy")


@pytest.mark.parametrize(
    ("text", "version"), [("1.36", (1, 36)), ("v1.35", (1, 35)), (" 1.40 ", (1, 40))]
)
def test_kubernetes_versions_parse(text, version):
    assert parse_kubernetes_version(text) == version


@pytest.mark.parametrize("text", ["1", "1.36.2", "latest", ""])
def test_malformed_kubernetes_versions_are_a_clear_error(text):
    with pytest.raises(ConfigurationError, match=r"not of the form X\.Y"):
        parse_kubernetes_version(text)


def test_version_note_says_why_there_is_no_mutating_policy():
    assert "no MutatingAdmissionPolicy" in version_note((1, 35), "DescribeCluster")
    assert "post-hoc remediation" in version_note((1, 35), "DescribeCluster")
    assert "includes the MutatingAdmissionPolicy" in version_note((1, 36), "--kubernetes-version")


# --- CEL ------------------------------------------------------------------------------------


def admit(
    objects: list[dict[str, Any]], obj: dict[str, Any], operation: str = "CREATE"
) -> dict[str, Any] | None:
    [policy] = of_kind(objects, "MutatingAdmissionPolicy")
    return admission.admit(policy, obj, operation)


def service(
    namespace: str = "shop",
    name: str = "api",
    *,
    annotations: dict[str, str] | None = None,
    lb_class: str | None = None,
    ranges: list[str] | None = None,
    type_: str = "LoadBalancer",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": [{"port": 443, "protocol": "TCP"}]}
    if lb_class is not None:
        spec["loadBalancerClass"] = lb_class
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def injected(mutated: dict[str, Any] | None) -> str | None:
    if mutated is None:
        return None
    return (mutated["metadata"].get("annotations") or {}).get(PREFIX_LISTS)


def lists_of(rule: str) -> str:
    return ",".join(VIEWS[rule].prefix_lists)


@pytest.mark.parametrize(
    "obj",
    [
        service(),  # no class: the controller's webhook gives it service.k8s.aws/nlb after us
        service(lb_class="service.k8s.aws/nlb"),
        service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external"}),
        service(annotations={}),
    ],
)
def test_services_without_sources_get_their_rules_prefix_lists(objects, obj):
    mutated = admit(objects, obj)
    assert mutated is not None
    assert injected(mutated) == "pl-00000000000000004"  # shop, internal → the default rule (vpc)
    # Nothing else changed: only the one annotation was added.
    assert {
        k: v for k, v in mutated["metadata"].get("annotations", {}).items() if k != PREFIX_LISTS
    } == (obj["metadata"].get("annotations") or {})
    assert mutated["spec"] == obj["spec"]
    # A valid Service, and the controller reads the annotation as exactly those lists.
    typed(mutated, "V1Service")
    restriction = service_restrictions(mutated).default
    assert restriction is not None
    assert restriction.prefix_lists == ("pl-00000000000000004",) and not restriction.cidrs


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        (service(ranges=["203.0.113.0/24"]), "loadBalancerSourceRanges"),
        (
            service(
                annotations={
                    "service.beta.kubernetes.io/load-balancer-source-ranges": "203.0.113.0/24"
                }
            ),
            "source-ranges annotation",
        ),
        (service(annotations={PREFIX_LISTS: "pl-0ffffffffffffffff"}), "owner's prefix lists"),
        (
            service(annotations={PREFIX_LISTS: ""}),
            "an empty prefix-list annotation is a choice too",
        ),
        (
            service(
                annotations={
                    "service.beta.kubernetes.io/aws-load-balancer-security-groups": "sg-0123456789abcdef0"
                }
            ),
            "bring-your-own SG",
        ),
        (service(lb_class="example.com/other-lb"), "another controller's class"),
        (service(type_="ClusterIP"), "no load balancer"),
        (service(type_="NodePort"), "no load balancer"),
        (service(namespace="kube-system"), "exempt namespace"),
        (service(namespace="shop", name="vip"), "exemption in the policy"),
    ],
)
def test_not_matched(objects, obj, why):
    assert admit(objects, obj) is None, why


def test_an_empty_source_list_is_no_source(objects):
    assert injected(admit(objects, service(ranges=[]))) == "pl-00000000000000004"


def first_rule(namespace: str, scheme: str) -> str:
    """frontguard's own first-match rule (Policy.rules / Rule.matches), as a view id."""
    for index, rule in enumerate(POLICY.rules):
        if rule.matches(cluster="prod", namespace=namespace, scheme=scheme, kind="service"):
            return f"rule-{index}"
    return "default"


@pytest.mark.parametrize(
    "namespace", ["payments", "team-a", "team-", "teams", "legacy", "shop", "web"]
)
@pytest.mark.parametrize(
    ("annotations", "scheme"),
    [
        (None, "internal"),  # the controller's --default-load-balancer-scheme
        ({SCHEME: "internet-facing"}, "internet-facing"),
        ({SCHEME: "internal"}, "internal"),
        ({"service.beta.kubernetes.io/aws-load-balancer-internal": "false"}, "internet-facing"),
        ({"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}, "internal"),
    ],
)
def test_the_value_follows_the_policys_first_matching_rule(objects, namespace, annotations, scheme):
    expected = lists_of(first_rule(namespace, scheme))
    mutated = admit(objects, service(namespace, annotations=annotations))
    assert mutated is not None
    # A rule without prefix lists (SG sources only) leaves the Service as it was.
    assert injected(mutated) == (expected or None)


def test_values_per_namespace(objects):
    def value(namespace: str, scheme: str = "internal") -> str | None:
        return injected(admit(objects, service(namespace, annotations={SCHEME: scheme})))

    assert value("payments") == value("payments", "internet-facing") == "pl-00000000000000001"
    assert value("team-a") == "pl-00000000000000005"  # glob rule, no namespace label needed
    assert value("teams") == "pl-00000000000000004"
    assert value("legacy") is None  # SG-only rule: post-hoc remediation
    assert value("shop") == "pl-00000000000000004"  # the shop rule is for Ingresses only
    assert value("shop", "internet-facing") == "pl-00000000000000002,pl-00000000000000003"


def test_reinvocation_and_updates_change_nothing_more(objects):
    once = admit(objects, service("payments"))
    assert once is not None
    assert admit(objects, once, operation="UPDATE") is None  # now it has a prefix-list annotation
    # An UPDATE of a Service created before the policy gets the annotation then.
    assert (
        injected(admit(objects, service("payments"), operation="UPDATE")) == "pl-00000000000000001"
    )


def test_the_clusters_own_load_balancer_class_is_used():
    policy = Policy.from_document(
        {
            **POLICY_DOCUMENT,
            "cluster_controllers": {"prod": {"load_balancer_class": "example.com/lbc"}},
        }
    )
    objects = render.born_protected(policy, "prod", OWNED, kubernetes_version=(1, 36))
    assert injected(admit(objects, service(lb_class="example.com/lbc"))) == "pl-00000000000000004"
    assert admit(objects, service(lb_class="service.k8s.aws/nlb")) is None


def test_expired_exemptions_are_not_rendered():
    document = copy.deepcopy(POLICY_DOCUMENT)
    document["exemptions"][0]["expires"] = "2020-01-01"
    objects = render.born_protected(
        Policy.from_document(document), "prod", OWNED, kubernetes_version=(1, 36)
    )
    assert injected(admit(objects, service(name="vip"))) == "pl-00000000000000004"


@pytest.mark.parametrize(
    ("glob", "name"),
    [
        ("team-*", "team-a"),
        ("team-*", "teams"),
        ("team-?", "team-ab"),
        ("team-?", "team-b"),
        ("[ab]*", "b-1"),
        ("[!ab]*", "b-1"),
        ("[!ab]*", "c-1"),
        ("a.b*", "axb"),
        ("a.b*", "a.b"),
        ("ns[", "ns["),
        ("x+y", "xxy"),
    ],
)
def test_namespace_globs_match_as_fnmatch_does(glob, name):
    from fnmatch import fnmatchcase

    from frontguard.render_services import _cel_string

    expression = f"{_cel_string(name)}.matches({_cel_string(glob_regex(glob))})"
    assert bool(admission.evaluate(expression, {})) == fnmatchcase(name, glob)


def test_rules_of_another_cluster_do_not_apply():
    document = copy.deepcopy(POLICY_DOCUMENT)
    document["rules"][0]["cluster"] = "staging"
    policy = Policy.from_document(document)
    objects = render.born_protected(policy, "prod", OWNED, kubernetes_version=(1, 36))
    assert injected(admit(objects, service("payments"))) == "pl-00000000000000004"


def test_an_exemption_counts_until_its_expiry_day_at_render_time():
    from frontguard.render_services import service_objects

    views = list(VIEWS.values())
    last_day = service_objects(views, POLICY, "prod", today=date(2099, 12, 31))
    day_after = service_objects(views, POLICY, "prod", today=date(2100, 1, 1))
    vip = service(name="vip")
    assert admit(last_day, vip) is None
    assert injected(admit(day_after, vip)) == "pl-00000000000000004"
    assert admit(day_after, service(namespace="kube-system")) is None  # still exempt
