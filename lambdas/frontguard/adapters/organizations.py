"""The accounts of an AWS Organization, and credentials for a role in each.

Used by the cross-account ``frontguard scan`` from a laptop or a pipeline (never by the
Lambdas): the caller's credentials must be allowed ``organizations:ListAccounts`` /
``ListAccountsForParent`` / ``ListOrganizationalUnitsForParent`` (the management account or a
delegated administrator) and ``sts:AssumeRole`` on the member role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate
from frontguard.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_sts import STSClient

ACCOUNT_ID = re.compile(r"^\d{12}$")
OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
# An account's Status is ACTIVE, SUSPENDED or PENDING_CLOSURE: only ACTIVE ones can be scanned
# (https://docs.aws.amazon.com/organizations/latest/APIReference/API_Account.html).
ACTIVE = "ACTIVE"
SESSION_NAME = "frontguard-scan"
# IAM's character sets, checked before AssumeRole so a typo or an injected value is a clear
# configuration error, never a request
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html): RoleName is
# ``[\w+=,.@-]+`` (1-64 characters); Path is ``/`` or ``/`` + ``[\u0021-\u007E]+`` + ``/``
# (up to 512). In the path we also refuse ``*`` and ``?``: they are wildcards wherever the ARN
# lands in a policy, and no role needs them.
ROLE_NAME = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,64}$")
ROLE_PATH_SEGMENT = re.compile(r"^[\x21-\x7E]+$")
ROLE_PATH_MAX = 512


@dataclass(frozen=True)
class Account:
    id: str
    name: str = ""


def parse_accounts(values: list[str]) -> list[Account]:
    """``--account`` values: 12-digit IDs (comma-separated or repeated), each once, in order."""
    accounts: list[Account] = []
    for value in values:
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            if not ACCOUNT_ID.match(part):
                raise ConfigurationError(f"not an AWS account ID: {part!r} (12 digits)")
            if all(a.id != part for a in accounts):
                accounts.append(Account(part))
    return accounts


def organization_accounts(client: OrganizationsClient, parent: str | None = None) -> list[Account]:
    """Every ACTIVE account of the organization, or under ``parent`` (an OU or the root,
    nested OUs included), sorted by ID."""
    if parent is not None and not (OU_ID.match(parent) or ROOT_ID.match(parent)):
        raise ConfigurationError(f"not an organizational unit or root ID: {parent!r}")
    found: dict[str, Account] = {}
    try:
        if parent is None:
            for page in client.get_paginator("list_accounts").paginate():
                _collect(page["Accounts"], found)
        else:
            pending = [parent]
            while pending:
                current = pending.pop()
                for accounts in client.get_paginator("list_accounts_for_parent").paginate(
                    ParentId=current
                ):
                    _collect(accounts["Accounts"], found)
                for units in client.get_paginator("list_organizational_units_for_parent").paginate(
                    ParentId=current
                ):
                    pending.extend(ou["Id"] for ou in units["OrganizationalUnits"])
    except ClientError as error:
        raise translate(error, "list the organization's accounts") from error
    return sorted(found.values(), key=lambda a: a.id)


def _collect(accounts: list[Any], found: dict[str, Account]) -> None:
    for account in accounts:
        # "State" replaces "Status" in newer API versions; either says ACTIVE.
        status = account.get("State") or account.get("Status")
        if status == ACTIVE:
            found[account["Id"]] = Account(account["Id"], account.get("Name", ""))


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


def assume_role(sts: STSClient, role_arn: str) -> Credentials:
    """Temporary credentials for ``role_arn``; access denied / role missing is permanent."""
    try:
        found = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
    except ClientError as error:
        raise translate(error, f"assume {role_arn}") from error
    return Credentials(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"])


def role_arn(account: str, role: str, partition: str = "aws") -> str:
    """The ARN of the role named ``role`` (optionally with a path) in ``account``."""
    check_role_name(role)
    return f"arn:{partition}:iam::{account}:role/{role.strip('/')}"


def check_role_name(role: str) -> None:
    """Refuse ``role`` unless it is an IAM role name, optionally after an IAM path."""
    if role.startswith("arn:") or not role.strip("/"):
        raise ConfigurationError(f"--role takes a role name (the same in every account): {role!r}")
    *path, name = role.strip("/").split("/")
    full_path = "/" + "".join(f"{segment}/" for segment in path)
    if (
        not ROLE_NAME.match(name)
        or len(full_path) > ROLE_PATH_MAX
        or any(
            not ROLE_PATH_SEGMENT.match(segment) or "*" in segment or "?" in segment
            for segment in path
        )
    ):
        raise ConfigurationError(
            f"--role is not a valid IAM role name (letters, digits and _+=,.@- , at most 64; "
            f"an optional path of printable characters without spaces or wildcards): {role!r}"
        )
