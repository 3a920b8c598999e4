"""The deploy audit's findings (../shared/reviews/deploy-audit.md), one test each, against the
synthesized templates and AWS's documented semantics (EventBridge patterns through moto's
matcher, which agrees with AWS on these cases)."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk import aws_ssm as ssm
from frontguard import permissions
from frontguard.doctor import records
from moto.events.models import EventPattern

from infra.config import ConfigError, parse_config
from infra.stack import policy_tier
from sandbox.aws import install_fidelity_fixes
from tests.infra.conftest import ACCOUNT, MINIMAL, REGION, Synthesized, logical_id, resources

ROOT = Path(__file__).resolve().parents[2]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["Statement"]
    return found


# --- 1. alarms can publish; 10. the key grant is scoped ------------------------------------


def test_every_alarm_action_reaches_a_topic_whose_policy_lets_this_accounts_alarms_publish(
    minimal: Synthesized,
) -> None:
    template = minimal.template
    policies = resources(template, "AWS::SNS::TopicPolicy").values()
    allowed_topics: set[str] = set()
    for policy in policies:
        for statement in _statements(policy["Properties"]["PolicyDocument"]):
            if (
                statement["Effect"] == "Allow"
                and statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
                and statement["Action"] == "sns:Publish"
            ):
                assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
                assert statement["Condition"]["ArnLike"] == {
                    "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"
                }
                allowed_topics.update(t["Ref"] for t in policy["Properties"]["Topics"])
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    targets = {
        action["Ref"]
        for alarm in alarms
        for action in alarm["Properties"]["AlarmActions"] + alarm["Properties"]["OKActions"]
    }
    assert targets and targets <= allowed_topics


def test_cloudwatchs_key_grant_is_limited_to_this_accounts_alarms(minimal: Synthesized) -> None:
    (key,) = resources(minimal.template, "AWS::KMS::Key").values()
    grants = [
        s
        for s in _statements(key["Properties"]["KeyPolicy"])
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    (grant,) = grants
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert grant["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
    }


# --- 2, 4, 10. Chatbot ---------------------------------------------------------------------


def test_the_slack_channel_is_read_only_logged_and_named_per_region(full: Synthesized) -> None:
    for name, template in full.templates.items():
        region = name.split("-", 2)[2]
        (channel,) = resources(template, "AWS::Chatbot::SlackChannelConfiguration").values()
        properties = channel["Properties"]
        assert properties["ConfigurationName"] == f"frontguard-{region}-C0456"
        assert properties["LoggingLevel"] == "ERROR"
        assert properties["UserRoleRequired"] is True
        (guardrail,) = properties["GuardrailPolicies"]
        assert json.dumps(guardrail).endswith(':iam::aws:policy/ReadOnlyAccess"]]}')


# --- 3. the policy is validated at synth, and fits ------------------------------------------


def _with_policy(policy: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    raw["policy"] = policy
    return raw


def test_a_policy_the_runtime_would_reject_stops_the_synth() -> None:
    bad = {"mode": "audit", "approved_security_groups": ["not-an-sg"], "surprise": 1}
    with pytest.raises(ConfigError, match=r"approved_security_groups.*surprise|surprise"):
        parse_config(_with_policy(bad), source="test")


def test_a_big_policy_goes_to_an_advanced_parameter_and_a_huge_one_is_refused() -> None:
    rules = [
        {
            "cluster": "prod-*",
            "namespace": f"team-{i}-*",
            "scheme": "internet-facing",
            "sources": [f"10.{i}.0.0/16", f"172.16.{i}.0/24", f"192.168.{i}.0/24"],
        }
        for i in range(40)
    ]
    config = parse_config(_with_policy({"mode": "audit", "rules": rules}), source="test")
    assert config.policy_json is not None
    assert 4096 < len(config.policy_json) <= 8192  # the 40-rule policy of the audit
    assert policy_tier(config.policy_json) == ssm.ParameterTier.ADVANCED
    assert policy_tier(json.dumps(MINIMAL["policy"])) == ssm.ParameterTier.STANDARD
    huge = [{"namespace": f"team-{i}-*", "sources": [f"10.{i}.0.0/16"]} for i in range(200)]
    with pytest.raises(ConfigError, match="SSM parameter holds at most 8192"):
        parse_config(_with_policy({"mode": "audit", "rules": huge}), source="test")


# --- 4. clusters per target ------------------------------------------------------------------


def test_each_stack_gets_only_its_own_targets_clusters_and_vpc(full: Synthesized) -> None:
    expected = {
        "Frontguard-123456789012-eu-west-1": ("private-eu", True),
        "Frontguard-210987654321-us-east-1": ("prod-us", False),
    }
    for name, template in full.templates.items():
        cluster, in_vpc = expected[name]
        entries = resources(template, "AWS::EKS::AccessEntry").values()
        assert {e["Properties"]["ClusterName"] for e in entries} == {cluster}
        for function in resources(template, "AWS::Lambda::Function").values():
            assert ("VpcConfig" in function["Properties"]) is in_vpc


def test_top_level_clusters_are_refused_with_a_pointer_to_targets() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["clusters"] = ["prod-eu"]
    with pytest.raises(ConfigError, match="moved into each target"):
        parse_config(raw, source="test")


# --- 6. the drift rules against real CloudTrail records --------------------------------------


def _resolved(pattern: Any, roles: dict[str, str]) -> Any:
    """The pattern as CloudFormation deploys it: role ARN GetAtts resolved."""
    if isinstance(pattern, dict):
        if set(pattern) == {"Fn::GetAtt"}:
            return roles[pattern["Fn::GetAtt"][0]]
        return {k: _resolved(v, roles) for k, v in pattern.items()}
    if isinstance(pattern, list):
        return [_resolved(v, roles) for v in pattern]
    return pattern


def test_every_rule_matches_exactly_the_records_it_should(minimal: Synthesized) -> None:
    install_fidelity_fixes()  # moto's matcher, taught to match into arrays as EventBridge does
    template = minimal.template
    roles = {
        name: f"arn:aws:iam::{ACCOUNT}:role/{name}"
        for name in resources(template, "AWS::IAM::Role")
    }
    rules = resources(template, "AWS::Events::Rule")
    patterns = {
        name: EventPattern.load(
            json.dumps(_resolved(rules[rule_id]["Properties"]["EventPattern"], roles))
        )
        for name in records.RULES
        for rule_id in [logical_id(template, "AWS::Events::Rule", f"Triggers{name}")]
    }
    scan_role = roles[logical_id(template, "AWS::IAM::Role", "Scan")]
    outcome = {
        record.name: [
            name for name, p in patterns.items() if p.matches_event(cast(Any, record.event))
        ]
        for record in records.load(scan_role)
    }
    assert outcome == {name: [rule] if rule else [] for name, rule in records.EXPECTED.items()}


def test_an_anything_but_alone_would_drop_iam_users_calls() -> None:
    """Why the exclusion is an ``$or``: the 2019 console record has no sessionIssuer."""
    naive = EventPattern.load(
        json.dumps(
            {
                "detail": {
                    "userIdentity": {
                        "sessionContext": {
                            "sessionIssuer": {
                                "arn": [
                                    {"anything-but": ["arn:aws:iam::123456789012:role/frontguard"]}
                                ]
                            }
                        }
                    }
                }
            }
        )
    )
    (user_call,) = [r for r in records.load("x") if r.name.startswith("eventbridge-ec2-Revoke")]
    assert not naive.matches_event(cast(Any, user_call.event))


# --- 7. schedule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    ["rate(1 hours)", "rate(5 minute)", "rate(0 minutes)", "rate(01 minutes)", "cron(0 * * *)"],
)
def test_schedules_eventbridge_rejects_stop_the_synth(schedule: str) -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["schedule"] = schedule
    with pytest.raises(ConfigError, match=r"(?m)^  schedule: "):
        parse_config(raw, source="test")


@pytest.mark.parametrize(
    "schedule", ["rate(1 hour)", "rate(30 minutes)", "rate(12 hours)", "cron(0 6 * * ? *)"]
)
def test_valid_schedules_pass(schedule: str) -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["schedule"] = schedule
    assert parse_config(raw, source="test").schedule == schedule


# --- 12. every granted action is called; the docs table is true ---------------------------------


def _snake(action: str) -> str:
    name = action.split(":")[1]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _called_methods() -> set[str]:
    called = set()
    for source in (ROOT / "lambdas" / "frontguard").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Attribute):  # called, or passed on to be called
                called.add(node.attr)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_paginator"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                called.add(node.args[0].value)
    return called


# Granted without a method of that name: tagging is part of CreateSecurityGroup's request.
IMPLIED = {"ec2:CreateTags"}


@pytest.mark.parametrize(
    "declared",
    [permissions.EVENTS_FUNCTION, permissions.VERIFY_FUNCTION, permissions.SCAN_FUNCTION],
)
def test_every_granted_action_is_called_by_the_runtime(declared: tuple[str, ...]) -> None:
    called = _called_methods()
    unused = {a for a in declared if a not in IMPLIED and _snake(a) not in called}
    assert unused == set()


def test_the_permissions_table_in_the_docs_is_what_the_roles_get() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text.split("\n## Permissions", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    documented = {row[0].strip("`"): set(row[1].split(", ")) for row in rows}
    granted: dict[str, set[str]] = {}
    for function, actions in (
        ("events", permissions.EVENTS_FUNCTION),
        ("verify", permissions.VERIFY_FUNCTION),
        ("scan", permissions.SCAN_FUNCTION),
        ("remediate", permissions.REMEDIATE_FUNCTION),
    ):
        for action in (*actions, *permissions.POLICY_PARAMETER):
            granted.setdefault(action, set()).add(function)
    assert documented == granted
