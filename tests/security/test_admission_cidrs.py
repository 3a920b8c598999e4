"""R2-4: the born-protected ValidatingAdmissionPolicy compares owners' source ranges as
networks (CEL's CIDR library), not as strings. Evaluated with cel-python and the harness's
independent implementation of the library (tests/admission.py)."""

from __future__ import annotations

from typing import Any

import pytest
from frontguard import render
from frontguard.adapters.prefix_lists import PrefixList
from frontguard.policy import Policy

from tests.admission import refusals
from tests.security.catalogue import attack

POLICY = Policy.from_document(
    {
        "born_protected": ["prod"],
        "rules": [{"scheme": "internet-facing", "sources": ["203.0.113.0/24", "2001:db8::/32"]}],
        "default_sources": ["vpc"],
    }
)
OWNED = {
    key: PrefixList(id_, f"frontguard-{key}", key, family, 10, 1, (cidr,))
    for key, id_, family, cidr in (
        ("*/rule-0/IPv4", "pl-00000000000000001", "IPv4", "203.0.113.0/24"),
        ("*/rule-0/IPv6", "pl-00000000000000002", "IPv6", "2001:db8::/32"),
        ("prod/default/IPv4", "pl-00000000000000003", "IPv4", "10.0.0.0/16"),
    )
}
PUBLIC = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}
WORLD_EQUIVALENTS = [
    ["0.0.0.0/1", "128.0.0.0/1"],
    ["0::/0"],
    ["0:0:0:0:0:0:0:0/0"],
    ["1.2.3.4/0"],
    ["::/1", "8000::/1"],
]


def _policy() -> dict[str, Any]:
    objects = render.born_protected(POLICY, "prod", OWNED, other_classes=["nginx"])
    [policy] = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    return policy


def _service(ranges: list[str] | None = None, annotation: str | None = None) -> dict[str, Any]:
    annotations = dict(PUBLIC)
    if annotation is not None:
        annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] = annotation
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 443}]}
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "shop", "annotations": annotations},
        "spec": spec,
    }


@attack(
    "R2-4",
    "create a Service in one's namespace",
    "world-open sources the string match missed: loadBalancerSourceRanges 0.0.0.0/1 + "
    "128.0.0.0/1, 0::/0, 0:0:0:0:0:0:0:0/0 (spec or annotation)",
    "refused: every range must be a CIDR inside the policy rule's sources (CEL CIDR library)",
)
@pytest.mark.parametrize("ranges", WORLD_EQUIVALENTS, ids=repr)
def test_world_equivalent_service_ranges_are_refused(ranges):
    policy = _policy()
    assert len(refusals(policy, _service(ranges))) == 1
    assert len(refusals(policy, _service(annotation=",".join(ranges)))) == 1


@attack(
    "R2-4",
    "create an Ingress of another class (--other-class)",
    "inbound-cidrs with a world-equivalent spelling (split cover, 0::/0) or a garbage string",
    "refused like 0.0.0.0/0; a narrower range inside the rule's sources is admitted",
)
@pytest.mark.parametrize("value", [*(",".join(r) for r in WORLD_EQUIVALENTS), "anywhere"])
def test_world_equivalent_inbound_cidrs_are_refused(value):
    annotations = {
        "alb.ingress.kubernetes.io/scheme": "internet-facing",
        "alb.ingress.kubernetes.io/inbound-cidrs": value,
    }
    ingress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": annotations,
        },
        "spec": {"ingressClassName": "nginx", "rules": []},
    }
    policy = _policy()
    [message] = refusals(policy, ingress)
    assert message.startswith("inbound-cidrs")
    annotations["alb.ingress.kubernetes.io/inbound-cidrs"] = "203.0.113.64/26, 2001:db8:1::/48"
    assert refusals(policy, ingress) == []
