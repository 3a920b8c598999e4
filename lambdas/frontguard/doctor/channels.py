"""The guard rails of frontguard's channels (security review R2-5, R2-7): each queue, the
state table and the alert topic refuses writes from every principal but frontguard's roles,
and AWS services write only from the source their Allow names.

The doctor reads each deployed resource policy (SQS GetQueueAttributes ``Policy``, SNS
GetTopicAttributes ``Policy``, DynamoDB GetResourcePolicy) and checks the shape
infra/principals.py deploys: a Deny of the writes to ``*`` whose only principal condition is
``aws:PrincipalArn`` not among the deployment's roles (services aside), and no Allow to a
principal that is neither one of those roles nor a service restricted by ``aws:SourceArn`` or
``aws:SourceAccount``. What it cannot read it says so: the SCP of docs/scp.md is only
readable with ``organizations:DescribePolicy`` in the management account, and the
organisation's topic lives in the security account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Final

from botocore.exceptions import ClientError

from frontguard.doctor.report import Check, failed, passed, warned

Client = Any
AREA: Final = "channels"
QUEUE_WRITES: Final = ("sqs:SendMessage",)
TOPIC_WRITES: Final = ("sns:Publish",)
TABLE_WRITES: Final = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)
PRINCIPAL_OPERATORS: Final = frozenset(
    {"ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike"}
)
SOURCE_KEYS: Final = frozenset({"aws:sourcearn", "aws:sourceaccount"})
REDEPLOY: Final = "redeploy the stack (`cdk deploy`); do not edit frontguard's policies by hand"
# AWS error codes meaning "this resource has no policy" (GetResourcePolicy).
NO_POLICY: Final = frozenset({"PolicyNotFoundException", "ResourceNotFoundException"})


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _covers(statement: Mapping[str, Any], action: str) -> bool:
    return any(fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement["Action"]))


def _everyone(principal: Any) -> bool:
    return principal == "*" or (
        isinstance(principal, Mapping) and _as_list(principal.get("AWS", [])) == ["*"]
    )


def _deny_names_only(statement: Mapping[str, Any], roles: Collection[str]) -> bool:
    """A Deny to everyone unless ``aws:PrincipalArn`` is one of ``roles`` (or a service)."""
    if statement.get("Effect") != "Deny" or not _everyone(statement.get("Principal")):
        return False
    principal_values: list[str] = []
    for operator, by_key in (statement.get("Condition") or {}).items():
        for key, value in by_key.items():
            if key.lower() == "aws:principalarn" and operator in PRINCIPAL_OPERATORS:
                principal_values += _as_list(value)
            elif (operator, key.lower()) == ("BoolIfExists", "aws:principalisawsservice"):
                if str(value).lower() != "false":
                    return False
            else:
                return False  # any other condition narrows the Deny
    return bool(principal_values) and set(principal_values) <= set(roles)


def _restricted_service(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    if not isinstance(principal, Mapping) or set(principal) != {"Service"}:
        return False
    conditions = statement.get("Condition") or {}
    return bool({k.lower() for by_key in conditions.values() for k in by_key} & SOURCE_KEYS)


def _only_roles(principal: Any, roles: Collection[str]) -> bool:
    return (
        isinstance(principal, Mapping)
        and set(principal) == {"AWS"}
        and set(_as_list(principal["AWS"])) <= set(roles)
    )


def _open_allows(statements: Sequence[Mapping[str, Any]], roles: Collection[str]) -> list[str]:
    """Allow statements that let in a principal that is neither frontguard's role nor a
    service restricted to its source."""
    found = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if _restricted_service(statement) or _only_roles(principal, roles):
            continue
        found.append(str(statement.get("Sid") or principal))
    return found


def judge(policy: str | None, actions: Sequence[str], roles: Collection[str]) -> str | None:
    """``None`` when ``policy`` refuses ``actions`` to all but ``roles`` and restricted
    services; otherwise what is wrong, in words."""
    if not policy:
        return "no resource policy: any principal of the account with the right can write"
    statements = _as_list(json.loads(policy).get("Statement", []))
    unguarded = [
        action
        for action in actions
        if not any(_covers(s, action) and _deny_names_only(s, roles) for s in statements)
    ]
    if unguarded:
        return (
            f"no Deny limits {', '.join(unguarded)} to frontguard's roles: any principal of the "
            "account with the right can write"
        )
    allows = _open_allows([s for s in statements if any(_covers(s, a) for a in actions)], roles)
    if allows:
        return f"an Allow lets in other writers: {', '.join(allows)}"
    return None


def _check(
    name: str, read: Callable[[], str | None], actions: Sequence[str], roles: Collection[str]
) -> Check:
    try:
        policy = read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in NO_POLICY:
            raise
        policy = None
    problem = judge(policy, actions, roles)
    if problem is None:
        return passed(AREA, name, "only frontguard's roles (and its sources) write")
    return failed(AREA, name, problem, REDEPLOY)


def check_channels(
    sqs: Client,
    sns: Client,
    dynamodb: Client,
    *,
    account: str,
    queue_urls: Sequence[str],
    topic_arn: str,
    table_arn: str | None,
    roles: Collection[str],
) -> list[Check]:
    checks = [
        _check(
            f"queue {url.rsplit('/', 1)[-1]}",
            lambda url=url: sqs.get_queue_attributes(  # type: ignore[misc]
                QueueUrl=url, AttributeNames=["Policy"]
            )["Attributes"].get("Policy"),
            QUEUE_WRITES,
            roles,
        )
        for url in queue_urls
    ]
    checks.append(_topic_check(sns, account, topic_arn, roles))
    checks.append(_table_check(dynamodb, table_arn, roles))
    checks.append(
        warned(
            AREA,
            "scp",
            "whether the SCP of docs/scp.md is attached is not verifiable from a member "
            "account (it needs organizations:DescribePolicy in the management account)",
            "attach docs/scp.md's SCP to the accounts' organisational units",
        )
    )
    return checks


def _topic_check(sns: Client, account: str, topic_arn: str, roles: Collection[str]) -> Check:
    """The alert topic's policy, when the topic is in this account (an organisation's central
    topic is checked in its own account)."""
    if topic_arn.split(":")[4] == account:
        return _check(
            f"topic {topic_arn.rsplit(':', 1)[-1]}",
            lambda: sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"].get("Policy"),
            TOPIC_WRITES,
            roles,
        )
    return warned(
        AREA,
        f"topic {topic_arn.rsplit(':', 1)[-1]}",
        f"the organisation's topic is in account {topic_arn.split(':')[4]}: not checked from here",
        "its stack (FrontguardCentralAlerts) admits only member frontguard roles; "
        "read its policy there",
    )


def _table_check(dynamodb: Client, table_arn: str | None, roles: Collection[str]) -> Check:
    """The state table's resource policy (an older stack does not name its table)."""
    if table_arn is None:
        return warned(
            AREA,
            "state table",
            "the stack does not name its state table (an older version)",
            REDEPLOY,
        )
    return _check(
        f"table {table_arn.rsplit('/', 1)[-1]}",
        lambda: dynamodb.get_resource_policy(ResourceArn=table_arn).get("Policy"),
        TABLE_WRITES,
        roles,
    )
