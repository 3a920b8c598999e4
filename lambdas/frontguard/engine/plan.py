"""Plans: the rules frontguard's SG must hold and the values the owner must carry.

Pure functions over what the engine read; the controller's own rules (what it manages, what it
restricts, how it reads an annotation) live in :mod:`frontguard.controller`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from frontguard import tags as t
from frontguard.controller.objects import (
    AnnotationError,
    KubeObject,
    annotations_of,
    bool_annotation,
    labels_of,
)
from frontguard.controller.restrictions import Restrictions
from frontguard.controller.security_groups import AnnotationKeys, named_security_groups
from frontguard.model import Listener, LoadBalancer, OwnerRef, PermissionRule, path_mtu_rule
from frontguard.policy import Policy
from frontguard.sources import Sources, effective_sources, expand_policy_sources

# --- Who must not be touched ------------------------------------------------------------------


def gitops_markers(obj: KubeObject) -> list[str]:
    markers = []
    if t.ARGOCD_TRACKING_ANNOTATION in annotations_of(obj):
        markers.append(f"Argo CD ({t.ARGOCD_TRACKING_ANNOTATION})")
    markers.extend(f"Flux ({label})" for label in t.FLUX_LABELS if label in labels_of(obj))
    return markers


# --- The rules --------------------------------------------------------------------------------


def listener_protocols(listener: Listener) -> tuple[str, ...]:
    protocol = listener.protocol.upper()
    if protocol == "UDP":
        return ("udp",)
    if protocol == "TCP_UDP":
        return ("tcp", "udp")
    return ("tcp",)


def policy_sources(
    policy: Policy,
    *,
    lb: LoadBalancer,
    owner: OwnerRef,
    namespaces: Sequence[str],
    vpc_cidrs: Sequence[str],
) -> Sources:
    """What the policy allows this load balancer. An IngressGroup spanning namespaces gets
    what the rules of *every* member's namespace allow (their intersection), never the first
    member's alone."""
    cluster = lb.cluster or ""
    allowed: Sources | None = None
    for namespace in namespaces or [""]:
        sources = expand_policy_sources(
            policy.sources_for(
                cluster=cluster, namespace=namespace, scheme=lb.scheme, kind=owner.policy_kind
            ),
            vpc_cidrs,
        )
        allowed = sources if allowed is None else effective_sources(allowed, sources).allowed
    assert allowed is not None
    return allowed


@dataclass(frozen=True)
class NarrowedPort:
    """A listener port no member of the owner claims (controller/restrictions.py
    ``Restrictions.narrowed``): planned with the narrowest restriction any member declares."""

    port: int
    restriction: tuple[str, ...]  # what every member's restriction admits at once
    admitted: tuple[str, ...]  # that, within the policy: what frontguard's SG admits there

    def describe(self) -> str:
        return (
            f"port {self.port} belongs to no member's listen ports (a listener frontguard "
            "cannot attribute to an owner's rules), so it takes the narrowest restriction any "
            f"member declares: {', '.join(self.admitted) or 'nothing'}"
        )


@dataclass(frozen=True)
class SourcePlan:
    rules: frozenset[PermissionRule]
    beyond_policy: Sources  # what the owner asked for that the policy refuses: never admitted
    closed_ports: tuple[int, ...]  # listener ports that admit nothing
    narrowed: tuple[NarrowedPort, ...] = ()  # unclaimed ports that failed narrow


def plan_rules(
    listeners: Iterable[Listener],
    allowed: Sources,
    restrictions: Restrictions,
    *,
    path_mtu: bool = False,
) -> SourcePlan:
    """Per listener port (TCP; UDP for UDP listeners): the policy's sources narrowed by the
    owner's restriction *for that port* (controller/restrictions.py). With ``path_mtu`` (the
    owner asked for path-MTU discovery) also the path-MTU ICMP rule from each planned CIDR,
    as the controller's managed SG has it from each of its source CIDRs and never from a
    prefix list (LBC:pkg/service/model_build_managed_sg.go and
    LBC:pkg/gateway/model/model_build_security_group.go
    buildManagedSecurityGroupIngressPermissions)."""
    rules: set[PermissionRule] = set()
    beyond: list[str] = []
    closed: list[int] = []
    narrowed: dict[int, NarrowedPort] = {}
    for listener in listeners:
        effective = effective_sources(allowed, restrictions.for_port(listener.port))
        beyond.extend(effective.beyond_policy.as_strings())
        if effective.allowed.empty:
            closed.append(listener.port)
        fallback = restrictions.narrowed(listener.port)
        if fallback is not None:
            narrowed[listener.port] = NarrowedPort(
                listener.port,
                tuple(fallback.as_strings()),
                tuple(effective.allowed.as_strings()),
            )
        rules.update(
            PermissionRule(protocol, listener.port, source)
            for protocol in listener_protocols(listener)
            for source in effective.allowed.as_strings()
        )
        if path_mtu:
            rules.update(path_mtu_rule(str(cidr)) for cidr in effective.allowed.cidrs)
    return SourcePlan(
        frozenset(rules),
        Sources.of(beyond),
        tuple(sorted(set(closed))),
        tuple(narrowed[port] for port in sorted(narrowed)),
    )


