"""The optional admission policy (docs/admission-policy.yaml): its shape, statically.

The sandbox's Kubernetes emulator runs no admission, so this checks what can be checked
without an API server: each policy is bound with Deny, matches the objects frontguard reads
annotations from, exempts exactly the intended group, and guards the intended annotation.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.security.catalogue import attack

MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "admission-policy.yaml"


@attack(
    "4",
    "edit an Ingress, Service, Gateway or LoadBalancerConfiguration (with the optional "
    "admission policy applied)",
    "set frontguard.io/exempt, or pre-seed frontguard.io/replaced for revert to restore",
    "refused by the API server unless the writer is in platform-security (exempt) or is "
    "frontguard (replaced); shape checked statically, the emulator has no admission",
)
def test_the_admission_policy_guards_both_annotations_for_every_owner_kind() -> None:
    documents = list(yaml.safe_load_all(MANIFEST.read_text()))
    policies = {d["metadata"]["name"]: d for d in documents if d["kind"].endswith("Policy")}
    bindings = {d["spec"]["policyName"]: d for d in documents if d["kind"].endswith("Binding")}
    assert set(policies) == set(bindings)
    assert all(b["spec"]["validationActions"] == ["Deny"] for b in bindings.values())

    exempt = policies["frontguard-exempt-only-by-security"]["spec"]
    resources = {r["resources"][0] for r in exempt["matchConstraints"]["resourceRules"]}
    assert resources == {"services", "ingresses", "gateways", "loadbalancerconfigurations"}
    assert exempt["failurePolicy"] == "Fail"
    assert (
        "'platform-security' in request.userInfo.groups"
        in (exempt["matchConditions"][0]["expression"])
    )
    assert "frontguard.io/exempt" in exempt["validations"][0]["expression"]

    replaced = policies["frontguard-replaced-only-by-frontguard"]["spec"]
    assert "'frontguard' in request.userInfo.groups" in replaced["matchConditions"][0]["expression"]
    assert "frontguard.io/replaced" in replaced["validations"][0]["expression"]
