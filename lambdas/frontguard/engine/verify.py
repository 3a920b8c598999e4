"""Verification: did the controller really put frontguard's SG on the load balancer?

A patched annotation is a request, not a result. Each check ends in ``verified``, a re-check
later (bounded backoff), or ``verification-failed`` with a diagnosis a human can act on: the
controller's own Events quoted, who reverted the annotation, a deleted SG, a group conflict.

Each diagnosis is a :class:`~frontguard.engine.verify_findings.Finding` of a
:class:`~frontguard.engine.verify_findings.FindingKind` (what AWS shows: that module; what the
cluster says: :mod:`~frontguard.engine.verify_diagnosis`); the advice
(:mod:`~frontguard.engine.verify_advice`) branches on the kind, never on the text, which is for
humans only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from frontguard.adapters import aws, network
from frontguard.adapters.verify_queue import VerifyRequest
from frontguard.alerts import Alert
from frontguard.engine.born import exposure_seconds
from frontguard.engine.decision import Engine
from frontguard.engine.verify_advice import fix
from frontguard.engine.verify_diagnosis import diagnose
from frontguard.engine.verify_findings import (
    Finding,
    FindingKind,
    attachment_problems,
    extra_groups,
    join,
)
from frontguard.errors import FrontguardError, NotFoundError
from frontguard.model import LoadBalancer, Outcome, OwnerRef, classify

logger = logging.getLogger(__name__)

PENDING = "pending"


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
        lb = network.describe_load_balancer(engine.elbv2, request.load_balancer_arn)
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
    problems = attachment_problems(request, lb.security_groups, attached, ours)
    problems += extra_groups(lb, attached, ours, engine.policy.approved_security_groups)
    if not problems:
        return _verified(engine, request, owner, lb, context)
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
        return Verification(PENDING, join(problems), tuple(problems))
    return _failed(engine, request, owner, problems, context)


def _verified(
    engine: Engine,
    request: VerifyRequest,
    owner: OwnerRef,
    lb: LoadBalancer,
    context: Mapping[str, Any],
) -> Verification:
    """Success: its alert goes to the topic when the policy asks for success alerts, else
    only to the findings (the finding is resolved, nobody is notified)."""
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
    if engine.policy.notify_on_success or owner.namespace in engine.policy.success_alert_namespaces:
        engine.alerts.publish(success)  # reaches engine.findings too (runtime fans out)
    elif engine.findings is not None:
        engine.findings.publish(success)  # the finding is resolved, nobody is notified
    return result


def _failed(
    engine: Engine,
    request: VerifyRequest,
    owner: OwnerRef,
    problems: list[Finding],
    context: Mapping[str, Any],
) -> Verification:
    """No more re-checks: what the cluster says, and the advice, in a verification-failed
    alert."""
    diagnosis = diagnose(
        engine.kube(request.cluster),
        owner,
        request,
        engine.policy.controller_flags(request.cluster),
    )
    findings = [*problems, *diagnosis.findings]
    advice = fix(owner, request.security_group_id, findings, diagnosis.members)
    logger.warning(
        "verification failed", extra={**context, "findings": [f.as_dict() for f in findings]}
    )
    engine.alerts.publish(
        _alert(
            request,
            owner,
            outcome=Outcome.VERIFICATION_FAILED,
            detail=join(findings),
            findings=findings,
            fix=advice,
        )
    )
    return Verification(Outcome.VERIFICATION_FAILED.value, join(findings), tuple(findings))


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
