"""The doctor's subset comparison of a rendered object with the live one (no servers)."""

from __future__ import annotations

from typing import Any

from frontguard.controller.class_fields import (
    INGRESS_CLASS_PARAMS_API,
    INGRESS_CLASS_PARAMS_SPEC,
    LB_CONFIGURATION_API,
    LB_CONFIGURATION_SPEC,
    PREFIX_LIST_FIELDS,
)
from frontguard.doctor.born import accept_choices, describe, differences, group_of

RENDERED: dict[str, Any] = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "p"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "resources": ["services"]}]},
        "validations": [{"expression": "a"}, {"expression": "b"}, {"expression": "c"}],
    },
}


def live(**spec: Any) -> dict[str, Any]:
    """RENDERED as the API server returns it: server fields, defaults, then ``spec`` changes."""
    obj: dict[str, Any] = {
        **RENDERED,
        "metadata": {"name": "p", "uid": "u-1", "managedFields": [{"manager": "kubectl"}]},
        "status": {"typeChecking": {}},
        "spec": {
            **RENDERED["spec"],
            "matchConstraints": {
                "matchPolicy": "Equivalent",
                "resourceRules": [{"apiGroups": [""], "resources": ["services"], "scope": "*"}],
            },
        },
    }
    obj["spec"].update(spec)
    return obj


def test_fields_the_server_adds_are_not_drift() -> None:
    assert differences(RENDERED, live()) == []


def test_a_changed_scalar_names_its_path_and_both_values() -> None:
    assert differences(RENDERED, live(failurePolicy="Ignore")) == [
        "spec.failurePolicy: 'Ignore', rendered 'Fail'"
    ]


def test_a_field_removed_is_reported_absent() -> None:
    obj = live()
    del obj["spec"]["failurePolicy"]
    assert differences(RENDERED, obj) == ["spec.failurePolicy: absent, rendered 'Fail'"]


def test_an_item_of_a_list_of_mappings_is_compared_by_index() -> None:
    changed = live(validations=[{"expression": "a"}, {"expression": "true"}, {"expression": "c"}])
    assert differences(RENDERED, changed) == [
        "spec.validations[1].expression: 'true', rendered 'b'"
    ]


def test_a_removed_item_is_named_by_its_rendered_index() -> None:
    assert differences(RENDERED, live(validations=[{"expression": "a"}, {"expression": "c"}])) == [
        "spec.validations: 2 items, rendered 3; rendered items [1] are not there"
    ]


def test_lists_of_scalars_compare_whole_and_in_order() -> None:
    rendered = {"spec": {"inboundCIDRs": ["198.51.100.0/24", "203.0.113.0/24"]}}
    assert differences(rendered, {"spec": {"inboundCIDRs": ["0.0.0.0/0"]}}) == [
        "spec.inboundCIDRs: ['0.0.0.0/0'], rendered ['198.51.100.0/24', '203.0.113.0/24']"
    ]
    # an empty list is not the same as no list: a nil sourceRanges is world-open
    assert differences({"spec": {"sourceRanges": []}}, {"spec": {}}) == [
        "spec.sourceRanges: absent, rendered []"
    ]


def test_validation_actions_accept_warn_or_deny_and_say_which() -> None:
    binding: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "p"},
        "spec": {"policyName": "p", "validationActions": ["Warn"]},
    }
    for actions in (["Warn"], ["Deny"], ["Deny", "Audit"]):
        stored = {**binding, "spec": {"policyName": "p", "validationActions": actions}}
        wanted, notes = accept_choices(binding, stored)
        assert differences(wanted, stored) == []
        assert notes == [f"validationActions {actions}"]
    audit_only = {**binding, "spec": {"policyName": "p", "validationActions": ["Audit"]}}
    wanted, notes = accept_choices(binding, audit_only)
    assert differences(wanted, audit_only) == [
        "spec.validationActions: ['Audit'], rendered ['Warn']"
    ]
    assert notes == []
    assert binding["spec"]["validationActions"] == ["Warn"]  # the rendering is not changed


def test_names_and_groups() -> None:
    assert group_of({"apiVersion": "v1"}) == ""
    assert group_of({"apiVersion": LB_CONFIGURATION_API}) == "gateway.k8s.aws"
    assert describe({"kind": "K", "metadata": {"name": "n", "namespace": "ns"}}) == "K/ns/n"


def test_prefix_list_fields_are_catalogued_controller_fields() -> None:
    specs = {
        (INGRESS_CLASS_PARAMS_API.split("/")[0], "IngressClassParams"): INGRESS_CLASS_PARAMS_SPEC,
        (LB_CONFIGURATION_API.split("/")[0], "LoadBalancerConfiguration"): LB_CONFIGURATION_SPEC,
    }
    assert set(PREFIX_LIST_FIELDS) == set(specs)
    for key, name in PREFIX_LIST_FIELDS.items():
        assert specs[key][name] == "[]string"
