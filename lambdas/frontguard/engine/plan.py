"""Decisions and plans: pure functions over the load balancer, its owner objects and policy.

Nothing here calls AWS or Kubernetes; the engine (``remediate``) feeds it what adapters read.
Kubernetes objects are plain JSON dicts as the API server returns them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from frontguard import tags as t
from frontguard.model import Listener, LoadBalancer, OwnerKind, OwnerRef, PermissionRule
from frontguard.policy import Policy
from frontguard.sources import EffectiveSources, Sources, effective_sources, expand_policy_sources

KubeObject = Mapping[str, Any]


def annotations_of(obj: KubeObject) -> Mapping[str, str]:
    return obj.get("metadata", {}).get("annotations") or {}


def labels(obj: KubeObject) -> Mapping[str, str]:
    return obj.get("metadata", {}).get("labels") or {}


def object_id(obj: KubeObject) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace')}/{meta.get('name')}"


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


# --- Who must not be touched ------------------------------------------------------------------


def service_handled(service: KubeObject) -> bool:
    spec = service.get("spec", {})
    if spec.get("loadBalancerClass") == t.NLB_LOAD_BALANCER_CLASS:
        return True
    return annotations_of(service).get(t.SERVICE_TYPE_ANNOTATION) in ("external", "nlb-ip")


def ingress_handled(ingress: KubeObject, alb_classes: Iterable[str]) -> bool:
    """Served by ``ingress.k8s.aws/alb``: its class is one of the controller's IngressClasses."""
    class_name = ingress.get("spec", {}).get("ingressClassName") or annotations_of(ingress).get(
        "kubernetes.io/ingress.class"
    )
    return class_name in set(alb_classes)


def gitops_markers(obj: KubeObject) -> list[str]:
    markers = []
    if t.ARGOCD_TRACKING_ANNOTATION in annotations_of(obj):
        markers.append(f"Argo CD ({t.ARGOCD_TRACKING_ANNOTATION})")
    markers.extend(f"Flux ({label})" for label in t.FLUX_LABELS if label in labels(obj))
    return markers


# --- Owner restrictions ---------------------------------------------------------------------


def service_restriction(service: KubeObject) -> Sources | None:
    """The Service's own source restriction, or ``None`` when it admits everyone."""
    ranges = service.get("spec", {}).get("loadBalancerSourceRanges") or split_list(
        annotations_of(service).get(t.SERVICE_SOURCE_RANGES)
    )
    prefix_lists = split_list(annotations_of(service).get(t.SERVICE_PREFIX_LISTS))
    if not ranges and not prefix_lists:
        return None
    return Sources.of([*ranges, *prefix_lists])


def ingress_restriction(ingress: KubeObject, class_params: KubeObject | None) -> Sources | None:
    """Inbound CIDRs / prefix lists of one Ingress; IngressClassParams override the annotations."""
    params_spec = (class_params or {}).get("spec", {})
    cidrs = list(params_spec.get("inboundCIDRs") or []) or split_list(
        annotations_of(ingress).get(t.INGRESS_INBOUND_CIDRS)
    )
    prefix_lists = list(
        params_spec.get("PrefixListsIDs") or params_spec.get("prefixListsIDs") or []
    )
    prefix_lists = prefix_lists or split_list(annotations_of(ingress).get(t.INGRESS_PREFIX_LISTS))
    if not cidrs and not prefix_lists:
        return None
    return Sources.of([*cidrs, *prefix_lists])


def group_restriction(restrictions: Sequence[Sources | None]) -> Sources | None:
    """An IngressGroup's LB admits the union of its members' sources: one open member opens it."""
    if not restrictions or any(r is None for r in restrictions):
        return None
    return Sources.union(r for r in restrictions if r is not None)


# --- The plan -------------------------------------------------------------------------------


