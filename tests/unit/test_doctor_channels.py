"""The doctor's reading of a channel's resource policy (frontguard.doctor.channels.judge)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from frontguard.doctor.channels import QUEUE_WRITES, TABLE_WRITES, judge

ROLES = [
    "arn:aws:iam::123456789012:role/frontguard-events-eu-west-1",
    "arn:aws:iam::123456789012:role/frontguard-scan-eu-west-1",
]
TLS = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "sqs:*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def deny(actions: Any, condition: dict[str, Any]) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": actions, "Condition": condition}


GUARD = deny(
    "sqs:SendMessage",
    {
        "ArnNotEquals": {"aws:PrincipalArn": ROLES},
        "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
    },
)
EVENTBRIDGE = {
    "Effect": "Allow",
    "Principal": {"Service": "events.amazonaws.com"},
    "Action": "sqs:SendMessage",
    "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:events:eu-west-1:1:rule/x"}},
}


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_the_deployed_shape_passes() -> None:
    assert judge(policy(TLS, GUARD, EVENTBRIDGE), QUEUE_WRITES, ROLES) is None


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (None, "no resource policy"),
        (policy(TLS, EVENTBRIDGE), "no Deny limits sqs:SendMessage"),
        # R2-5's tag guard: anyone who may tag themselves passes it.
        (
            policy(deny("sqs:SendMessage", {"StringNotEquals": {"aws:PrincipalTag/x": "s"}})),
            "no Deny limits",
        ),
        # A Deny that also names someone else's role lets that role write.
        (
            policy(
                deny(
                    "sqs:SendMessage",
                    {"ArnNotEquals": {"aws:PrincipalArn": [*ROLES, "arn:aws:iam::1:role/dev"]}},
                )
            ),
            "no Deny limits",
        ),
        # An extra condition narrows the Deny (here: only outside one VPC).
        (
            policy(
                deny(
                    "sqs:SendMessage",
                    {
                        "ArnNotEquals": {"aws:PrincipalArn": ROLES},
                        "StringNotEquals": {"aws:SourceVpc": "vpc-1"},
                    },
                )
            ),
            "no Deny limits",
        ),
        (
            policy(
                GUARD,
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:*",
                },
            ),
            "an Allow lets in other writers",
        ),
        (
            policy(
                GUARD, {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage"}
            ),
            "an Allow lets in other writers",
        ),
    ],
)
def test_a_policy_that_lets_others_write_is_named(document: str | None, problem: str) -> None:
    found = judge(document, QUEUE_WRITES, ROLES)
    assert found is not None
    assert problem in found


def test_every_table_write_must_be_denied() -> None:
    partial = deny(
        ["dynamodb:PutItem", "dynamodb:UpdateItem"],
        {"ArnNotEquals": {"aws:PrincipalArn": ROLES}},
    )
    found = judge(policy(partial), TABLE_WRITES, ROLES)
    assert found is not None
    assert "dynamodb:DeleteItem, dynamodb:BatchWriteItem" in found
