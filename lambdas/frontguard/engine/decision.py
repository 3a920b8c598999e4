"""What a remediation decides, as values: the engine's inputs, its decisions, its result.

`decide` (engine/decide.py) computes one :data:`Decision` from what it reads, changing
nothing; `carry_out` (engine/carry_out.py) is the one place a decision changes the world.
The changes a decision asks of the owner (annotations, or a Gateway's configuration) are
values too, so that an alert can show them before anything is patched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.kube import KubeClient, ObjectPath
from frontguard.adapters.state import StateTable
from frontguard.adapters.verify_queue import VerifySink
from frontguard.alerts import AlertSink
from frontguard.controller.security_groups import annotation_keys
from frontguard.engine import gateway, plan
from frontguard.engine.owner import ClusterObjects, Owner
from frontguard.errors import NotFoundError
from frontguard.model import Listener, Outcome, OwnerRef, PermissionRule
from frontguard.policy import Policy
from frontguard.sources import Sources

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


@dataclass
class Engine:
    """Everything the engine needs, handed in: clients, policy, sinks."""

    policy: Policy
    elbv2: ElasticLoadBalancingv2Client
    ec2: EC2Client
    kube: Callable[[str], KubeClient]
    alerts: AlertSink
    verify: VerifySink | None = None
    state: StateTable | None = None  # loop detection; None for one-shot CLI runs
    # Where every outcome is recorded even when no human is alerted (Security Hub findings).
    findings: AlertSink | None = None
    discovery_delays: Sequence[float] = (1.0, 2.0, 4.0)
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Prefetched:
    """What a caller (the scan) already read in bulk, so the engine need not read it again."""

    security_group: aws.SecurityGroup | None
    vpc_cidrs: Mapping[str, list[str]] = field(default_factory=dict)
    cluster: ClusterObjects | None = None
    endpoint_services: Mapping[str, list[str]] | None = None  # NLB ARN → PrivateLink services
    # SGs carrying frontguard's tags for this LB that are not frontguard's (already alerted).
    impostors: tuple[tuple[aws.SecurityGroup, str], ...] = ()
    #: The listeners as the controller's own managed SG states them (its rules are the listen
    #: ports, see engine/scan.py); ``None`` when the scan could not tell, and the engine asks.
    listeners: tuple[Listener, ...] | None = None
    # frontguard's own prefix lists (ID → entries), when the scan has synchronised them.
    prefix_lists: Mapping[str, Sources] | None = None


class LoadBalancerGoneError(NotFoundError):
    """The load balancer never became visible and is not there now."""


class OwnerChange(Protocol):
    """One change the engine requests of the owner, so that the controller attaches the SG."""

    @property
    def target(self) -> str: ...

    def summary(self) -> dict[str, Any]: ...

    def apply(self, kube: KubeClient) -> None: ...


@dataclass(frozen=True)
class AnnotationChange:
    """A merge patch of one Ingress's or Service's annotations."""

    path: ObjectPath
    changes: dict[str, str | None]

    @property
    def target(self) -> str:
        return f"{self.path.namespace}/{self.path.name}"

    def summary(self) -> dict[str, Any]:
        return {self.target: {k: v for k, v in self.changes.items() if k != t.REPLACED_ANNOTATION}}

    def apply(self, kube: KubeClient) -> None:
        kube.patch_annotations(self.path, self.changes)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str
    load_balancer_arn: str
    cluster: str | None = None
    owner: OwnerRef | None = None
    security_group_id: str | None = None
    rules: frozenset[PermissionRule] = frozenset()
    patched: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def log_context(self) -> dict[str, Any]:
        return {
            "load_balancer_arn": self.load_balancer_arn,
            "cluster": self.cluster,
            "owner": self.owner.describe() if self.owner else None,
            "outcome": self.outcome.value,
        }


# --- Decisions: values, computed before anything changes ---------------------------------------


@dataclass(frozen=True)
class Settled:
    """Nothing to change and nobody to tell (ignored, exempt, not handled, compliant).
    ``verify``: frontguard's SG is requested but not attached yet: queue a verification."""

    result: Result
    verify: bool = False


@dataclass(frozen=True)
class Report:
    """Nothing to change; a human must act (needs-recreation, conflict, error, audit)."""

    result: Result
    fix: str | None


@dataclass(frozen=True)
class Apply:
    """Set up frontguard's SG with ``rules`` and request it through the owner."""

    result: Result  # the outcome once applied (remediated or drift), before the SG exists
    owner: Owner
    group: aws.SecurityGroup | None  # frontguard's SG when it exists already
    kept: tuple[str, ...]  # approved SGs the owner keeps next to frontguard's
    self_ports: tuple[int, ...] = ()  # ports admitting frontguard's SG itself (frontend NLB)
    fix: str | None = None  # what a human must still do once applied (born-open)


@dataclass(frozen=True)
class Nudge:
    """The LB carries SGs its owner does not ask for (attached around the controller): alert,
    and ask the controller to reconcile, which puts back exactly the owner's list. Never
    ``SetSecurityGroups``: the controller would fight it."""

    result: Result
    owner: Owner
    fix: str


Decision = Settled | Report | Apply | Nudge


def owner_changes(owner: Owner, sg_id: str, kept: Sequence[str] = ()) -> list[OwnerChange]:
    """What to change on the owner so the controller attaches ``sg_id``; empty when nothing
    (also before its load balancer exists: engine/pre_lb.py).
    The value is identical on every member of an IngressGroup: members carrying different
    lists stop the whole group (LBC:pkg/ingress/model_build_load_balancer.go
    buildFrontendSGNameOrIDsFromAnnotation)."""
    desired = [sg_id, *(g for g in kept if g != sg_id)]
    if owner.gateway is not None:
        if owner.gateway.class_pin is not None:
            return []  # the class-level pin names frontguard's SG (else: conflict, earlier)
        return list(gateway.change_for(owner.gateway, desired))
    keys = annotation_keys(owner.ref)
    changes: list[OwnerChange] = []
    for obj, path in zip(owner.objects, owner.paths, strict=True):
        patch = plan.annotation_patch(obj, keys, desired)
        if patch is not None:
            changes.append(AnnotationChange(path, patch))
    return changes


def planned_annotations(changes: Sequence[OwnerChange]) -> dict[str, Any]:
    return {key: value for change in changes for key, value in change.summary().items()}


def self_rules(ports: Sequence[int], group_id: str) -> frozenset[PermissionRule]:
    """Rules admitting frontguard's SG itself (a frontend NLB that shares the ALB's SGs)."""
    return frozenset(PermissionRule("tcp", port, group_id) for port in ports)