def listener_protocols(listener: Listener) -> tuple[str, ...]:
    protocol = listener.protocol.upper()
    if protocol == "UDP":
        return ("udp",)
    if protocol == "TCP_UDP":
        return ("tcp", "udp")
    return ("tcp",)


def planned_rules(listeners: Iterable[Listener], sources: Sources) -> frozenset[PermissionRule]:
    """Listener ports (TCP; UDP for UDP listeners) × the effective sources."""
    return frozenset(
        PermissionRule(protocol, listener.port, source)
        for listener in listeners
        for protocol in listener_protocols(listener)
        for source in sources.as_strings()
    )


@dataclass(frozen=True)
class SourcePlan:
    effective: EffectiveSources
    rules: frozenset[PermissionRule]


def plan_sources(
    *,
    lb: LoadBalancer,
    owner: OwnerRef,
    namespace: str,
    policy: Policy,
    vpc_cidrs: Sequence[str],
    restriction: Sources | None,
    listeners: Sequence[Listener],
) -> SourcePlan:
    cluster = lb.cluster or ""
    policy_sources = expand_policy_sources(
        policy.sources_for(
            cluster=cluster, namespace=namespace, scheme=lb.scheme, kind=owner.policy_kind
        ),
        vpc_cidrs,
    )
    effective = effective_sources(policy_sources, restriction)
    return SourcePlan(effective, planned_rules(listeners, effective.allowed))


# --- Annotations ------------------------------------------------------------------------------


def annotation_keys(owner: OwnerRef) -> tuple[str, str]:
    """(security-groups annotation, backend-rules annotation) that govern this LB's SGs."""
    if owner.kind is OwnerKind.SERVICE:
        return t.SERVICE_SG_ANNOTATION, t.SERVICE_BACKEND_ANNOTATION
    if owner.frontend_nlb:
        return t.FRONTEND_NLB_SG_ANNOTATION, t.INGRESS_BACKEND_ANNOTATION
    return t.INGRESS_SG_ANNOTATION, t.INGRESS_BACKEND_ANNOTATION


def annotated_groups(obj: KubeObject, owner: OwnerRef) -> list[str]:
    return split_list(annotations_of(obj).get(annotation_keys(owner)[0]))


def approved_only(obj: KubeObject, owner: OwnerRef, policy: Policy) -> bool:
    """The owner names only team SGs the policy approves, and keeps backend rules managed."""
    groups = annotated_groups(obj, owner)
    backend = annotations_of(obj).get(annotation_keys(owner)[1])
    return bool(groups) and set(groups) <= policy.approved_security_groups and backend == "true"


def desired_security_groups(obj: KubeObject, owner: OwnerRef, sg_id: str, policy: Policy) -> str:
    """frontguard's SG first, then any approved SGs the owner already named."""
    kept = [g for g in annotated_groups(obj, owner) if g in policy.approved_security_groups]
    return ",".join([sg_id, *(g for g in kept if g != sg_id)])


def annotation_patch(
    obj: KubeObject, owner: OwnerRef, desired_groups: str
) -> dict[str, str | None] | None:
    """The annotations to merge-patch onto ``obj``, or ``None`` when they are already right.

    Records, once, what was there before in ``frontguard.io/replaced`` so ``revert`` can
    restore it.
    """
    sg_key, backend_key = annotation_keys(owner)
    current = annotations_of(obj)
    if current.get(sg_key) == desired_groups and current.get(backend_key) == "true":
        return None
    patch: dict[str, str | None] = {sg_key: desired_groups, backend_key: "true"}
    if t.REPLACED_ANNOTATION not in current:
        patch[t.REPLACED_ANNOTATION] = json.dumps(
            {sg_key: current.get(sg_key), backend_key: current.get(backend_key)}, sort_keys=True
        )
    return patch


def exceeds_rule_limit(rules: frozenset[PermissionRule], policy: Policy) -> bool:
    return len(rules) > policy.max_rules_per_security_group
