"""Verification: did the controller really put frontguard's SG on the load balancer?

A patched annotation is a request, not a result. Each check ends in ``verified``, a re-check
later (bounded backoff), or ``verification-failed`` with a diagnosis a human can act on: the
controller's own Events quoted, who reverted the annotation, a deleted SG, a group conflict.

Each diagnosis is a :class:`Finding` of a :class:`FindingKind`; decisions (which advice to
give) branch on the kind, never on the text, which is for humans only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.kube import KubeClient
from frontguard.adapters.verify_queue import VerifyRequest
from frontguard.alerts import Alert
from frontguard.controller.objects import KubeObject, annotations_of, object_id, split_list
from frontguard.controller.security_groups import (
    annotation_keys,
    backend_sg_name,
    conflicting_members,
)
from frontguard.engine import plan
from frontguard.engine.born import exposure_seconds
from frontguard.engine.decision import Engine
from frontguard.engine.events import current_failures
from frontguard.engine.owner import resolve_owner
from frontguard.errors import FrontguardError, NotFoundError
from frontguard.model import LoadBalancer, Outcome, OwnerKind, OwnerRef, classify, plan_digest
from frontguard.policy import ControllerFlags
from frontguard.untrusted import escape, quote

logger = logging.getLogger(__name__)

PENDING = "pending"
# How much of a user-written value the alert's JSON carries (the text quotes less).
DATA_LIMIT = 1000


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


@dataclass(frozen=True)
class Verification:
    outcome: str  # Outcome value, or "pending" when re-enqueued
    reason: str
    findings: tuple[Finding, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def kinds(self) -> set[FindingKind]:
        return {finding.kind for finding in self.findings}


def verify(engine: Engine, request: VerifyRequest) -> Verification:
    """Check one request; a failure frontguard did not foresee becomes an ``error`` alert that
    names the load balancer (one bad record spoils that record, never the batch, and never
    silently)."""
    try:
        return _verify(engine, request)
    except FrontguardError:
        raise  # retryable: SQS redelivers it; permanent: the DLQ keeps it (both alarmed)
    except Exception as error:  # recorded below, with its traceback
        logger.exception(
            "verification failed unexpectedly",
            extra={"load_balancer_arn": request.load_balancer_arn, "cluster": request.cluster},
        )
        reason = f"verification failed unexpectedly ({type(error).__name__}); see the logs"
        engine.alerts.publish(
            Alert(
                outcome=Outcome.ERROR,
                load_balancer_arn=request.load_balancer_arn,
                cluster=request.cluster,
                owner=None,
                detail=reason,
                fix="Look up the function's log line 'verification failed unexpectedly' for "
                "this load balancer; the scheduled scan re-checks it meanwhile.",
                data={"security_group_id": request.security_group_id},
            )
        )
        return Verification(Outcome.ERROR.value, reason)


def _verify(engine: Engine, request: VerifyRequest) -> Verification:
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
    claimed = classify(lb.tags).owner
    if lb.cluster != request.cluster or claimed is None or claimed != owner:
        # Not a request frontguard wrote for this load balancer (frontguard's requests name the
        # LB's own cluster and owner, from its tags): nothing to verify, nobody to page.
        logger.warning("verification request does not match its load balancer", extra=context)
        return Verification(Outcome.IGNORED.value, "request does not match the load balancer")

    attached = aws.describe_security_groups(engine.ec2, lb.security_groups)
    ours = aws.find_security_group(
        engine.ec2, lb.arn, lb.vpc_id, tags=lb.tags, attached=lb.security_groups
    )
    problems = _attachment_problems(request, lb.security_groups, attached, ours)
    problems += _extra_groups(lb, attached, ours, engine.policy.approved_security_groups)
    if not problems:
        exposure = exposure_seconds(lb.created, datetime.now(UTC))
        logger.info("verified", extra={**context, "exposure_seconds": exposure})
        result = Verification(
            Outcome.VERIFIED.value,
            "load balancer carries frontguard's SG",
            data={"exposure_seconds": exposure},
        )
        success = _alert(
            request,
            owner,
            outcome=Outcome.VERIFIED,
            detail=result.reason,
            findings=[],
            fix=None,
            extra=result.data,
        )
        if (
            engine.policy.notify_on_success
            or owner.namespace in engine.policy.success_alert_namespaces
        ):
            engine.alerts.publish(success)  # reaches engine.findings too (runtime fans out)
        elif engine.findings is not None:
            engine.findings.publish(success)  # the finding is resolved, nobody is notified
        return result

    backoff = engine.policy.verify_backoff_seconds
    sg_gone = any(p.kind is FindingKind.SECURITY_GROUP_DELETED for p in problems)
    if request.attempt < len(backoff) and not sg_gone:
        assert engine.verify is not None
        delay = backoff[request.attempt]
        engine.verify.enqueue(replace(request, attempt=request.attempt + 1), delay)
        logger.info(
            "not yet verified: re-check scheduled",
            extra={**context, "problems": [p.text for p in problems], "delay_seconds": delay},
        )
        return Verification(PENDING, _join(problems), tuple(problems))

    diagnosis = _diagnose(
        engine.kube(request.cluster),
        owner,
        request,
        engine.policy.controller_flags(request.cluster),
    )
    findings = [*problems, *diagnosis.findings]
    fix = _fix(owner, request.security_group_id, findings, diagnosis.members)
    logger.warning(
        "verification failed", extra={**context, "findings": [f.as_dict() for f in findings]}
    )
    engine.alerts.publish(
        _alert(
            request,
            owner,
            outcome=Outcome.VERIFICATION_FAILED,
            detail=_join(findings),
            findings=findings,
            fix=fix,
        )
    )
    return Verification(Outcome.VERIFICATION_FAILED.value, _join(findings), tuple(findings))


def _join(findings: Sequence[Finding]) -> str:
    return "; ".join(f.text for f in findings)


def _extra_groups(
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


def _attachment_problems(
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


@dataclass(frozen=True)
class _Diagnosis:
    findings: list[Finding]
    members: list[tuple[str, str]]  # (namespace, name) of the owner objects found


def _diagnose(
    kube: KubeClient, owner: OwnerRef, request: VerifyRequest, flags: ControllerFlags
) -> _Diagnosis:
    """What the cluster says: annotations, who changed them, the controller's Events."""
    try:
        resolved = resolve_owner(kube, owner, flags)
    except NotFoundError:
        return _Diagnosis(
            [
                Finding(
                    FindingKind.OWNER_DELETED,
                    f"{owner.describe()} no longer exists; the controller deletes its "
                    "load balancer",
                )
            ],
            [],
        )
    sg_key = annotation_keys(owner).security_groups
    since = _parse_time(request.requested_at)
    findings: list[Finding] = []
    members: list[tuple[str, str]] = []
    for obj in resolved.objects:
        name = object_id(obj)
        meta = obj.get("metadata", {})
        members.append((meta.get("namespace", ""), meta.get("name", "")))
        value = annotations_of(obj).get(sg_key)
        if resolved.gateway is None and request.security_group_id not in split_list(value):
            manager, when = _last_writer(obj, sg_key)
            # managedFields names are whatever the client said (--field-manager): a hint, not
            # evidence of who wrote (the API server's audit log is).
            by = (
                f"; last writer according to managedFields (unauthenticated): {quote(manager, 80)}"
                + (f" at {escape(when, 40)}" if when else "")
                if manager
                else ""
            )
            now = quote(value) if value is not None else "absent"
            findings.append(
                Finding(
                    FindingKind.ANNOTATION_REVERTED,
                    f"annotation {sg_key} on {name} no longer names "
                    f"{request.security_group_id} (now: {now}{by})",
                    object=name,
                    data={
                        "annotation": sg_key,
                        "value": escape(value or "", DATA_LIMIT),
                        **({"manager": escape(manager, DATA_LIMIT)} if manager else {}),
                        **({"changed_at": escape(when, 40)} if when else {}),
                    },
                )
            )
            findings.extend(
                Finding(
                    FindingKind.GITOPS_MANAGED,
                    f"{name} is managed by {marker}",
                    object=name,
                    data={"marker": marker},
                )
                for marker in plan.gitops_markers(obj)
            )
        for event in current_failures(
            kube.events_for(meta.get("namespace", ""), meta.get("name", ""))
        ):
            if _older_than(event, since):
                continue
            # The controller's messages echo annotation values: user-written.
            message = str(event.get("message", "")).strip()
            findings.append(
                Finding(
                    FindingKind.CONTROLLER_EVENT,
                    f"the controller reported on {name}: {event.get('reason')}: {quote(message)}",
                    object=name,
                    data={
                        "reason": str(event.get("reason")),
                        "message": escape(message, DATA_LIMIT),
                    },
                )
            )
    gateway = resolved.gateway
    if gateway is not None and request.security_group_id not in gateway.security_groups:
        where = gateway.config.ref if gateway.config and gateway.referenced else "none"
        findings.append(
            Finding(
                FindingKind.ANNOTATION_REVERTED,
                f"the Gateway's LoadBalancerConfiguration ({where}) no longer gets "
                f"{request.security_group_id} to the controller (it sees: "
                f"{', '.join(gateway.security_groups) or 'none'})",
                object=f"{gateway.namespace}/{gateway.name}",
                data={"field": "spec.securityGroups", "configuration": where},
            )
        )
    if owner.kind is OwnerKind.INGRESS_GROUP:
        values = {
            member: ",".join(groups)
            for member, groups in conflicting_members(resolved.objects, sg_key).items()
        }
        if values:
            findings.append(
                Finding(
                    FindingKind.GROUP_CONFLICT,
                    f"members of IngressGroup {owner.group} carry different {sg_key} values "
                    f"({', '.join(f'{k}: {v}' for k, v in sorted(values.items()))}): "
                    "the whole group stops reconciling",
                    data={"annotation": sg_key},
                )
            )
    return _Diagnosis(findings, members)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _older_than(event: KubeObject, since: datetime | None) -> bool:
    """An Event last seen before the patch was requested says nothing about the patch."""
    seen = _parse_time(event.get("lastTimestamp") or event.get("eventTime"))
    return since is not None and seen is not None and seen.timestamp() < since.timestamp() - 1


