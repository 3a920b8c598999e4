"""Carry a decision out: the one place where a remediation changes the world.

An alert only (:class:`Report`), a verification request (:class:`Settled`), a nudge of the
controller (:class:`Nudge`), or (:class:`Apply`) frontguard's SG found or created, its
rules converged and the owner patched so that the *controller* attaches it; GitOps-managed
owners and owners that keep being reverted get an alert instead of a patch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.verify_queue import VerifyRequest
from frontguard.controller.objects import annotations_of, name_of, namespace_of
from frontguard.engine import born, plan
from frontguard.engine.decision import (
    AnnotationChange,
    Apply,
    Decision,
    Engine,
    Nudge,
    OwnerChange,
    Report,
    Result,
    Settled,
    owner_changes,
    planned_annotations,
    self_rules,
)
from frontguard.engine.owner import Owner
from frontguard.engine.remediation_alerts import alert_for, gitops_alert
from frontguard.model import LoadBalancer, Outcome, PermissionRule, classify, plan_digest
from frontguard.policy import GitOpsAction

logger = logging.getLogger(__name__)


def carry_out(engine: Engine, lb: LoadBalancer, decision: Decision) -> Result:
    """The one place where a decision changes the world."""
    if isinstance(decision, Nudge):
        kube = engine.kube(lb.cluster or "")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for path in decision.owner.paths[: len(decision.owner.objects)]:
            kube.patch_annotations(path, {t.RECONCILE_ANNOTATION: stamp})
        if decision.result.security_group_id:
            _request_verification(
                engine, lb, decision.result.security_group_id, decision.result.rules
            )
        engine.alerts.publish(alert_for(decision.result, decision.fix))
        return decision.result
    if isinstance(decision, Settled):
        if decision.verify and decision.result.security_group_id:
            _request_verification(
                engine, lb, decision.result.security_group_id, decision.result.rules
            )
        return decision.result
    if isinstance(decision, Report):
        engine.alerts.publish(alert_for(decision.result, decision.fix))
        return decision.result
    return _apply(engine, lb, decision)


def _apply(engine: Engine, lb: LoadBalancer, decision: Apply) -> Result:
    owner, planned = decision.owner, decision.result
    cluster = planned.cluster or ""
    group = decision.group or _create_security_group(engine, lb, owner, cluster)
    rules = planned.rules | self_rules(decision.self_ports, group.id)
    rule_changes = aws.converge_rules(engine.ec2, group, rules)
    changes = owner_changes(owner, group.id, decision.kept)

    def outcome(kind: Outcome, reason: str, **kwargs: Any) -> Result:
        return Result(kind, reason, lb.arn, cluster, owner.ref, group.id, rules, **kwargs)

    if not changes and not rule_changes.changed:
        already = outcome(Outcome.COMPLIANT, "already compliant")
        return carry_out(engine, lb, Settled(already, verify=group.id not in lb.security_groups))
    held = _gitops_pending(
        engine, owner, changes, planned=planned, outcome=outcome
    ) or _loop_detected(engine, lb, owner, changes, planned=planned, outcome=outcome)
    if held is not None:
        return held
    patched = _patch_owner(engine, lb, cluster, group.id, changes)
    result = outcome(
        planned.outcome,
        planned.reason,
        patched=tuple(patched),
        extra={
            **planned.extra,
            # Open so far; verification reports exposure_seconds once the SG is on it.
            "open_seconds_so_far": born.exposure_seconds(lb.created, datetime.now(UTC)),
            "rules_added": len(rule_changes.added),
            "rules_removed": len(rule_changes.removed),
        },
    )
    _request_verification(engine, lb, group.id, rules)
    engine.alerts.publish(
        alert_for(
            result,
            decision.fix or "Nothing to do; frontguard will verify that the controller applied it.",
        )
    )
    return result


def _create_security_group(
    engine: Engine, lb: LoadBalancer, owner: Owner, cluster: str
) -> aws.SecurityGroup:
    group = aws.create_security_group(engine.ec2, lb, cluster=cluster, owner=owner.ref)
    logger.info(
        "security group created",
        extra={"load_balancer_arn": lb.arn, "cluster": cluster, "security_group_id": group.id},
    )
    return group


def _gitops_pending(
    engine: Engine,
    owner: Owner,
    changes: Sequence[OwnerChange],
    *,
    planned: Result,
    outcome: Callable[..., Result],
) -> Result | None:
    """A GitOps-managed owner gets the annotations to commit, not a patch (policy gitops:
    alert): a direct patch would be reverted by the next sync."""
    markers = [m for obj in owner.objects for m in plan.gitops_markers(obj)]
    if not (changes and markers and engine.policy.gitops is GitOpsAction.ALERT):
        return None
    result = outcome(
        Outcome.GITOPS_PENDING,
        f"owner is managed by {', '.join(sorted(set(markers)))}: annotations must be committed",
        extra={**planned.extra, "planned_annotations": planned_annotations(changes)},
    )
    engine.alerts.publish(gitops_alert(result, changes))
    return result


def _loop_detected(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    changes: Sequence[OwnerChange],
    *,
    planned: Result,
    outcome: Callable[..., Result],
) -> Result | None:
    """Something keeps undoing frontguard's patch: stop and alert ``conflict``.

    Only a re-patch counts towards loop detection: frontguard had set the owner up before
    and someone changed it since. A first remediation delivered many times at once is not a
    loop, however many concurrent runs patch it."""
    policy = engine.policy
    if not (changes and engine.state is not None and _repatches(owner, changes)):
        return None
    recent = engine.state.record_event(f"patches#{lb.arn}", policy.loop_window_minutes * 60)
    if recent <= policy.loop_threshold:
        return None
    result = outcome(
        Outcome.CONFLICT,
        f"re-patched {recent - 1} times within {policy.loop_window_minutes} minutes: "
        "something keeps undoing it; remediation stopped for this load balancer",
        extra={**planned.extra, "planned_annotations": planned_annotations(changes)},
    )
    engine.alerts.publish(
        alert_for(
            result,
            "Find what reverts the annotations (a GitOps tool, a Helm release, a person: "
            "the object's managedFields name it) and commit frontguard's annotations "
            "there, or ask the security team for an exemption in the policy.",
        )
    )
    return result


def _patch_owner(
    engine: Engine, lb: LoadBalancer, cluster: str, group_id: str, changes: Sequence[OwnerChange]
) -> list[str]:
    patched: list[str] = []
    kube = engine.kube(cluster)
    for change in changes:
        change.apply(kube)
        patched.append(change.target)
        logger.info(
            "annotations patched" if isinstance(change, AnnotationChange) else "owner patched",
            extra={
                "load_balancer_arn": lb.arn,
                "cluster": cluster,
                "owner": change.target,
                "security_group_id": group_id,
            },
        )
    return patched


def _request_verification(
    engine: Engine, lb: LoadBalancer, group_id: str, rules: frozenset[PermissionRule]
) -> None:
    classification = classify(lb.tags)
    if engine.verify is None or classification.owner is None:
        return
    engine.verify.enqueue(
        VerifyRequest(
            load_balancer_arn=lb.arn,
            cluster=lb.cluster or "",
            security_group_id=group_id,
            owner=classification.owner.as_dict(),
            plan_digest=plan_digest(rules),
            requested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
        engine.policy.verify_delay_seconds,
    )


def _repatches(owner: Owner, changes: Sequence[OwnerChange]) -> bool:
    """A change targets an object frontguard had patched before (it records what it replaced
    the first time) and that differs now. Members of a group that a concurrent run has not
    reached yet carry no record: finishing that run's work is not a loop."""
    targets = {change.target for change in changes}
    return any(
        t.REPLACED_ANNOTATION in annotations_of(obj)
        and (f"{namespace_of(obj)}/{name_of(obj)}" in targets or owner.gateway is not None)
        for obj in owner.objects
    )
