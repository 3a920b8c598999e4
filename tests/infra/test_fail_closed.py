"""Fail-closed mode (issue 17 item 5): the Deny on the controller's managed-SG creation."""

from __future__ import annotations

import copy
import json
from typing import Any, cast

import pytest
from frontguard.doctor import records
from moto.events.models import EventPattern

from infra.config import ConfigError, parse_config
from sandbox.aws import install_fidelity_fixes
from tests.infra.conftest import MINIMAL, Synthesized, logical_id, resources

DENY = [
    {
        "Sid": sid,
        "Effect": "Deny",
        "Action": "ec2:CreateTags",
        "Resource": {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ec2:*:*:security-group/*"]]
        },
        "Condition": {
            "StringEquals": {
                "ec2:CreateAction": "CreateSecurityGroup",
                f"aws:RequestTag/{prefix}/resource": "ManagedLBSecurityGroup",
            }
        },
    }
    for sid, prefix in (
        ("FrontguardNoManagedIngressSG", "ingress.k8s.aws"),
        ("FrontguardNoManagedServiceSG", "service.k8s.aws"),
        ("FrontguardNoManagedAlbGatewaySG", "gateway.k8s.aws.alb"),
        ("FrontguardNoManagedNlbGatewaySG", "gateway.k8s.aws.nlb"),
    )
]


def deny_policies(synth: Synthesized) -> list[dict[str, Any]]:
    return [
        policy["Properties"]
        for template in synth.templates.values()
        for policy in resources(template, "AWS::IAM::ManagedPolicy").values()
        if any(
            s.get("Effect") == "Deny" for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]


def test_fail_closed_is_absent_by_default(minimal: Synthesized) -> None:
    assert deny_policies(minimal) == []
    rules = resources(minimal.template, "AWS::Events::Rule")
    assert not any(name.startswith("FailClosed") for name in rules)
    text = json.dumps(minimal.template.to_json())
    assert "ManagedLBSecurityGroup" in text  # the early-signal rule only
    assert "Client.UnauthorizedOperation" not in text


def test_the_deny_statements_are_exactly_one_per_controller_prefix(full: Synthesized) -> None:
    policies = deny_policies(full)
    assert len(policies) == len(full.templates)  # one per stack
    for policy in policies:
        assert policy["PolicyDocument"]["Statement"] == DENY
        assert policy["Roles"] == ["eks-aws-load-balancer-controller"]  # imported by name


def test_the_refused_call_reaches_the_events_function(full: Synthesized) -> None:
    install_fidelity_fixes()  # match into arrays as EventBridge does
    template = next(iter(full.templates.values()))
    rules = resources(template, "AWS::Events::Rule")
    rule_id = logical_id(template, "AWS::Events::Rule", "FailClosedDeniedManagedSecurityGroup")
    properties = rules[rule_id]["Properties"]
    events_function = logical_id(template, "AWS::Lambda::Function", "EventsFunction")
    [target] = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [events_function, "Arn"]}
    pattern = EventPattern.load(json.dumps(properties["EventPattern"]))
    matched = {
        record.name
        for record in records.load("x")
        if pattern.matches_event(cast(Any, record.event))
    }
    assert matched == {"constructed-ec2-CreateSecurityGroup.lbc-denied.json"}


@pytest.mark.parametrize("roles", [[], ["not a role name"], ["x" * 65]])
def test_fail_closed_needs_valid_role_names(roles: list[str]) -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["fail_closed"] = {"controller_role_names": roles}
    with pytest.raises(ConfigError, match=r"fail_closed\.controller_role_names"):
        parse_config(raw, source="test")


def test_only_the_controller_roles_refusals_reach_the_events_function(full: Synthesized) -> None:
    """R2-1, defence in depth: the same refused record made by another role does not match;
    the events function is told the roles and re-checks the caller itself."""
    install_fidelity_fixes()
    template = next(iter(full.templates.values()))
    rule_id = logical_id(template, "AWS::Events::Rule", "FailClosedDeniedManagedSecurityGroup")
    pattern = EventPattern.load(
        json.dumps(resources(template, "AWS::Events::Rule")[rule_id]["Properties"]["EventPattern"])
    )
    [record] = [r for r in records.load("x") if r.name.endswith("lbc-denied.json")]
    forged = json.loads(
        json.dumps(record.event).replace("eks-aws-load-balancer-controller", "developer")
    )
    assert pattern.matches_event(cast(Any, record.event))
    assert not pattern.matches_event(forged)
    events_function = resources(template, "AWS::Lambda::Function")[
        logical_id(template, "AWS::Lambda::Function", "EventsFunction")
    ]
    variables = events_function["Properties"]["Environment"]["Variables"]
    assert variables["FRONTGUARD_CONTROLLER_ROLE_NAMES"] == "eks-aws-load-balancer-controller"