def _last_writer(obj: KubeObject, annotation: str) -> tuple[str | None, str | None]:
    """The most recent field manager that owns the annotation, and when.

    Entries named ``frontguard`` count too: anyone can write under that name
    (``--field-manager``), and skipping them would let a writer hide."""
    owners = []
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        fields = (entry.get("fieldsV1") or {}).get("f:metadata", {}).get("f:annotations", {})
        if isinstance(fields, Mapping) and f"f:{annotation}" in fields:
            owners.append((str(entry.get("time") or ""), str(entry.get("manager") or "unknown")))
    if not owners:
        return None, None
    when, manager = max(owners)
    return manager, when or None


def _fix(
    owner: OwnerRef, sg_id: str, findings: Sequence[Finding], members: Sequence[tuple[str, str]]
) -> str:
    """The advice for a human, chosen by the kinds of the findings."""
    kinds = {finding.kind for finding in findings}
    if FindingKind.OWNER_DELETED in kinds:
        return (
            "Nothing to fix: the owner object is gone and the controller deletes its load balancer."
        )
    advice: list[str] = []
    if FindingKind.SECURITY_GROUP_DELETED in kinds:
        advice.append(
            f"frontguard's security group {sg_id} was deleted (CloudTrail DeleteSecurityGroup "
            "says by whom). frontguard creates a new one and updates the annotations on its "
            "next scan; until then the controller cannot reconcile this load balancer."
        )
    elif owner.kind is OwnerKind.GATEWAY:
        advice.append(
            f"Set spec.securityGroups: [{sg_id}] and spec.manageBackendSecurityGroupRules: true "
            f"on the LoadBalancerConfiguration that {owner.describe()} references "
            "(spec.infrastructure.parametersRef), and keep its GatewayClass's configuration "
            "from pinning securityGroups."
        )
    else:
        keys = annotation_keys(owner)
        sg_key = keys.security_groups
        backend_key = keys.backend_rules
        kind = "service" if owner.kind is OwnerKind.SERVICE else "ingress"
        targets = members or (
            [(owner.namespace, owner.name)] if owner.namespace and owner.name else []
        )
        backend = f' {backend_key}="true"' if backend_key else ""
        commands = [
            f'kubectl annotate {kind} -n {namespace} {name} --overwrite {sg_key}="{sg_id}"{backend}'
            for namespace, name in targets
        ] or [f'set {sg_key}: "{sg_id}"{backend} on every member']
        where = (
            "every member of IngressGroup " + str(owner.group)
            if owner.kind is OwnerKind.INGRESS_GROUP
            else owner.describe()
        )
        if kinds & {FindingKind.GITOPS_MANAGED, FindingKind.ANNOTATION_REVERTED}:
            advice.append(
                f"Commit these annotations to the source of {where} (the tool or person that "
                "reverted them will otherwise undo a direct change):"
            )
            advice.append(f'  {sg_key}: "{sg_id}"')
            if backend_key:
                advice.append(f'  {backend_key}: "true"')
            advice.append("or, when nothing manages it, run:")
        else:
            advice.append(f"Set the annotations on {where}:")
        advice.extend(f"  {command}" for command in commands)
    if FindingKind.GROUP_CONFLICT in kinds:
        advice.append(
            "Every member of the IngressGroup that carries the annotation must carry the "
            "identical value, or the controller reconciles none of them."
        )
    if FindingKind.CONTROLLER_EVENT in kinds:
        advice.append("Fix what the controller's event says; it retries on every change.")
    if FindingKind.EXTRA_SECURITY_GROUP in kinds:
        advice.append(
            "Find who attached the extra security group (CloudTrail SetSecurityGroups on the "
            "load balancer); the next scan asks the controller to reconcile, which removes it."
        )
    if FindingKind.RULES_CHANGED in kinds:
        advice.append(
            f"Do not edit {sg_id} by hand: frontguard restores its rules on the next scan; "
            "change the policy instead."
        )
    return "\n".join(advice)


def _alert(
    request: VerifyRequest,
    owner: OwnerRef,
    *,
    outcome: Outcome,
    detail: str,
    findings: Sequence[Finding],
    fix: str | None,
    extra: Mapping[str, Any] | None = None,
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
            "findings": [finding.as_dict() for finding in findings],
            "attempts": request.attempt + 1,
            **(extra or {}),
        },
    )
