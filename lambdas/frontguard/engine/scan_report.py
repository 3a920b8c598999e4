"""What a scan found: one item per load balancer, worst first (the digest's and the CLI's
order)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from frontguard.model import (
    Outcome,
)
from frontguard.policy import Mode

# Worst first: the order of the digest.
SEVERITY = (
    Outcome.ERROR,
    Outcome.CONFLICT,
    Outcome.EXEMPT_UNAPPROVED,
    Outcome.NEEDS_RECREATION,
    Outcome.VERIFICATION_FAILED,
    Outcome.BORN_OPEN,
    Outcome.DRIFT,
    Outcome.GITOPS_PENDING,
    Outcome.AUDIT_FINDING,
    Outcome.REMEDIATION_QUEUED,
    Outcome.REMEDIATED,
    Outcome.NOT_CONTROLLER_HANDLED,
    Outcome.EXEMPT,
    Outcome.IGNORED,
    Outcome.COMPLIANT,
    Outcome.BORN_PROTECTED,
    Outcome.VERIFIED,
)
OPEN_FINDINGS = frozenset(
    {
        Outcome.ERROR,
        Outcome.CONFLICT,
        Outcome.EXEMPT_UNAPPROVED,
        Outcome.NEEDS_RECREATION,
        Outcome.GITOPS_PENDING,
        Outcome.AUDIT_FINDING,
        Outcome.BORN_OPEN,
        Outcome.REMEDIATION_QUEUED,
    }
)


def severity(outcome: Outcome | str) -> int:
    try:
        return SEVERITY.index(Outcome(outcome))
    except ValueError:
        return len(SEVERITY)


@dataclass(frozen=True)
class ScanItem:
    load_balancer_arn: str
    name: str
    cluster: str | None
    owner: str | None
    outcome: Outcome
    reason: str
    security_group_id: str | None = None
    # What the engine's alert would have said (planned rules, the fix), for the digest.
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False)
    drift: bool = False  # frontguard had set this LB up before
    # The LB's creation, from the bulk read: the digest's exposure figures (engine/digest.py).
    created: datetime | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "load_balancer_arn": self.load_balancer_arn,
            "name": self.name,
            "cluster": self.cluster,
            "owner": self.owner,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "security_group_id": self.security_group_id,
            **({"drift": True} if self.drift else {}),
            **dict(self.detail),
        }


@dataclass
class ScanReport:
    mode: Mode
    items: list[ScanItem] = field(default_factory=list)
    cleaned_up: list[str] = field(default_factory=list)
    kept_orphans: list[str] = field(default_factory=list)
    # SGs carrying frontguard's tags that it did not create: left alone, alerted.
    impostors: list[str] = field(default_factory=list)
    # What the policy says that is valid but probably not meant (policy.Policy.warnings).
    policy_warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Every load balancer in the region, the controller's or not (what still exists).
    load_balancer_arns: frozenset[str] = frozenset()
    prefix_lists: dict[str, Any] | None = None  # born-protected clusters: the lists' sync
    #: False when the time budget ran out; ``resume_at`` is the last (cluster, ARN) done.
    complete: bool = True
    resume_at: tuple[str, str] | None = None
    queued: int = 0  # remediation requests sent to the queue

    def by_outcome(self) -> Counter[str]:
        return Counter(item.outcome.value for item in self.items)

    def by_cluster(self) -> dict[str, Counter[str]]:
        clusters: dict[str, Counter[str]] = {}
        for item in self.items:
            clusters.setdefault(item.cluster or "-", Counter())[item.outcome.value] += 1
        return clusters

    @property
    def open_findings(self) -> list[ScanItem]:
        return sorted(
            (i for i in self.items if i.outcome in OPEN_FINDINGS),
            key=lambda i: (severity(i.outcome), i.cluster or "", i.name),
        )
