"""The domain's vocabulary: load balancers, their owners, planned rules and outcomes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from frontguard import tags as t


class Outcome(StrEnum):
    """What frontguard concluded about one load balancer (alert ``outcome`` values)."""

    REMEDIATED = "remediated"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification-failed"
    NEEDS_RECREATION = "needs-recreation"
    GITOPS_PENDING = "gitops-pending"
    CONFLICT = "conflict"
    DRIFT = "drift"
    AUDIT_FINDING = "audit-finding"
    ERROR = "error"
    # Not alerted: classification only.
    COMPLIANT = "compliant"
    EXEMPT = "exempt"
    NOT_CONTROLLER_HANDLED = "not-controller-handled"
    IGNORED = "ignored"


class OwnerKind(StrEnum):
    SERVICE = "service"
    INGRESS = "ingress"
    INGRESS_GROUP = "ingress-group"
    GATEWAY = "gateway"
    AUTO_MODE = "auto-mode"


@dataclass(frozen=True)
class OwnerRef:
    """The Kubernetes object(s) a load balancer belongs to, from its stack tag."""

    kind: OwnerKind
    namespace: str | None = None
    name: str | None = None
    group: str | None = None
    frontend_nlb: bool = False

    @property
    def policy_kind(self) -> str:
        """The ``kind`` a policy rule matches on."""
        if self.kind in (OwnerKind.INGRESS, OwnerKind.INGRESS_GROUP):
            return "ingress"
        return self.kind.value

    def describe(self) -> str:
        if self.kind is OwnerKind.INGRESS_GROUP:
            return f"ingress-group/{self.group}"
        suffix = " (frontend NLB)" if self.frontend_nlb else ""
        return f"{self.kind.value}/{self.namespace}/{self.name}{suffix}"

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> OwnerRef:
        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value else None

        return cls(
            OwnerKind(str(data["kind"])),
            text("namespace"),
            text("name"),
            text("group"),
            bool(data.get("frontend_nlb")),
        )

    def as_dict(self) -> dict[str, str | bool | None]:
        return {
            "kind": self.kind.value,
            "namespace": self.namespace,
            "name": self.name,
            "group": self.group,
            "frontend_nlb": self.frontend_nlb,
        }


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str  # ELBv2 listener protocol: HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    type: str  # "application" | "network" (trust Type, not the ARN)
    scheme: str
    vpc_id: str
    security_groups: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def cluster(self) -> str | None:
        return self.tags.get(t.CLUSTER_TAG) or self.tags.get(t.AUTO_MODE_CLUSTER_TAG)


@dataclass(frozen=True)
class Classification:
    """Whose load balancer this is, or why frontguard leaves it alone."""

    owner: OwnerRef | None
    skip_reason: str | None = None


def classify(tags: Mapping[str, str]) -> Classification:
    """Resolve the owner from the controller's tags (DESIGN.md, "Tags the LBC puts")."""
    if t.CLUSTER_TAG not in tags:
        if t.AUTO_MODE_CLUSTER_TAG in tags and any(k in tags for k in t.AUTO_MODE_STACK_TAGS):
            return Classification(
                OwnerRef(OwnerKind.AUTO_MODE), "EKS Auto Mode load balancer: reported only"
            )
        return Classification(None, "not created by the AWS Load Balancer Controller")
    if t.GATEWAY_ALB_STACK_TAG in tags or t.GATEWAY_NLB_STACK_TAG in tags:
        gateway = tags.get(t.GATEWAY_ALB_STACK_TAG) or tags.get(t.GATEWAY_NLB_STACK_TAG) or ""
        namespace, _, name = gateway.partition("/")
        return Classification(
            OwnerRef(OwnerKind.GATEWAY, namespace, name),
            "Gateway API load balancer: not remediated yet",
        )
    if (service := tags.get(t.SERVICE_STACK_TAG)) is not None:
        namespace, slash, name = service.partition("/")
        if not slash or not namespace or not name:
            return Classification(None, f"malformed {t.SERVICE_STACK_TAG} tag {service!r}")
        return Classification(OwnerRef(OwnerKind.SERVICE, namespace, name))
    if (stack := tags.get(t.INGRESS_STACK_TAG)) is not None:
        frontend_nlb = tags.get(t.INGRESS_RESOURCE_TAG) == t.FRONTEND_NLB
        namespace, slash, name = stack.partition("/")
        if slash:
            if not namespace or not name:
                return Classification(None, f"malformed {t.INGRESS_STACK_TAG} tag {stack!r}")
            return Classification(
                OwnerRef(OwnerKind.INGRESS, namespace, name, frontend_nlb=frontend_nlb)
            )
        if not stack:
            return Classification(None, f"empty {t.INGRESS_STACK_TAG} tag")
        return Classification(
            OwnerRef(OwnerKind.INGRESS_GROUP, group=stack, frontend_nlb=frontend_nlb)
        )
    return Classification(None, "controller-tagged but without a stack tag")


@dataclass(frozen=True, order=True)
class PermissionRule:
    """One inbound rule: protocol, port, and one source (CIDR, prefix list or SG)."""

    protocol: str  # "tcp" | "udp"
    port: int
    source: str

    @property
    def source_kind(self) -> str:
        if self.source.startswith("pl-"):
            return "prefix-list"
        if self.source.startswith("sg-"):
            return "security-group"
        return "ipv6" if ":" in self.source else "ipv4"


def plan_digest(rules: Iterable[PermissionRule]) -> str:
    """A short stable digest of a rule set, kept on frontguard's SG as a tag."""
    canonical = json.dumps(sorted((r.protocol, r.port, r.source) for r in rules))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
