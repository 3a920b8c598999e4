"""Verification: did the controller really put frontguard's SG on the load balancer?

A patched annotation is a request, not a result. Each check ends in ``verified``, a re-check
later (bounded backoff), or ``verification-failed`` with a diagnosis a human can act on: the
controller's own Events quoted, who reverted the annotation, a deleted SG, a group conflict.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from frontguard import aws, plan
from frontguard import tags as t
from frontguard.alerts import Alert
from frontguard.errors import NotFoundError
from frontguard.kube import KubeClient, KubeObject
from frontguard.model import Outcome, OwnerKind, OwnerRef, plan_digest
from frontguard.remediate import Engine, resolve_owner
from frontguard.verify_queue import VerifyRequest

logger = logging.getLogger(__name__)

PENDING = "pending"
CONTROLLER_FAILURE_REASONS = frozenset({"FailedDeployModel", "FailedBuildModel"})


@dataclass(frozen=True)
class Verification:
    outcome: str  # Outcome value, or "pending" when re-enqueued
    reason: str
    findings: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


def verify(engine: Engine, request: VerifyRequest) -> Verification:
    owner = OwnerRef.from_dict(request.owner)
    context = {
        "load_balancer_arn": request.load_balancer_arn,
        "cluster": request.cluster,
        "owner": owner.describe(),
        "attempt": request.attempt,
    }
    try:
        lb = aws.describe_load_balancer(engine.elbv2, request.load_balancer_arn)
    except NotFoundError:
        logger.info("load balancer deleted meanwhile: nothing to verify", extra=context)
        return Verification(Outcome.IGNORED.value, "load balancer deleted")

    attached = aws.describe_security_groups(engine.ec2, lb.security_groups)
    ours = aws.find_security_group(engine.ec2, lb.arn)
    problems = _attachment_problems(request, lb.security_groups, attached, ours)
    if not problems:
        logger.info("verified", extra=context)
        result = Verification(Outcome.VERIFIED.value, "load balancer carries frontguard's SG")
        if engine.policy.notify_on_success:
            engine.alerts.publish(
                _alert(
                    request,
                    owner,
                    outcome=Outcome.VERIFIED,
                    detail=result.reason,
                    findings=[],
                    fix=None,
                )
            )
        return result

    backoff = engine.policy.verify_backoff_seconds
    if request.attempt < len(backoff) and ours is not None:
        assert engine.verify is not None
        engine.verify.enqueue(
            replace(request, attempt=request.attempt + 1), backoff[request.attempt]
        )
        logger.info("not yet verified: re-check scheduled", extra={**context, "problems": problems})
        return Verification(PENDING, "; ".join(problems), tuple(problems))

    findings = [*problems, *_diagnose(engine.kube(request.cluster), owner, request)]
    fix = _fix(owner, request.security_group_id, findings)
    logger.warning("verification failed", extra={**context, "findings": findings})
    engine.alerts.publish(
        _alert(
            request,
            owner,
            outcome=Outcome.VERIFICATION_FAILED,
            detail="; ".join(findings),
            findings=findings,
            fix=fix,
        )
    )
    return Verification(Outcome.VERIFICATION_FAILED.value, "; ".join(findings), tuple(findings))


def _attachment_problems(
    request: VerifyRequest,
    on_lb: tuple[str, ...],
    attached: dict[str, aws.SecurityGroup],
    ours: aws.SecurityGroup | None,
) -> list[str]:
    problems = []
    if ours is None or ours.id != request.security_group_id:
        problems.append(f"frontguard's security group {request.security_group_id} was deleted")
    elif request.security_group_id not in on_lb:
        problems.append(
            f"the load balancer does not carry frontguard's security group "
            f"{request.security_group_id} (it has {', '.join(on_lb) or 'none'})"
        )
    managed = [
        group.id
        for group in attached.values()
        if t.MANAGED_LB_SG
        in (group.tags.get(t.INGRESS_RESOURCE_TAG), group.tags.get(t.SERVICE_RESOURCE_TAG))
    ]
    if managed:
        problems.append(
            f"the controller's world-open security group {managed[0]} is still attached"
        )
    if ours is not None and request.plan_digest and plan_digest(ours.rules) != request.plan_digest:
        problems.append(f"the rules of {ours.id} no longer match the plan (edited by hand?)")
    return problems


def _diagnose(kube: KubeClient, owner: OwnerRef, request: VerifyRequest) -> list[str]:
    """What the cluster says: annotations, who changed them, the controller's Events."""
    try:
        resolved = resolve_owner(kube, owner)
    except NotFoundError:
        return ["the owner object no longer exists"]
    sg_key, _ = plan.annotation_keys(owner)
    findings: list[str] = []
    for obj in resolved.objects:
        name = plan.object_id(obj)
        value = plan.annotations_of(obj).get(sg_key)
        if request.security_group_id not in plan.split_list(value):
            who = _last_writer(obj, sg_key)
            findings.append(
                f"annotation {sg_key} on {name} was reverted"
                + (f" by {who}" if who else "")
                + f" (now: {value or 'absent'})"
            )
            findings.extend(f"{name} is managed by {m}" for m in plan.gitops_markers(obj))
        meta = obj.get("metadata", {})
        for event in kube.events_for(meta.get("namespace", ""), meta.get("name", "")):
            if event.get("reason") in CONTROLLER_FAILURE_REASONS:
                findings.append(
                    f"the controller reported on {name}: {event.get('reason')}: "
                    f'"{event.get("message", "").strip()}"'
                )
    if owner.kind is OwnerKind.INGRESS_GROUP:
        values = {plan.annotations_of(o).get(sg_key) for o in resolved.objects}
        if len(values) > 1:
            findings.append(
                f"members of IngressGroup {owner.group} carry different {sg_key} values: "
                "the whole group stops reconciling"
            )
    return findings


