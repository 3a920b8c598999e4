"""The alerts a remediation sends: its result in words, impostor SGs, GitOps commits.

Kept apart from the decision so that deciding (which may find impostors) and carrying out
(which reports the outcome) share one wording (DESIGN.md "Contracts": the alert format).
"""

from __future__ import annotations

from collections.abc import Sequence

from frontguard.adapters import aws
from frontguard.alerts import Alert
from frontguard.engine.decision import OwnerChange, Result, planned_annotations
from frontguard.model import Outcome, OwnerRef


def alert_for(result: Result, fix: str | None) -> Alert:
    """The alert for a remediation's result, with what a human must still do."""
    return Alert(
        outcome=result.outcome,
        load_balancer_arn=result.load_balancer_arn,
        cluster=result.cluster,
        owner=result.owner,
        detail=result.reason,
        fix=fix,
        data={"security_group_id": result.security_group_id, **result.extra},
    )


def gitops_alert(result: Result, changes: Sequence[OwnerChange]) -> Alert:
    lines = []
    for target, values in planned_annotations(changes).items():
        lines.append(f"{target}:")
        lines.extend(f'  {key}: "{value}"' for key, value in values.items())
    return alert_for(
        result,
        "Commit these annotations to the object's source repository:\n" + "\n".join(lines),
    )


def impostor_alert(
    lb_arn: str,
    cluster: str | None,
    owner: OwnerRef | None,
    impostors: Sequence[tuple[aws.SecurityGroup, str]],
) -> Alert:
    """``conflict``: SGs carry frontguard's tags for ``lb_arn`` but were not created by it.

    frontguard never converges, attaches or deletes them; someone with ``ec2:CreateTags``
    tagged them (by mistake, or to make frontguard rewrite or delete them)."""
    named = "; ".join(f"{group.id} ({problem})" for group, problem in impostors)
    return Alert(
        outcome=Outcome.CONFLICT,
        load_balancer_arn=lb_arn,
        cluster=cluster,
        owner=owner,
        detail=f"security groups carry frontguard's tags but were not created by frontguard: "
        f"{named}. frontguard leaves them alone (never changes, attaches or deletes them).",
        fix="Find who tagged them (CloudTrail CreateTags) and remove the frontguard.io/* tags. "
        "Reserve frontguard's tag keys with an SCP (docs/scp.md) so only frontguard can set "
        "them.",
        data={"impostor_security_groups": [group.id for group, _ in impostors]},
    )
