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
# EventBridge schedule expressions, as EventBridge accepts them: rate(1 <unit>) in the
# singular, rate(N <units>) in the plural for N > 1 (never 0), or cron(...) with six fields.
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
Schedule = Annotated[
    str,
    StringConstraints(
        pattern=r"^(rate\(1 (minute|hour|day)\)"
        r"|rate\(([2-9]|[1-9]\d+) (minutes|hours|days)\)"
        r"|cron\(\S+( \S+){5}\))$"
    ),
]
# Lambda caps a function's environment variables at 4 KB in total:
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_ENVIRONMENT_LIMIT = 4096
# SSM parameter values: Standard up to 4 KB, Advanced up to 8 KB.
# https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html
SSM_STANDARD_LIMIT = 4096
SSM_ADVANCED_LIMIT = 8192


class ConfigError(Exception):
    """The deployment configuration is invalid; the message names each bad field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class Target(_Model):
    """One account and region: frontguard deploys one stack into each.

    Clusters, VPCs and subnets are regional resources, so each target names its own: an
    access entry for a cluster the region does not have fails the whole stack
    (``CreateAccessEntry`` answers ``ResourceNotFoundException``).
    """

    account: AccountId
    region: Region
    clusters: Annotated[tuple[ClusterName, ...], Field(min_length=1)]
    vpc: VpcAttachment | None = None


class SlackChannel(_Model):
    """An AWS Chatbot Slack channel for alerts (the workspace is authorised in the console)."""

    workspace_id: Annotated[str, StringConstraints(min_length=1)]
    channel_id: Annotated[str, StringConstraints(min_length=1)]


class Alerts(_Model):
    emails: tuple[Email, ...] = ()
    slack: SlackChannel | None = None


class ScanRoleConfig(_Model):
    """The read-only role for ``frontguard scan --organization`` in each member account."""

    # Accounts whose principals may assume it: the management or delegated-administrator
    # account, a pipeline account.
    trusted_accounts: Annotated[tuple[AccountId, ...], Field(min_length=1)]
    # Also require the caller to belong to this organization (aws:PrincipalOrgID).
    organization_id: Annotated[str, StringConstraints(pattern=r"^o-[a-z0-9]{10,32}$")] | None = None
    role_name: Annotated[str, StringConstraints(pattern=r"^[\w+=,.@-]{1,64}$")] = "frontguard-scan"


# IAM role names: https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html
RoleName = Annotated[str, StringConstraints(pattern=r"^[\w+=,.@-]{1,64}$")]


class FailClosedConfig(_Model):
    """Fail-closed mode (infra/fail_closed.py): a Deny on the controller's managed-SG creation,
    attached to these IAM roles of the controller (the IRSA or Pod Identity role of each
    cluster's aws-load-balancer-controller). Off unless configured."""

    controller_role_names: Annotated[tuple[RoleName, ...], Field(min_length=1)]


OrganizationId = Annotated[str, StringConstraints(pattern=r"^o-[a-z0-9]{10,32}$")]
OrganizationalUnitId = Annotated[
    str, StringConstraints(pattern=r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
]


class OrganizationRollout(_Model):
    """Deploy the member stack to an organization with a service-managed StackSet
    (infra/organization.py, docs/organization.md)."""

    # Where the administrator stack lives: the management account (call_as SELF) or a
    # delegated administrator for StackSets (DELEGATED_ADMIN).
    admin_account: AccountId
    admin_region: Region
    call_as: Literal["SELF", "DELEGATED_ADMIN"] = "DELEGATED_ADMIN"
    organization_id: OrganizationId
    # Every account in these OUs (nested ones included), and each account that joins later.
    organizational_units: Annotated[tuple[OrganizationalUnitId, ...], Field(min_length=1)]
    regions: Annotated[tuple[Region, ...], Field(min_length=1)]
    failure_tolerance_percentage: Annotated[int, Field(ge=0, le=100)] = 10
    max_concurrent_percentage: Annotated[int, Field(ge=1, le=100)] = 25
    region_concurrency: Literal["SEQUENTIAL", "PARALLEL"] = "PARALLEL"
    # Keep a member's stack when its account leaves the OUs (default: delete it).
    retain_stacks_on_account_removal: bool = False
    stack_set_name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,127}$")] = (
        "frontguard"
    )
    # Code buckets are named <prefix>-<region>; default frontguard-code-<admin account>.
    asset_bucket_prefix: (
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,40}$")] | None
    ) = None

    @property
    def bucket_prefix(self) -> str:
        return self.asset_bucket_prefix or f"frontguard-code-{self.admin_account}"


