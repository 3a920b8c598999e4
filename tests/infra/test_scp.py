"""The SCP in docs/scp.md reserves frontguard's tag keys on every resource type frontguard
tags (R2-6), frontguard's tag keys on principals and sessions (R2-5) and frontguard's role
names, for everyone but frontguard and its deployer (evaluated: tests/infra/iam_eval.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.principals import FUNCTIONS, role_name
from tests.infra.iam_eval import Request, denies

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/developer"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-eu-west-1"
TAGGING_ROLES = [
    f"arn:aws:iam::{ACCOUNT}:role/{role_name(f, 'eu-west-1')}"
    for f in ("Events", "Scan", "Remediate")
]
FRONTGUARD_KEYS = ["frontguard.io/managed-by"]


def scp() -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "scp.md").read_text()
    [block] = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    statements: list[dict[str, Any]] = json.loads(block)["Statement"]
    return statements


def tagged_resource_types() -> set[str]:
    """Every ``ResourceType`` frontguard's code tags on create."""
    code = "\n".join(p.read_text() for p in (ROOT / "lambdas" / "frontguard").rglob("*.py"))
    return set(re.findall(r'"ResourceType":\s*"([a-z-]+)"', code))


def ec2_arn(resource_type: str) -> str:
    return f"arn:aws:ec2:eu-west-1:{ACCOUNT}:{resource_type}/{resource_type[:2]}-0123456789"


CREATE = {"security-group": "CreateSecurityGroup", "prefix-list": "CreateManagedPrefixList"}


def test_frontguard_tags_security_groups_and_prefix_lists() -> None:
    assert tagged_resource_types() == set(CREATE)  # a new type needs a row in CREATE too


@pytest.mark.parametrize("resource_type", sorted(tagged_resource_types()))
def test_nobody_else_may_put_frontguards_tags_on_a_type_it_owns(resource_type: str) -> None:
    resource = ec2_arn(resource_type)
    create = CREATE[resource_type]
    requests = [
        # Tagging an existing resource, removing frontguard's tags.
        Request(
            "ec2:CreateTags", DEVELOPER, resource=resource, context={"aws:TagKeys": FRONTGUARD_KEYS}
        ),
        Request(
            "ec2:DeleteTags", DEVELOPER, resource=resource, context={"aws:TagKeys": FRONTGUARD_KEYS}
        ),
        # Tag-on-create: the create action itself, and CreateTags with ec2:CreateAction.
        Request(
            f"ec2:{create}", DEVELOPER, resource=resource, context={"aws:TagKeys": FRONTGUARD_KEYS}
        ),
        Request(
            "ec2:CreateTags",
            DEVELOPER,
            resource=resource,
            context={"aws:TagKeys": ["team", *FRONTGUARD_KEYS], "ec2:CreateAction": create},
        ),
    ]
    for request in requests:
        assert denies(scp(), request), request
    for role in TAGGING_ROLES:
        own = Request(
            "ec2:CreateTags",
            role,
            resource=resource,
            context={"aws:TagKeys": FRONTGUARD_KEYS, "ec2:CreateAction": create},
        )
        assert not denies(scp(), own)
    ordinary = Request(
        "ec2:CreateTags", DEVELOPER, resource=resource, context={"aws:TagKeys": ["team"]}
    )
    assert not denies(scp(), ordinary)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:TagRole", f"arn:aws:iam::{ACCOUNT}:role/developer"),
        ("iam:TagUser", f"arn:aws:iam::{ACCOUNT}:user/ci"),
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/new"),
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/new"),
        ("sts:TagSession", f"arn:aws:iam::{ACCOUNT}:role/developer"),
    ],
)
def test_no_principal_or_session_may_carry_frontguards_tag_keys(action: str, resource: str) -> None:
    tagged = {"aws:TagKeys": ["frontguard.io/deployment"]}
    assert denies(scp(), Request(action, DEVELOPER, resource=resource, context=tagged))
    assert not denies(
        scp(), Request(action, DEVELOPER, resource=resource, context={"aws:TagKeys": ["team"]})
    )


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "action", ["iam:CreateRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:PassRole"]
)
def test_only_the_deployer_creates_changes_or_passes_frontguards_roles(
    function: str, action: str
) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/{role_name(function, 'us-east-1')}"
    assert denies(scp(), Request(action, DEVELOPER, resource=role))
    assert not denies(scp(), Request(action, DEPLOYER, resource=role))
    other = f"arn:aws:iam::{ACCOUNT}:role/team-app"
    assert not denies(scp(), Request(action, DEVELOPER, resource=other))
