"""R2-5, R2-6, R2-7: who may write frontguard's channels, and who may claim its tags.

The synthesized templates' resource policies and the documented SCP are evaluated for the
attacker's request (tests/infra/iam_eval.py: explicit Deny wins; a same-account principal is
assumed to hold every right its identity policy could give).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.central_alerts import CentralAlertsStack
from infra.config import CentralAlerts
from infra.principals import role_name
from tests.infra.conftest import ACCOUNT, REGION, Synthesized, minimal  # noqa: F401
from tests.infra.iam_eval import Request, allowed, denies
from tests.infra.test_resource_policies import (
    queue_policies,
    rule_arn,
    table_statements,
    topic_statements,
)
from tests.infra.test_scp import ec2_arn, scp
from tests.security.catalogue import attack

DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/developer"
DEPLOYMENT_TAG = "frontguard.io/deployment"


@attack(
    "R2-5",
    "iam:TagRole on their own role (or sts:TagSession)",
    "give their role frontguard.io/deployment=<stack>, then forge a verification request, a "
    "repair and a state record",
    "refused: the queues and the table name frontguard's roles by ARN, not by a tag",
)
def test_a_self_tagged_principal_cannot_write_frontguards_queues_or_table(
    minimal: Synthesized,  # noqa: F811
) -> None:
    stack = next(iter(minimal.templates))
    tagged = {f"aws:PrincipalTag/{DEPLOYMENT_TAG}": stack}
    for queue, statements in queue_policies(minimal).items():
        request = Request("sqs:SendMessage", principal_arn=DEVELOPER, context=tagged)
        assert not allowed(statements, request), queue
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        request = Request(action, principal_arn=DEVELOPER, context=tagged)
        assert not allowed(table_statements(minimal), request)


@attack(
    "R2-5",
    "iam:TagRole/TagUser, iam:CreateRole/CreateUser, or sts:TagSession",
    "tag a role, a user or a session with frontguard.io/deployment",
    "the documented SCP (docs/scp.md) denies each of them",
)
def test_the_scp_reserves_frontguards_tag_keys_on_principals_and_sessions() -> None:
    for action in ("iam:TagRole", "iam:TagUser", "iam:CreateRole", "iam:CreateUser"):
        request = Request(action, DEVELOPER, context={"aws:TagKeys": [DEPLOYMENT_TAG]})
        assert denies(scp(), request), action
    session = Request("sts:TagSession", DEVELOPER, context={"aws:TagKeys": [DEPLOYMENT_TAG]})
    assert denies(scp(), session)


@attack(
    "R2-6",
    "ec2:CreateManagedPrefixList and ec2:CreateTags",
    "copy frontguard's tags onto their own prefix list, or create one with them "
    "(TagSpecifications)",
    "the documented SCP denies tagging and tag-on-create with frontguard.io/* on prefix lists "
    "and security groups to all but frontguard's roles",
)
def test_the_scp_reserves_frontguards_tags_on_prefix_lists() -> None:
    prefix_list = ec2_arn("prefix-list")
    keys = {"aws:TagKeys": ["frontguard.io/managed-by", "frontguard.io/policy"]}
    requests = [
        Request("ec2:CreateTags", DEVELOPER, resource=prefix_list, context=keys),
        Request("ec2:CreateManagedPrefixList", DEVELOPER, resource=prefix_list, context=keys),
        Request(
            "ec2:CreateTags",
            DEVELOPER,
            resource=prefix_list,
            context={**keys, "ec2:CreateAction": "CreateManagedPrefixList"},
        ),
    ]
    for request in requests:
        assert denies(scp(), request), request


@attack(
    "R2-7",
    "any principal of the account with sns:Publish on *",
    "publish a forged alert (a phishing 'How to fix') to frontguard's alert topic",
    "refused by the topic policy; only frontguard's roles and the account's own alarms publish",
)
def test_a_forged_alert_is_refused_by_the_alert_topic(minimal: Synthesized) -> None:  # noqa: F811
    statements = topic_statements(minimal)
    assert not allowed(statements, Request("sns:Publish", principal_arn=DEVELOPER))
    frontguard = f"arn:aws:iam::{ACCOUNT}:role/{role_name('Events', REGION)}"
    assert allowed(statements, Request("sns:Publish", principal_arn=frontguard))


@attack(
    "R2-7",
    "any principal of the account with sqs:SendMessage on *, or an EventBridge rule of theirs",
    "inject scan and drift events (or a poison message that holds the FIFO group) into the "
    "scan queue",
    "refused: the queue takes frontguard's roles and frontguard's own rules only; so does every "
    "other queue and dead-letter queue",
)
def test_the_scan_queue_refuses_injected_events(minimal: Synthesized) -> None:  # noqa: F811
    policies = queue_policies(minimal)
    [scan] = [q for q in policies if q.startswith("ScanQueueFifo")]
    assert not allowed(policies[scan], Request("sqs:SendMessage", principal_arn=DEVELOPER))
    their_rule = Request(
        "sqs:SendMessage",
        service="events.amazonaws.com",
        context={"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/mine"},
    )
    assert not allowed(policies[scan], their_rule)
    schedule = Request(
        "sqs:SendMessage",
        service="events.amazonaws.com",
        context={"aws:SourceArn": rule_arn(minimal, "Schedule")},
    )
    assert allowed(policies[scan], schedule)


ORG = "o-abcdef1234"
SECURITY = "777788889999"
MEMBER = "555566667777"


@attack(
    "R2-7",
    "any principal of one member account",
    "publish to the organisation's topic an alert that claims to be about another account",
    "refused unless the publisher is a member stack's frontguard function role in the organisation",
)
def test_the_organisation_topic_takes_only_member_frontguard_roles() -> None:
    app = cdk.App()
    central = CentralAlertsStack(
        app,
        central=CentralAlerts(account=SECURITY, region="eu-west-1", organization_id=ORG),
    )
    [policy] = Template.from_stack(central).find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    in_org = {"aws:PrincipalOrgID": ORG}

    def publish(principal: str, context: dict[str, str]) -> Request:
        return Request("sns:Publish", principal, same_account=False, context=context)

    assert not allowed(statements, publish(f"arn:aws:iam::{MEMBER}:role/developer", in_org))
    assert not allowed(statements, publish(f"arn:aws:iam::{MEMBER}:user/admin", in_org))
    outsider = f"arn:aws:iam::999999999999:role/{role_name('Events', 'eu-west-1')}"
    assert not allowed(statements, publish(outsider, {}))
    member = f"arn:aws:iam::{MEMBER}:role/{role_name('Scan', 'us-east-1')}"
    assert allowed(statements, publish(member, in_org))
