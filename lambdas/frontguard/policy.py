"""The policy document (DESIGN.md, "Contracts"): what sources each load balancer may admit.

Validated with pydantic; an invalid document is rejected with an error naming the field.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from frontguard.errors import ConfigurationError

logger = logging.getLogger(__name__)

PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")
SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
VPC_SOURCE = "vpc"


class Mode(StrEnum):
    AUDIT = "audit"
    ENFORCE = "enforce"


class GitOpsAction(StrEnum):
    ALERT = "alert"  # publish `gitops-pending` with the exact annotations to commit
    PATCH = "patch"  # patch anyway (the GitOps tool may revert it: verification will tell)


def validate_source(value: str) -> str:
    """A source is a CIDR (IPv4/IPv6), a prefix-list ID, an SG ID, or ``vpc``."""
    if value == VPC_SOURCE or PREFIX_LIST_ID.match(value) or SECURITY_GROUP_ID.match(value):
        return value
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(
            f"{value!r} is not a CIDR, a prefix-list ID (pl-...), an SG ID (sg-...) or 'vpc'"
        ) from error


Source = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """First matching rule wins. Globs match cluster and namespace; ``*`` matches all."""

    cluster: str = "*"
    namespace: str = "*"
    scheme: Literal["internet-facing", "internal", "*"] = "*"
    kind: Literal["ingress", "service", "gateway", "*"] = "*"
    sources: tuple[Source, ...]

    @field_validator("sources")
    @classmethod
    def _sources(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(validate_source(s) for s in sources)

    def matches(self, *, cluster: str, namespace: str, scheme: str, kind: str) -> bool:
        return (
            fnmatchcase(cluster, self.cluster)
            and fnmatchcase(namespace, self.namespace)
            and self.scheme in ("*", scheme)
            and self.kind in ("*", kind)
        )


class ControllerFlags(_Strict):
    """The AWS Load Balancer Controller's flags that change what it manages (its Helm values
    ``ingressClass``, ``loadBalancerClass``, ``enableBackendSecurityGroup``); the defaults are
    the controller's (LBC:pkg/config/ingress_config.go, LBC:pkg/config/controller_config.go).
    ``frontguard doctor`` reads the real ones from the controller's Deployment."""

    ingress_class: str = "alb"
    load_balancer_class: str = "service.k8s.aws/nlb"
    enable_backend_security_group: bool = True
    # Feature gate ServiceTypeLoadBalancerOnly (default off).
    service_type_load_balancer_only: bool = False


def world_open(sources: tuple[str, ...]) -> list[str]:
    """The sources that admit a large share of the internet: public ranges of /8 or wider
    (IPv4), /16 or wider (IPv6), ``0.0.0.0/0`` and ``::/0`` included."""
    found = []
    for source in sources:
        try:
            network = ipaddress.ip_network(source)
        except ValueError:
            continue  # vpc, prefix lists, SG IDs
        widest = 8 if network.version == 4 else 16
        if network.prefixlen <= widest and not network.is_private:
            found.append(source)
    return found


def is_glob(pattern: str) -> bool:
    """Whether a policy pattern is a glob rather than an exact name (the special characters of
    :func:`fnmatch.fnmatchcase`, which matches the policy's patterns)."""
    return any(c in pattern for c in "*?[")


def _covers_rule(earlier: Rule, later: Rule) -> bool:
    """Whether ``earlier`` matches every load balancer ``later`` matches."""

    def covers(pattern: str, value: str) -> bool:
        return pattern == "*" or (not is_glob(value) and fnmatchcase(value, pattern))

    return (
        covers(earlier.cluster, later.cluster)
        and covers(earlier.namespace, later.namespace)
        and earlier.scheme in ("*", later.scheme)
        and earlier.kind in ("*", later.kind)
    )