def exceeds_rule_limit(rules: frozenset[PermissionRule], policy: Policy) -> bool:
    return len(rules) > policy.max_rules_per_security_group


# --- Annotations ------------------------------------------------------------------------------


def backend_rules_managed(obj: KubeObject, keys: AnnotationKeys) -> bool:
    """The backend-rules annotation reads true as the controller reads it (a frontend NLB has
    none to check). AnnotationError when the controller could not read it either."""
    if keys.backend_rules is None:
        return True
    return bool_annotation(obj, keys.backend_rules) is True


def resolved_entries(entries: Sequence[str], names: Mapping[str, str]) -> list[str]:
    """Annotation entries with names replaced by the IDs they resolve to (unresolved names
    stay as written: they match no approved SG)."""
    return [names.get(entry, entry) for entry in entries]


def approved_only(
    objects: Sequence[KubeObject], keys: AnnotationKeys, names: Mapping[str, str], policy: Policy
) -> bool:
    """Every owner object names only SGs the policy approves (names resolved) and keeps backend
    rules managed."""
    for obj in objects:
        groups = resolved_entries(named_security_groups(obj, keys.security_groups), names)
        if not groups or not set(groups) <= policy.approved_security_groups:
            return False
        try:
            if not backend_rules_managed(obj, keys):
                return False
        except AnnotationError:
            return False
    return True


def kept_approved(
    objects: Sequence[KubeObject], keys: AnnotationKeys, names: Mapping[str, str], policy: Policy
) -> list[str]:
    """Approved SGs the owner already names (as IDs), in the order first named."""
    kept: list[str] = []
    for obj in objects:
        for group in resolved_entries(named_security_groups(obj, keys.security_groups), names):
            if group in policy.approved_security_groups and group not in kept:
                kept.append(group)
    return kept


def annotation_patch(
    obj: KubeObject, keys: AnnotationKeys, desired: Sequence[str]
) -> dict[str, str | None] | None:
    """The annotations to merge-patch onto ``obj``, or ``None`` when the controller already
    reads them as desired (parsed list, parsed bool).

    Records, once, what was there before in ``frontguard.io/replaced`` so ``revert`` can
    restore it. A frontend NLB's backend-rules switch is the ALB's: never touched for it.
    """
    current = annotations_of(obj)
    same_groups = named_security_groups(obj, keys.security_groups) == list(desired)
    try:
        backend_ok = backend_rules_managed(obj, keys)
    except AnnotationError:
        backend_ok = False
    if same_groups and backend_ok:
        return None
    patch: dict[str, str | None] = {keys.security_groups: ",".join(desired)}
    if keys.backend_rules is not None:
        patch[keys.backend_rules] = "true"
    if t.REPLACED_ANNOTATION not in current:
        record = {keys.security_groups: current.get(keys.security_groups)}
        if keys.backend_rules is not None:
            record[keys.backend_rules] = current.get(keys.backend_rules)
        patch[t.REPLACED_ANNOTATION] = json.dumps(record, sort_keys=True)
    return patch


def frontend_nlb_rules(
    listeners: Iterable[Listener], health_check_ports: Sequence[int], sg_id: str
) -> frozenset[PermissionRule]:
    """A frontend NLB sharing the ALB's SG reaches the ALB from its own addresses (health
    checks, PrivateLink) while clients keep their IPs: admit the SG itself on the ALB's ports.
    That admits only the two load balancers' interfaces, never a new client
    (docs.aws.amazon.com/elasticloadbalancing/latest/network/application-load-balancer-target.html;
    docs/controller-rules.md, "Frontend NLB")."""
    ports = {listener.port for listener in listeners} | set(health_check_ports)
    return frozenset(PermissionRule("tcp", port, sg_id) for port in ports)
