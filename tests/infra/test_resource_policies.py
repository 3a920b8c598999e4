"""Only frontguard's roles, or the AWS service that feeds a channel from its own source, write
frontguard's channels: every queue (work queues and dead-letter queues), the state table and
the alert topic (issue 13 item 8, security review #10, R2-5, R2-7).

The synthesized policies are evaluated (tests/infra/iam_eval.py) for the requests an attacker
in the account would make, with an identity policy that grants them everything.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.principals import FUNCTIONS, role_name
from tests.infra.conftest import ACCOUNT, REGION, Synthesized, resources
from tests.infra.iam_eval import Request, allowed

OWN_ROLES = [f"arn:aws:iam::{ACCOUNT}:role/{role_name(f, REGION)}" for f in FUNCTIONS]
# Principals of the account that are not frontguard's: a developer's role, a user, a role
# that merely looks like frontguard's, and one of another region's frontguard.
OTHERS = [
    f"arn:aws:iam::{ACCOUNT}:role/developer",
    f"arn:aws:iam::{ACCOUNT}:user/ci",
    f"arn:aws:iam::{ACCOUNT}:role/{role_name('Events', REGION)}-copy",
    f"arn:aws:iam::{ACCOUNT}:role/{role_name('Events', 'us-east-1')}",
]
TABLE_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)


def queue_policies(synth: Synthesized) -> dict[str, list[dict[str, Any]]]:
    """Each queue's logical id -> the statements of its queue policy (none: [])."""
    template = synth.template
    found: dict[str, list[dict[str, Any]]] = {
        name: [] for name in resources(template, "AWS::SQS::Queue")
    }
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        for queue in policy["Properties"]["Queues"]:
            found[queue["Ref"]] += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def topic_statements(synth: Synthesized) -> list[dict[str, Any]]:
    [policy] = resources(synth.template, "AWS::SNS::TopicPolicy").values()
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def table_statements(synth: Synthesized) -> list[dict[str, Any]]:
    [table] = resources(synth.template, "AWS::DynamoDB::GlobalTable").values()
    [replica] = table["Properties"]["Replicas"]
    statements: list[dict[str, Any]] = replica["ResourcePolicy"]["PolicyDocument"]["Statement"]
    return statements


def rule_arn(synth: Synthesized, rule: str) -> dict[str, Any]:
    [name] = [n for n in resources(synth.template, "AWS::Events::Rule") if rule in n]
    return {"Fn::GetAtt": [name, "Arn"]}


@pytest.mark.parametrize("principal", OTHERS)
def test_no_queue_accepts_messages_from_principals_that_are_not_frontguards_roles(
    minimal: Synthesized, principal: str
) -> None:
    policies = queue_policies(minimal)
    assert len(policies) == 8  # 3 work queues, their 3 DLQs, the events DLQ, undelivered
    accepting = [
        queue
        for queue, statements in policies.items()
        if allowed(statements, Request("sqs:SendMessage", principal_arn=principal))
    ]
    assert accepting == []


def test_frontguards_roles_still_send_to_its_queues(minimal: Synthesized) -> None:
    for statements in queue_policies(minimal).values():
        for role in OWN_ROLES:
            assert allowed(statements, Request("sqs:SendMessage", principal_arn=role))


def test_eventbridge_writes_only_from_frontguards_own_rules(minimal: Synthesized) -> None:
    policies = queue_policies(minimal)
    [scan] = [q for q in policies if q.startswith("ScanQueueFifo")]
    own = Request(
        "sqs:SendMessage",
        service="events.amazonaws.com",
        context={"aws:SourceArn": rule_arn(minimal, "Schedule")},
    )
    foreign = Request(
        "sqs:SendMessage",
        service="events.amazonaws.com",
        context={"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/attacker"},
    )
    assert allowed(policies[scan], own)
    assert [q for q, statements in policies.items() if allowed(statements, foreign)] == []
    # Any other service: no Allow names it.
    sns = Request("sqs:SendMessage", service="sns.amazonaws.com")
    assert [q for q, statements in policies.items() if allowed(statements, sns)] == []


@pytest.mark.parametrize("action", TABLE_WRITES)
def test_the_state_table_refuses_writes_from_principals_that_are_not_frontguards_roles(
    minimal: Synthesized, action: str
) -> None:
    statements = table_statements(minimal)
    for principal in OTHERS:
        assert not allowed(statements, Request(action, principal_arn=principal)), principal
    for role in OWN_ROLES:
        assert allowed(statements, Request(action, principal_arn=role))
    assert not allowed(statements, Request(action, service="lambda.amazonaws.com"))


def test_the_alert_topic_refuses_publishers_that_are_not_frontguard_or_its_alarms(
    minimal: Synthesized,
) -> None:
    statements = topic_statements(minimal)
    for principal in OTHERS:
        assert not allowed(statements, Request("sns:Publish", principal_arn=principal))
    for role in OWN_ROLES:
        assert allowed(statements, Request("sns:Publish", principal_arn=role))
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:frontguard-errors"
    own_alarm = {"aws:SourceArn": alarm, "aws:SourceAccount": ACCOUNT}
    assert allowed(
        statements, Request("sns:Publish", service="cloudwatch.amazonaws.com", context=own_alarm)
    )
    other = "210987654321"
    foreign_alarm = {
        "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{other}:alarm:x",
        "aws:SourceAccount": other,
    }
    for context in ({}, foreign_alarm):
        assert not allowed(
            statements,
            Request("sns:Publish", service="cloudwatch.amazonaws.com", context=context),
        )
    assert not allowed(statements, Request("sns:Publish", service="events.amazonaws.com"))


def test_function_roles_have_the_names_the_policies_trust(minimal: Synthesized) -> None:
    names = sorted(
        r["Properties"]["RoleName"]
        for r in resources(minimal.template, "AWS::IAM::Role").values()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service")
        == "lambda.amazonaws.com"
    )
    assert names == sorted(arn.rsplit("/", 1)[1] for arn in OWN_ROLES)


def test_no_channel_depends_on_a_principal_tag(minimal: Synthesized) -> None:
    """R2-5: a principal tag is only as good as an SCP the customer may not deploy."""
    statements = [
        *topic_statements(minimal),
        *table_statements(minimal),
        *(s for found in queue_policies(minimal).values() for s in found),
    ]
    assert "aws:PrincipalTag" not in repr(statements)
