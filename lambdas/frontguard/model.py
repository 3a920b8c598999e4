"""The domain's vocabulary: load balancers, their owners, planned rules and outcomes."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
    # A load balancer of a born-protected cluster created open: the class-level object that
    # should have given it the policy's sources is missing or drifted.
    BORN_OPEN = "born-open"
    ERROR = "error"
    # The scheduled canary (docs/canary.md) did not see the chain work end to end.
    CANARY_FAILED = "canary-failed"
    # An exemption annotation the policy does not authorise: reported, not honoured silently.
    EXEMPT_UNAPPROVED = "exempt-unapproved"
    # The scheduled scan found it open and queued its repair (the digest says so).
    REMEDIATION_QUEUED = "remediation-queued"
    # Not alerted: classification only.
    COMPLIANT = "compliant"
    # The controller's own managed SG admits only the policy's sources (class-level defaults):
    # compliant, never swapped.
    BORN_PROTECTED = "born-protected"
    EXEMPT = "exempt"
    NOT_CONTROLLER_HANDLED = "not-controller-handled"
    IGNORED = "ignored"


class OwnerKind(StrEnum):
    SERVICE = "service"
    INGRESS = "ingress"
    INGRESS_GROUP = "ingress-group"
    GATEWAY = "gateway"
    # Kept so that older verification requests still parse; Auto Mode LBs are now classified
    # by their real owner kind with ``OwnerRef.auto_mode`` set.
    AUTO_MODE = "auto-mode"


@dataclass(frozen=True)
class OwnerRef:
    """The Kubernetes object(s) a load balancer belongs to, from its stack tag."""

    kind: OwnerKind
    namespace: str | None = None
    name: str | None = None
    group: str | None = None
    frontend_nlb: bool = False
    auto_mode: bool = False  # made by EKS Auto Mode's built-in controller

    @property
    def policy_kind(self) -> str:
        """The ``kind`` a policy rule matches on."""
        if self.kind in (OwnerKind.INGRESS, OwnerKind.INGRESS_GROUP):
            return "ingress"
        return self.kind.value

    def describe(self) -> str:
        auto = " (EKS Auto Mode)" if self.auto_mode else ""
        if self.kind is OwnerKind.INGRESS_GROUP:
            return f"ingress-group/{self.group}{auto}"
        suffix = " (frontend NLB)" if self.frontend_nlb else ""
        return f"{self.kind.value}/{self.namespace}/{self.name}{suffix}{auto}"

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
            bool(data.get("auto_mode")),
        )

    def as_dict(self) -> dict[str, str | bool | None]:
        data: dict[str, str | bool | None] = {
            "kind": self.kind.value,
            "namespace": self.namespace,
            "name": self.name,
            "group": self.group,
            "frontend_nlb": self.frontend_nlb,
        }
        if self.auto_mode:
            data["auto_mode"] = True
        return data


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
    dns_name: str = ""
    created: datetime | None = None

    @property
    def cluster(self) -> str | None:
        return self.tags.get(t.CLUSTER_TAG) or self.tags.get(t.AUTO_MODE_CLUSTER_TAG)


@dataclass(frozen=True)
class Classification:
    """Whose load balancer this is, or why frontguard leaves it alone."""

    owner: OwnerRef | None
    skip_reason: str | None = None


def classify(tags: Mapping[str, str]) -> Classification:
    """Resolve the owner from the controller's tags (DESIGN.md, "Tags the LBC puts").

    EKS Auto Mode's built-in controller tags with its own keys; its load balancers get the
    same owner kinds with ``auto_mode`` set (the engine only reports them unless the policy
    switches ``remediate_auto_mode`` on).
    """
    if t.CLUSTER_TAG in tags:
        return _classify_stack(tags, t.LBC_STACK_KEYS, auto_mode=False)
    if t.AUTO_MODE_CLUSTER_TAG in tags and any(k in tags for k in t.AUTO_MODE_STACK_TAGS):
        return _classify_stack(tags, t.AUTO_MODE_STACK_KEYS, auto_mode=True)
    return Classification(None, "not created by the AWS Load Balancer Controller")


# Kubernetes object names: a namespace is a DNS-1123 label, a name a DNS-1123 subdomain;
# IngressGroup names follow the controller's rule (LBC:pkg/ingress/group_loader.go). A stack
# tag that is not such a name (``../``, slashes) names no object the controller made.
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAMESPACE = re.compile(rf"^{_LABEL}$")
_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_GROUP_NAME = re.compile(r"^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$")


def _valid_object(namespace: str, name: str) -> bool:
    return (
        len(namespace) <= 63
        and len(name) <= 253
        and bool(_NAMESPACE.match(namespace))
        and bool(_NAME.match(name))
    )


def _classify_stack(
    tags: Mapping[str, str], keys: t.StackKeys, *, auto_mode: bool
) -> Classification:
    for gateway_key in (keys.gateway_alb, keys.gateway_nlb):
        if (gateway := tags.get(gateway_key)) is not None:
            namespace, slash, name = gateway.partition("/")
            if not slash or not _valid_object(namespace, name):
                return Classification(None, f"malformed {gateway_key} tag {gateway!r}")
            return Classification(OwnerRef(OwnerKind.GATEWAY, namespace, name, auto_mode=auto_mode))
    if (service := tags.get(keys.service)) is not None:
        namespace, slash, name = service.partition("/")
        if not slash or not _valid_object(namespace, name):
            return Classification(None, f"malformed {keys.service} tag {service!r}")
        return Classification(OwnerRef(OwnerKind.SERVICE, namespace, name, auto_mode=auto_mode))
    if (stack := tags.get(keys.ingress)) is not None:
        frontend_nlb = tags.get(keys.ingress_resource) == t.FRONTEND_NLB
        namespace, slash, name = stack.partition("/")
        if slash:
            if not _valid_object(namespace, name):
                return Classification(None, f"malformed {keys.ingress} tag {stack!r}")
            return Classification(
                OwnerRef(
                    OwnerKind.INGRESS,
                    namespace,
                    name,
                    frontend_nlb=frontend_nlb,
                    auto_mode=auto_mode,
                )
            )
        if not _GROUP_NAME.match(stack) or len(stack) > 63:
            return Classification(None, f"malformed {keys.ingress} tag {stack!r}")
        return Classification(
            OwnerRef(
                OwnerKind.INGRESS_GROUP,
                group=stack,
                frontend_nlb=frontend_nlb,
                auto_mode=auto_mode,
            )
        )
    return Classification(None, "controller-tagged but without a stack tag")


@dataclass(frozen=True, order=True)
class PermissionRule:
    """One inbound rule: protocol, port, and one source (CIDR, prefix list or SG).

    The path-MTU discovery rules the controller adds (:data:`PATH_MTU_ICMP`) are rules too:
    ``protocol`` ``icmp``/``icmpv6``, ``port`` the ICMP type, and the code implied by it
    (EC2 states an ICMP rule as FromPort = type, ToPort = code:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html)."""

    protocol: str  # "tcp" | "udp" | "icmp" | "icmpv6"
    port: int
    source: str

    @property
    def to_port(self) -> int:
        """EC2's ToPort: the port itself, or the ICMP code of a path-MTU rule."""
        icmp = PATH_MTU_ICMP.get(self.protocol)
        return icmp[1] if icmp is not None and icmp[0] == self.port else self.port

    @property
    def source_kind(self) -> str:
        if self.source.startswith("pl-"):
            return "prefix-list"
        if self.source.startswith("sg-"):
            return "security-group"
        return "ipv6" if ":" in self.source else "ipv4"


# The ICMP the controller admits for path-MTU discovery, per protocol: (type, code)
# (LBC:pkg/shared_constants/icmp.go: ICMPv4 type 3 "Destination Unreachable" code 4
# "Fragmentation Needed", ICMPv6 type 2 "Packet Too Big" code 0).
PATH_MTU_ICMP: Mapping[str, tuple[int, int]] = {"icmp": (3, 4), "icmpv6": (2, 0)}


def path_mtu_rule(source: str) -> PermissionRule:
    """The path-MTU rule for an IPv4 or IPv6 CIDR (ICMPv6 for IPv6:
    LBC:pkg/service/model_build_managed_sg.go buildManagedSecurityGroupIngressPermissions)."""
    protocol = "icmpv6" if ":" in source else "icmp"
    return PermissionRule(protocol, PATH_MTU_ICMP[protocol][0], source)


def plan_digest(rules: Iterable[PermissionRule]) -> str:
    """A short stable digest of a rule set, kept on frontguard's SG as a tag."""
    canonical = json.dumps(sorted((r.protocol, r.port, r.source) for r in rules))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
