"""The security-group annotations: which keys govern a load balancer, how their values are
read, and what the controller then puts on the load balancer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from frontguard import tags as t
from frontguard.controller.ingress import ControllerBuildError
from frontguard.controller.objects import KubeObject, annotations_of, object_id, split_list
from frontguard.model import OwnerKind, OwnerRef

# ELB takes at most 5 SGs per load balancer by default (the per-ENI quota; LBC issue #4789).
MAX_SECURITY_GROUPS = 5
BACKEND_SG_REQUIRED = (
    "backendSG feature is required to manage worker node SG rules when frontendSG manually "
    "specified"
)


@dataclass(frozen=True)
class AnnotationKeys:
    """The annotation naming the SGs, and the one switching backend rules (``None`` for a
    frontend NLB: its explicit list gets exactly those SGs and no backend SG,
    LBC:pkg/ingress/model_build_frontend_nlb.go buildFrontendNlbSecurityGroups)."""

    security_groups: str
    backend_rules: str | None


def annotation_keys(owner: OwnerRef) -> AnnotationKeys:
    if owner.kind is OwnerKind.SERVICE:
        return AnnotationKeys(t.SERVICE_SG_ANNOTATION, t.SERVICE_BACKEND_ANNOTATION)
    if owner.frontend_nlb:
        return AnnotationKeys(t.FRONTEND_NLB_SG_ANNOTATION, None)
    return AnnotationKeys(t.INGRESS_SG_ANNOTATION, t.INGRESS_BACKEND_ANNOTATION)


def is_id(entry: str) -> bool:
    """Entries starting ``sg-`` are IDs; anything else is a name matched against the ``Name``
    tag in the load balancer's VPC (LBC:pkg/networking/security_group_resolver.go
    splitIntoSgNameAndIDs; LBC:docs/guide/ingress/annotations.md "Both name or ID")."""
    return entry.startswith("sg-")


def named_security_groups(obj: KubeObject, key: str) -> list[str]:
    """The annotation's entries, parsed as the controller parses them (order kept)."""
    return split_list(annotations_of(obj).get(key))


def group_security_groups(members: Sequence[KubeObject], key: str) -> list[str] | None:
    """The one SG list an IngressGroup asks for: members without the annotation are skipped,
    members with it must carry the identical (ordered, parsed) list, else the controller's
    build error (LBC:pkg/ingress/model_build_load_balancer.go
    buildFrontendSGNameOrIDsFromAnnotation). ``None``: nobody sets it."""
    chosen: list[str] | None = None
    for member in members:
        if key not in annotations_of(member):
            continue
        entries = named_security_groups(member, key)
        if chosen is None:
            chosen = entries
        elif entries != chosen:
            raise ControllerBuildError(
                f"conflicting securityGroups: [{' '.join(chosen)}] | [{' '.join(entries)}]"
            )
    return chosen


def conflicting_members(members: Sequence[KubeObject], key: str) -> dict[str, list[str]]:
    """Members whose parsed SG lists differ (empty when the group agrees), for diagnosis."""
    lists = {
        object_id(m): named_security_groups(m, key) for m in members if key in annotations_of(m)
    }
    return lists if len({tuple(v) for v in lists.values()}) > 1 else {}


_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def backend_sg_name(cluster: str) -> str:
    """The name the controller gives the cluster's shared backend SG
    (LBC:pkg/networking/backend_sg_provider.go getBackendSGName). SG names are unique per VPC,
    so with the VPC this identifies the controller's backend SG where a tag, which anyone may
    set, does not. A backend SG given with ``--backend-security-group`` has no such name:
    list it in the policy's ``approved_security_groups``."""
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:10]
    return f"k8s-traffic-{_NOT_ALNUM.sub('', cluster)[:232]}-{digest}"