class Exemption(_Strict):
    """An authorised opt-out: who decided, for which object, why, and until when.

    ``kind`` ``ingress-group`` names the group in ``name`` (``namespace`` unused): an
    IngressGroup is exempt only through an entry of its own, never through one member's.
    Annotations (``frontguard.io/exempt``) alone exempt nothing: anyone who can edit the
    object can write one (security review, finding 4).
    """

    cluster: str = "*"
    namespace: str = "*"
    kind: Literal["ingress", "service", "gateway", "ingress-group"]
    name: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    expires: date

    @model_validator(mode="after")
    def _one_object(self) -> Exemption:
        """An ingress/service/gateway entry names exactly one object: its cluster and namespace
        written out, no glob. Otherwise a tenant exempts itself by naming its own object like
        an exempted one (an entry without a namespace, or ``team-*``: security review r2,
        R2-10). The policy does not load: a configuration error, alerted like any other."""
        if self.kind == "ingress-group":
            return self
        for field_name in ("cluster", "namespace"):
            value = getattr(self, field_name)
            if field_name not in self.model_fields_set or is_glob(value):
                raise ValueError(
                    f"a {self.kind} exemption names one object: give its exact {field_name} "
                    f"(no glob, no default), not {value!r}"
                )
        if is_glob(self.name):
            raise ValueError(f"a {self.kind} exemption names one object, not {self.name!r}")
        return self

    def matches(self, *, cluster: str, kind: str, namespace: str | None, name: str) -> bool:
        return (
            self.kind == kind
            and fnmatchcase(cluster, self.cluster)
            and (kind == "ingress-group" or fnmatchcase(namespace or "", self.namespace))
            and self.name == name
        )

    def describe(self) -> str:
        return (
            f"exempt by policy: {self.reason} (approved by {self.approved_by}, "
            f"until {self.expires.isoformat()})"
        )


class UnapprovedExemption(StrEnum):
    REPORT = "report"  # an open finding (`exempt-unapproved`); the LB is left as it is
    IGNORE = "ignore"  # the annotation has no effect: the LB is remediated like any other