def _last_writer(obj: KubeObject, annotation: str) -> str | None:
    """The most recent field manager other than frontguard that owns the annotation."""
    owners = []
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        fields = entry.get("fieldsV1", {}).get("f:metadata", {}).get("f:annotations", {})
        if f"f:{annotation}" in fields and entry.get("manager") != t.FIELD_MANAGER:
            owners.append((entry.get("time", ""), entry.get("manager", "unknown")))
    if not owners:
        return None
    when, manager = max(owners)
    return f"{manager} at {when}" if when else str(manager)


def _fix(owner: OwnerRef, sg_id: str, findings: list[str]) -> str:
    sg_key, backend_key = plan.annotation_keys(owner)
    target = (
        f"every Ingress of group {owner.group}"
        if owner.kind is OwnerKind.INGRESS_GROUP
        else f"{owner.kind.value} {owner.namespace}/{owner.name}"
    )
    kind = "service" if owner.kind is OwnerKind.SERVICE else "ingress"
    command = (
        f"kubectl annotate {kind} -n {owner.namespace} {owner.name} --overwrite "
        f'{sg_key}="{sg_id}" {backend_key}="true"'
        if owner.namespace
        else f'set {sg_key}: "{sg_id}" and {backend_key}: "true" on each member'
    )
    advice = [f"Set on {target} (in its source repository if GitOps manages it): {command}."]
    if any("deleted" in f for f in findings):
        advice.append("frontguard recreates its security group on the next scan.")
    if any("controller reported" in f for f in findings):
        advice.append("Fix what the controller's event says; it retries on every change.")
    return " ".join(advice)


def _alert(
    request: VerifyRequest,
    owner: OwnerRef,
    *,
    outcome: Outcome,
    detail: str,
    findings: list[str],
    fix: str | None,
) -> Alert:
    return Alert(
        outcome=outcome,
        load_balancer_arn=request.load_balancer_arn,
        cluster=request.cluster,
        owner=owner,
        detail=detail,
        fix=fix,
        data={
            "security_group_id": request.security_group_id,
            "findings": findings,
            "attempts": request.attempt + 1,
        },
    )
