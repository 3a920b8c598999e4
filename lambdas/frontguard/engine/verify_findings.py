"""What verification can find wrong (:class:`FindingKind`, :class:`Finding`), and what AWS
shows: frontguard's SG missing or detached, the controller's world-open SG still attached, rules
edited by hand, SGs nobody asked for.

Decisions (which advice to give) branch on the kind, never on the text, which is for humans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.verify_queue import VerifyRequest
from frontguard.controller.security_groups import backend_sg_name
from frontguard.model import LoadBalancer, plan_digest


class FindingKind(StrEnum):
    """What is wrong, as machines (and the advice below) tell findings apart."""

    SECURITY_GROUP_DELETED = "security-group-deleted"
    SECURITY_GROUP_NOT_ATTACHED = "security-group-not-attached"
    MANAGED_SECURITY_GROUP_ATTACHED = "managed-security-group-attached"
    RULES_CHANGED = "rules-changed"
    OWNER_DELETED = "owner-deleted"
    ANNOTATION_REVERTED = "annotation-reverted"
    GITOPS_MANAGED = "gitops-managed"
    CONTROLLER_EVENT = "controller-event"
    GROUP_CONFLICT = "group-conflict"
    EXTRA_SECURITY_GROUP = "extra-security-group"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    text: str  # for humans: never branch on it
    object: str | None = None  # "namespace/name" of the Kubernetes object it is about
    data: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "text": self.text, "object": self.object, **self.data}


def join(findings: Sequence[Finding]) -> str:
    return "; ".join(f.text for f in findings)


def extra_groups(
    lb: LoadBalancer,
    attached: dict[str, aws.SecurityGroup],
    ours: aws.SecurityGroup | None,
    approved: frozenset[str],
) -> list[Finding]:
    """The whole SG set counts: anything beyond frontguard's, the approved SGs and the
    controller's backend SG (its name in the LB's VPC, LBC:pkg/networking/
    backend_sg_provider.go) admits traffic next to frontguard's rules."""
    backend = backend_sg_name(lb.cluster or "")
    extra = [
        group_id
        for group_id in lb.security_groups
        if group_id not in approved
        and (ours is None or group_id != ours.id)
        and not (
            group_id in attached
            and attached[group_id].name == backend
            and attached[group_id].vpc_id == lb.vpc_id
        )
        and not (
            group_id in attached
            and t.MANAGED_LB_SG in (attached[group_id].tags.get(k) for k in t.RESOURCE_TAGS)
        )
    ]
    return [
        Finding(
            FindingKind.EXTRA_SECURITY_GROUP,
            f"the load balancer also carries {group_id}, which its owner does not ask for",
            data={"security_group_id": group_id},
        )
        for group_id in extra
    ]


def attachment_problems(
    request: VerifyRequest,
    on_lb: tuple[str, ...],
    attached: dict[str, aws.SecurityGroup],
    ours: aws.SecurityGroup | None,
) -> list[Finding]:
    sg_id = request.security_group_id
    problems = []
    if ours is None or ours.id != sg_id:
        problems.append(
            Finding(
                FindingKind.SECURITY_GROUP_DELETED,
                f"frontguard's security group {sg_id} was deleted",
                data={"security_group_id": sg_id},
            )
        )
    elif sg_id not in on_lb:
        problems.append(
            Finding(
                FindingKind.SECURITY_GROUP_NOT_ATTACHED,
                f"the load balancer does not carry frontguard's security group {sg_id} "
                f"(it has {', '.join(on_lb) or 'none'})",
                data={"security_group_id": sg_id, "attached": ",".join(on_lb)},
            )
        )
    managed = [
        group.id
        for group in attached.values()
        if t.MANAGED_LB_SG in (group.tags.get(key) for key in t.RESOURCE_TAGS)
    ]
    if managed:
        problems.append(
            Finding(
                FindingKind.MANAGED_SECURITY_GROUP_ATTACHED,
                f"the controller's world-open security group {managed[0]} is still attached",
                data={"security_group_id": managed[0]},
            )
        )
    if ours is not None and request.plan_digest and plan_digest(ours.rules) != request.plan_digest:
        problems.append(
            Finding(
                FindingKind.RULES_CHANGED,
                f"the rules of {ours.id} no longer match the plan (edited by hand?)",
                data={"security_group_id": ours.id},
            )
        )
    return problems
