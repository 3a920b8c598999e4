"""The deployment configuration: where frontguard runs and how it is wired.

Read from a JSON file (``cdk deploy -c config=frontguard.config.json``) or, without one, from
the ``frontguard`` object in cdk.json's context. Validated up front: a bad value stops the
synth with an error that names the field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
# EKS cluster names: 1-100 characters, alphanumerics, hyphens and underscores.
ClusterName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
SsmParameterName = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9_.\-/]+$")]
# EventBridge schedule expressions: rate(...) or cron(...).
Schedule = Annotated[
    str,
    StringConstraints(pattern=r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$"),
]


class ConfigError(Exception):
    """The deployment configuration is invalid; the message names each bad field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """One account and region: frontguard deploys one stack into each."""

    account: AccountId
    region: Region


class SlackChannel(_Model):
    """An AWS Chatbot Slack channel for alerts (the workspace is authorised in the console)."""

    workspace_id: Annotated[str, StringConstraints(min_length=1)]
    channel_id: Annotated[str, StringConstraints(min_length=1)]


class Alerts(_Model):
    emails: tuple[Email, ...] = ()
    slack: SlackChannel | None = None


class VpcAttachment(_Model):
    """Run the functions inside a VPC, for clusters whose API endpoint is private only.

    The subnets need a route to the AWS APIs (NAT or VPC endpoints for EC2, ELBv2, EKS, STS,
    SNS, SQS, DynamoDB, SSM) and the security groups must reach the clusters' endpoints.
    """

    vpc_id: Annotated[str, StringConstraints(pattern=r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")]
    subnet_ids: Annotated[
        tuple[
            Annotated[str, StringConstraints(pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")], ...
        ],
        Field(min_length=1),
    ]
    security_group_ids: Annotated[
        tuple[Annotated[str, StringConstraints(pattern=r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")], ...],
        Field(min_length=1),
    ]


class ScanRoleConfig(_Model):
    """The read-only role for ``frontguard scan --organization`` in each member account."""

    # Accounts whose principals may assume it: the management or delegated-administrator
    # account, a pipeline account.
    trusted_accounts: Annotated[tuple[AccountId, ...], Field(min_length=1)]
    # Also require the caller to belong to this organization (aws:PrincipalOrgID).
    organization_id: Annotated[str, StringConstraints(pattern=r"^o-[a-z0-9]{10,32}$")] | None = None
    role_name: Annotated[str, StringConstraints(pattern=r"^[\w+=,.@-]{1,64}$")] = "frontguard-scan"


class DeploymentConfig(_Model):
    """Everything ``app.py`` needs to build the stacks."""

    targets: Annotated[tuple[Target, ...], Field(min_length=1)]
    clusters: Annotated[tuple[ClusterName, ...], Field(min_length=1)]
    policy: dict[str, Any] | None = None
    policy_parameter: SsmParameterName | None = None
    schedule: Schedule = "rate(1 hour)"
    alerts: Alerts = Alerts()
    vpc: VpcAttachment | None = None
    log_retention_days: Literal[7, 14, 30, 60, 90, 180, 365] = 90
    # Findings in AWS Security Hub (ASFF): off by default; when on, the functions get the
    # securityhub grants and FRONTGUARD_SECURITY_HUB=true. Security Hub must be enabled in
    # the account and region (docs/organization.md).
    security_hub: bool = False
    # The read-only role the cross-account scan assumes (off unless configured).
    scan_role: ScanRoleConfig | None = None

    @model_validator(mode="after")
    def _one_policy_source(self) -> DeploymentConfig:
        if (self.policy is None) == (self.policy_parameter is None):
            raise ValueError("set exactly one of 'policy' (the document) or 'policy_parameter'")
        if self.policy is not None and self.policy.get("mode") not in ("audit", "enforce"):
            raise ValueError("policy.mode must be 'audit' or 'enforce'")
        return self

    @property
    def policy_json(self) -> str | None:
        """The policy document as the functions read it from FRONTGUARD_POLICY."""
        if self.policy is None:
            return None
        return json.dumps(self.policy, separators=(",", ":"), sort_keys=True)


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid frontguard configuration ({source}):"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "<root>"
        lines.append(f"  {field}: {item['msg']}")
    return "\n".join(lines)


def parse_config(raw: object, *, source: str) -> DeploymentConfig:
    """Validate ``raw``; raise :class:`ConfigError` naming every bad field."""
    try:
        return DeploymentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from error


def load_config(path: Path) -> DeploymentConfig:
    """Read and validate a JSON configuration file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read frontguard configuration {path}: {error}") from error
    return parse_config(raw, source=str(path))


def stack_name(target: Target) -> str:
    """A stable, readable stack name per account and region."""
    return "Frontguard-" + re.sub(r"[^A-Za-z0-9-]", "-", f"{target.account}-{target.region}")
