"""Exemptions: an authorised decision in the policy, never an annotation alone.

The policy's ``exempt_namespaces`` and ``exemptions`` (who approved it, why, until when)
exempt a load balancer's owner. ``frontguard.io/exempt`` on an object, without a matching
entry in the policy, is an open finding (``exempt-unapproved``) that alerts and stays in the
digest — or, with ``unapproved_exemptions: ignore``, has no effect at all. An IngressGroup is
exempt only by an entry for the group (or when every member is in an exempt namespace): one
member's namespace or annotation never exempts the other teams' hosts on the shared ALB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from frontguard import tags as t
from frontguard.controller.objects import KubeObject, annotations_of, namespace_of, object_id
from frontguard.model import Outcome, OwnerKind, OwnerRef
from frontguard.policy import Policy, UnapprovedExemption
from frontguard.untrusted import quote


@dataclass(frozen=True)
class ExemptDecision:
    outcome: Outcome  # EXEMPT (authorised) or EXEMPT_UNAPPROVED (an annotation alone)
    reason: str


def decide(
    objects: Sequence[KubeObject],
    owner: OwnerRef,
    cluster: str,
    policy: Policy,
    today: date | None = None,
) -> ExemptDecision | None:
    """Whether the owner is exempt, by the policy; ``None`` when frontguard acts as usual."""
    today = today or datetime.now(UTC).date()
    namespaces = {namespace_of(obj) for obj in objects}
    if namespaces and namespaces <= policy.exempt_namespaces:
        return ExemptDecision(
            Outcome.EXEMPT, f"namespace {', '.join(sorted(namespaces))} is exempt by policy"
        )
    key: tuple[str, str | None, str]
    if owner.kind is OwnerKind.INGRESS_GROUP:
        key = ("ingress-group", None, owner.group or "")
    else:
        key = (owner.kind.value, owner.namespace, owner.name or "")
    for entry in policy.exemptions:
        if entry.matches(cluster=cluster, kind=key[0], namespace=key[1], name=key[2]):
            if entry.expires < today:
                continue  # expired: acts as if absent (the loader warns about it)
            return ExemptDecision(Outcome.EXEMPT, entry.describe())
    annotated = [obj for obj in objects if t.EXEMPT_ANNOTATION in annotations_of(obj)]
    if not annotated or policy.unapproved_exemptions is UnapprovedExemption.IGNORE:
        return None
    obj = annotated[0]
    return ExemptDecision(
        Outcome.EXEMPT_UNAPPROVED,
        f"{object_id(obj)} carries {t.EXEMPT_ANNOTATION} "
        f"({quote(annotations_of(obj)[t.EXEMPT_ANNOTATION], 120)}) but the policy lists no "
        "exemption for it: not remediated, reported until the policy approves it or the "
        "annotation is removed",
    )


UNAPPROVED_FIX = (
    "An exemption is the security team's decision: add an entry to the policy's exemptions "
    "(cluster, namespace, kind, name, reason, approved_by, expires), or remove the "
    f"{t.EXEMPT_ANNOTATION} annotation so frontguard protects the load balancer again. The "
    "optional admission policy in docs/exemptions.md lets only a named group set the annotation."
)