class CentralAlerts(_Model):
    """One alert topic for the organization, in the security account (infra/central_alerts.py):
    every member stack publishes its alerts and digests there instead of its own topic."""

    account: AccountId
    region: Region
    organization_id: OrganizationId
    emails: tuple[Email, ...] = ()
    topic_name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,256}$")] = (
        "frontguard-organization-alerts"
    )

    @property
    def topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{self.topic_name}"

    @property
    def key_alias(self) -> str:
        return f"alias/{self.topic_name}"


class CanaryConfig(_Model):
    """The scheduled canary (infra/canary.py, docs/canary.md): opt-in per cluster."""

    clusters: Annotated[tuple[ClusterName, ...], Field(min_length=1)]
    kind: Literal["ingress", "service", "gateway"] = "ingress"
    namespace: Annotated[
        str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    ] = "frontguard-canary"
    schedule: Schedule = "rate(1 day)"
    # Alarm when a canary load balancer stays open longer than this.
    max_exposure_seconds: Annotated[int, Field(ge=0, le=3600)] = 120
    timeout_seconds: Annotated[int, Field(ge=120, le=840)] = 600


class DeploymentConfig(_Model):
    """Everything ``app.py`` needs to build the stacks."""

    # Accounts and regions deployed one stack at a time (cdk deploy); may be empty with
    # ``organization``.
    targets: tuple[Target, ...] = ()
    policy: dict[str, Any] | None = None
    policy_parameter: SsmParameterName | None = None
    schedule: Schedule = "rate(1 hour)"
    # The sweep (engine/sweep.py): bounds a lost CloudTrail event's exposure; None: off.
    sweep_schedule: Schedule | None = "rate(1 minute)"
    alerts: Alerts = Alerts()
    log_retention_days: Literal[7, 14, 30, 60, 90, 180, 365] = 90
    # Findings in AWS Security Hub (ASFF): off by default; when on, the functions get the
    # securityhub grants and FRONTGUARD_SECURITY_HUB=true. Security Hub must be enabled in
    # the account and region (docs/organization.md).
    security_hub: bool = False
    # The read-only role the cross-account scan assumes (off unless configured).
    scan_role: ScanRoleConfig | None = None
    # Roll-out to an organization through a StackSet (off unless configured).
    organization: OrganizationRollout | None = None
    # Publish alerts to the organization's topic instead of each stack's own (optional).
    central_alerts: CentralAlerts | None = None
    # Deny the controller its world-open managed SG (off unless configured).
    fail_closed: FailClosedConfig | None = None
    # Measure the real exposure of a new load balancer on a schedule (off unless configured).
    canary: CanaryConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _regional_fields_live_in_targets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = [key for key in ("clusters", "vpc") if key in data]
            if moved:
                raise ValueError(
                    f"{' and '.join(repr(k) for k in moved)} moved into each target: clusters, "
                    "VPCs and subnets are regional (see frontguard.config.example.json)"
                )
        return data

    @model_validator(mode="after")
    def _one_policy_source(self) -> DeploymentConfig:
        if (self.policy is None) == (self.policy_parameter is None):
            raise ValueError("set exactly one of 'policy' (the document) or 'policy_parameter'")
        if not self.targets and self.organization is None:
            raise ValueError(
                "set 'targets' (one stack per account and region), 'organization' "
                "(a StackSet), or both"
            )
        if self.policy is not None:
            # The runtime's own model: what synthesizes is what the functions will load.
            from frontguard.errors import ConfigurationError
            from frontguard.policy import Policy

            try:
                Policy.from_document(self.policy)
            except ConfigurationError as error:
                raise ValueError(f"policy: {error}") from error
            size = len(self.policy_json or "")
            if size > SSM_ADVANCED_LIMIT:
                raise ValueError(
                    f"the policy document is {size} bytes; an SSM parameter holds at most "
                    f"{SSM_ADVANCED_LIMIT}: merge rules, or manage the parameter yourself"
                )
        if self.canary is not None:
            known = {c for t in self.targets for c in t.clusters}
            unknown = sorted(set(self.canary.clusters) - known)
            if unknown:
                raise ValueError(
                    f"canary.clusters names {', '.join(unknown)}, which no target lists"
                )
        seen = [(t.account, t.region) for t in self.targets]
        if len(set(seen)) != len(seen):
            raise ValueError("each account and region may appear in one target only")
        return self

    @property
    def policy_json(self) -> str | None:
        """The inline policy document as the stack stores it in its SSM parameter."""
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