class Policy(_Strict):
    mode: Mode = Mode.AUDIT
    clusters: tuple[str, ...] = ("*",)
    rules: tuple[Rule, ...] = ()
    default_sources: tuple[Source, ...] = (VPC_SOURCE,)
    approved_security_groups: frozenset[str] = frozenset()
    exempt_namespaces: frozenset[str] = frozenset({"kube-system"})
    exemptions: tuple[Exemption, ...] = ()
    unapproved_exemptions: UnapprovedExemption = UnapprovedExemption.REPORT
    gitops: GitOpsAction = GitOpsAction.ALERT
    # Rules per security group: AWS's default quota is 60 inbound rules.
    max_rules_per_security_group: int = Field(default=60, ge=1, le=1000)
    # Seconds before the first verification of a remediation.
    verify_delay_seconds: int = Field(default=120, ge=0, le=900)
    # Re-checks after the first verification, in seconds (SQS delays at most 900 s each).
    verify_backoff_seconds: tuple[Annotated[int, Field(ge=0, le=900)], ...] = (60, 180, 600)
    # Whether `verified` outcomes are published too (otherwise only a metric).
    notify_on_success: bool = False
    # Namespaces whose `verified` outcomes are always published: the canary's, so that it can
    # read frontguard's verification of its load balancer (docs/canary.md).
    success_alert_namespaces: tuple[str, ...] = ("frontguard-canary",)
    # Hours during which the same open finding for the same LB alerts only once.
    alert_period_hours: float = Field(default=24, gt=0)
    # Loop detection: this many re-patches of one object within the window → stop, `conflict`.
    loop_threshold: int = Field(default=3, ge=2)
    loop_window_minutes: int = Field(default=60, ge=1)
    # Hours an orphaned frontguard SG (its load balancer gone) is kept before deletion.
    cleanup_grace_hours: float = Field(default=24, ge=0)
    # EKS Auto Mode's SG annotation support is undocumented: only report unless switched on.
    remediate_auto_mode: bool = False
    # NLBs behind a VPC endpoint service: AWS checks PrivateLink consumers' client IPs
    # against the NLB's SG by default, so replacing the world-open SG can cut them off.
    # "alert": report and change nothing; "remediate": the policy's sources include them.
    privatelink: Literal["alert", "remediate"] = "alert"
    # The controller's flags, and per-cluster overrides (exact cluster names).
    controller: ControllerFlags = ControllerFlags()
    # Clusters (globs) whose load balancers should be born at policy width through class-level
    # defaults (`frontguard render born-protected`): one created open alerts `born-open`.
    born_protected: tuple[str, ...] = ()
    cluster_controllers: dict[str, ControllerFlags] = Field(default_factory=dict)

    @field_validator("default_sources")
    @classmethod
    def _default_sources(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(validate_source(s) for s in sources)

    @field_validator("approved_security_groups")
    @classmethod
    def _approved(cls, groups: frozenset[str]) -> frozenset[str]:
        for group in groups:
            if not SECURITY_GROUP_ID.match(group):
                raise ValueError(f"{group!r} is not a security group ID (sg-...)")
        return groups

    def controller_flags(self, cluster: str) -> ControllerFlags:
        return self.cluster_controllers.get(cluster, self.controller)

    def born_protected_cluster(self, cluster: str) -> bool:
        return any(fnmatchcase(cluster, pattern) for pattern in self.born_protected)

    def selects_cluster(self, cluster: str) -> bool:
        return any(fnmatchcase(cluster, pattern) for pattern in self.clusters)

    def sources_for(
        self, *, cluster: str, namespace: str, scheme: str, kind: str
    ) -> tuple[str, ...]:
        for rule in self.rules:
            if rule.matches(cluster=cluster, namespace=namespace, scheme=scheme, kind=kind):
                return rule.sources
        return self.default_sources

    @classmethod
    def from_json(cls, text: str) -> Policy:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"policy document is not valid JSON: {error}") from error
        return cls.from_document(document)

    def warnings(self, today: date | None = None) -> list[str]:
        """What is valid but probably not meant: world-open sources, rules that can never
        match (an earlier rule matches everything they do: first match wins), rules that
        admit nothing, expired exemptions. Logged when the policy is loaded; the scan's
        digest repeats them."""
        today = today or datetime.now(UTC).date()
        found: list[str] = []
        named = [(f"rules[{i}]", rule.sources) for i, rule in enumerate(self.rules)]
        for where, sources in [*named, ("default_sources", self.default_sources)]:
            found.extend(
                f"{where} admits {source}, a world-open range" for source in world_open(sources)
            )
            if not sources:
                found.append(f"{where} has no sources: load balancers it matches admit nothing")
        for later, rule in enumerate(self.rules):
            for earlier in range(later):
                if _covers_rule(self.rules[earlier], rule):
                    found.append(
                        f"rules[{later}] never applies: rules[{earlier}] matches everything "
                        "it does, and the first matching rule wins"
                    )
                    break
        found.extend(
            f"exemptions[{i}] ({e.kind} {e.namespace}/{e.name}) expired on {e.expires}"
            for i, e in enumerate(self.exemptions)
            if e.expires < today
        )
        return found

    @classmethod
    def from_document(cls, document: object) -> Policy:
        policy = cls._validated(document)
        for warning in policy.warnings():
            logger.warning("policy warning", extra={"warning": warning})
        return policy

    @classmethod
    def _validated(cls, document: object) -> Policy:
        try:
            return cls.model_validate(document)
        except ValidationError as error:
            problems = validation_problems(error, "<document>")
            raise ConfigurationError(f"invalid policy document: {problems}") from error


def validation_problems(error: ValidationError, root: str) -> str:
    """Every field pydantic refused, ``path: message``, in one line (``root`` names the whole
    document when the problem is not a field's)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or root}: {item['msg']}" for item in error.errors()
    )
