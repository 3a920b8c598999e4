"""Only frontguard's roles write its verification and remediation queues and its state table
(issue 13 item 8, security review #10): template assertions."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized, resources

TAG = "frontguard.io/deployment"


def deny_writes(statements: list[dict[str, Any]], stack: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s.get("Condition") == {"StringNotEquals": {f"aws:PrincipalTag/{TAG}": stack}}
    ]


def test_only_frontguards_roles_send_to_its_request_queues(minimal: Synthesized) -> None:
    stack, template = next(iter(minimal.templates.items()))
    denied: list[Any] = []
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        denied.extend(
            s["Action"]
            for s in deny_writes(policy["Properties"]["PolicyDocument"]["Statement"], stack)
        )
    assert denied.count("sqs:SendMessage") == 2  # verification and remediation queues


def test_only_frontguards_roles_write_its_state_table(minimal: Synthesized) -> None:
    stack, template = next(iter(minimal.templates.items()))
    [table] = resources(template, "AWS::DynamoDB::GlobalTable").values()
    [replica] = table["Properties"]["Replicas"]
    [statement] = deny_writes(replica["ResourcePolicy"]["PolicyDocument"]["Statement"], stack)
    assert set(statement["Action"]) == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }


def test_every_function_role_carries_the_deployment_tag(minimal: Synthesized) -> None:
    stack, template = next(iter(minimal.templates.items()))
    roles = [
        r
        for r in resources(template, "AWS::IAM::Role").values()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service")
        == "lambda.amazonaws.com"
    ]
    assert roles
    for role in roles:
        assert {"Key": TAG, "Value": stack} in role["Properties"].get("Tags", [])
