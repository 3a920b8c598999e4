"""The event path: one EventBridge event in, one remediation (or a logged reason) out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from frontguard.adapters.network import describe_load_balancer
from frontguard.alerts import Alert
from frontguard.engine import accounting
from frontguard.engine.decision import LoadBalancerGoneError, Result
from frontguard.engine.early import (
    Refusal,
    Untrusted,
    blocked_stack,
    load_balancers_for_stack,
    untrusted_refusal,
)
from frontguard.engine.pre_lb import BLOCKED_KEY_PREFIX
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.errors import InvalidEventError, NotFoundError, PermanentError, RetryableError
from frontguard.handlers.intake import (
    Ignored,
    ManagedSecurityGroupCreated,
    NewLoadBalancer,
    parse_event,
)
from frontguard.handlers.malformed import log_malformed
from frontguard.handlers.shapes import input_id
from frontguard.model import Outcome
from frontguard.runtime import Runtime

logger = logging.getLogger(__name__)
HANDLER: Final = "events"
# An explicit Deny on tag-on-create, as CloudTrail records it for EC2 (EC2's error code
# UnauthorizedOperation with its "Client." prefix): fail-closed mode refused the managed SG.
REFUSED = frozenset({"Client.UnauthorizedOperation", "UnauthorizedOperation"})


def handle_event(runtime: Runtime, event: Any) -> dict[str, str]:
    """Remediate the load balancer a CloudTrail ``CreateLoadBalancer`` event announces, or
    the one the controller's ``CreateSecurityGroup`` of a managed SG announces.

    Malformed events are logged and dropped (retrying cannot fix them); transient failures
    raise :class:`RetryableError` so Lambda retries and finally keeps the event in the DLQ;
    permanent failures raise an ``error`` alert. (The Lambda entry point parses first, before
    it builds the runtime, and counts what it drops: handlers/events.py.)
    """
    try:
        parsed = parse_event(event)
    except InvalidEventError as error:
        return log_malformed(HANDLER, error, event_id=event_id(event))
    return handle_parsed(runtime, parsed, event_id(event))


def handle_parsed(
    runtime: Runtime,
    parsed: NewLoadBalancer | ManagedSecurityGroupCreated | Ignored,
    event_id: str | None,
) -> dict[str, str]:
    """What :func:`handle_event` does with an event of the right shape."""
    if isinstance(parsed, Ignored):
        logger.info("event ignored", extra={"reason": parsed.reason, "event_id": event_id})
        return {"outcome": Outcome.IGNORED.value, "reason": parsed.reason}
    if isinstance(parsed, ManagedSecurityGroupCreated):
        return _managed_security_group(runtime, parsed)
    return _remediate(runtime, parsed.arn, parsed.cluster_hint, actor=parsed.caller_arn)


def _managed_security_group(
    runtime: Runtime, signal: ManagedSecurityGroupCreated
) -> dict[str, str]:
    """The controller created its managed SG: the load balancer follows in the same reconcile.
    Find it by the stack's tags and remediate it as its ``CreateLoadBalancer`` would; not
    there yet: the ``CreateLoadBalancer`` event and the scheduled scan follow."""
    context = {
        "cluster": signal.cluster,
        "stack": signal.describe(),
        "security_group_id": signal.group_id,
        "event_id": signal.event_id,
    }
    if signal.error_code is not None:
        return _refused(runtime, signal, context)
    if runtime.tagging is None:
        raise PermanentError("no Resource Groups Tagging API client to find the load balancer")
    arns = load_balancers_for_stack(
        runtime.engine,
        runtime.tagging,
        cluster=signal.cluster,
        stack_tag=signal.stack_tag,
        stack=signal.stack,
    )
    if not arns:
        reason = (
            f"no load balancer tagged {signal.describe()} yet; its CreateLoadBalancer event "
            "and the scheduled scan follow"
        )
        logger.info("event ignored", extra={**context, "reason": reason})
        return {"outcome": Outcome.IGNORED.value, "reason": reason}
    logger.info("managed SG announces load balancers", extra={**context, "load_balancers": arns})
    results = [_remediate(runtime, arn, signal.cluster, actor=signal.caller_arn) for arn in arns]
    return {**results[0], "load_balancer_arns": ",".join(arns)}


def _refused(
    runtime: Runtime, signal: ManagedSecurityGroupCreated, context: dict[str, Any]
) -> dict[str, str]:
    """The managed SG was refused (fail-closed mode): no LB exists; tell who is blocked.
    Any other failure of the call created nothing frontguard must act on."""
    assert signal.error_code is not None
    if signal.error_code not in REFUSED:
        reason = f"the controller's CreateSecurityGroup failed ({signal.error_code}): no SG"
        logger.info("event ignored", extra={**context, "reason": reason})
        return {"outcome": Outcome.IGNORED.value, "reason": reason}
    if runtime.tagging is None:
        raise PermanentError("no Resource Groups Tagging API client to find the load balancer")
    untrusted = untrusted_refusal(
        runtime.engine,
        runtime.tagging,
        Refusal(
            cluster=signal.cluster,
            stack_tag=signal.stack_tag,
            stack=signal.stack,
            vpc_id=signal.vpc_id,
            account=signal.account,
            caller_role=signal.caller_role,
            caller_arn=signal.caller_arn,
        ),
        controller_roles=runtime.settings.controller_role_names,
    )
    if untrusted is not None:
        return _not_acted_on(runtime, signal, context, untrusted)
    try:
        blocked = blocked_stack(
            runtime.engine,
            cluster=signal.cluster,
            prefix=signal.prefix,
            stack=signal.stack,
            error_code=signal.error_code,
            vpc_id=signal.vpc_id,
        )
    except PermanentError as error:
        # e.g. the pre-load-balancer SG's name is taken by an SG that is not frontguard's, or
        # a patch refused: nothing half-applied is used; the controller's next refusal retries.
        logger.error("fail-closed reaction failed", extra={**context, "problem": str(error)})  # noqa: TRY400
        runtime.engine.alerts.publish(
            _blocked_alert(
                signal,
                Outcome.ERROR,
                detail=f"frontguard could not give {signal.describe()} its own SG: {error}",
                fix="Check frontguard's permissions and the SGs named; the controller keeps "
                "retrying and frontguard reacts to its next refusal.",
            )
        )
        return {"outcome": Outcome.ERROR.value, "reason": str(error)}
    if blocked.alert is not None:
        runtime.engine.alerts.publish(blocked.alert)
    else:
        logger.info("refused managed SG handled", extra={**context, "reason": blocked.reason})
    return {"outcome": blocked.outcome.value, "reason": blocked.reason}


def _remediate(
    runtime: Runtime, arn: str, cluster_hint: str | None, *, actor: str = ""
) -> dict[str, str]:
    """One load balancer through the engine; failures as :func:`handle_event` says.
    Its alerts say the event detected it and who made the call (``unknown`` if not said)."""
    provenance = accounting.provenance("event", actor)
    try:
        result: Result = remediate_load_balancer(runtime.engine, arn, provenance=provenance)
    except RetryableError:
        raise
    except LoadBalancerGoneError as error:
        # Never listed through the re-read retries, and not there now: nothing to protect
        # (a slow listing would be caught by the scheduled scan). Not a failure to page for.
        logger.info(
            "load balancer not found: event dropped",
            extra={"load_balancer_arn": arn, "reason": str(error)},
        )
        return {"outcome": Outcome.IGNORED.value, "reason": str(error)}
    except NotFoundError as error:
        # Something vanished between two steps. The load balancer itself (the controller deletes
        # LBs whose objects are gone): nothing left to protect. Anything else, such as the SG
        # deleted under us: retry, and the next run starts over.
        if _still_exists(runtime, arn):
            raise RetryableError(f"retrying after a mid-run deletion: {error}") from error
        logger.info(
            "load balancer deleted mid-run: nothing to protect",
            extra={"load_balancer_arn": arn, "reason": str(error)},
        )
        return {"outcome": Outcome.IGNORED.value, "reason": str(error)}
    except PermanentError as error:
        logger.error(  # noqa: TRY400
            "remediation failed", extra={"load_balancer_arn": arn, "problem": str(error)}
        )
        runtime.engine.alerts.publish(
            Alert(
                outcome=Outcome.ERROR,
                load_balancer_arn=arn,
                cluster=cluster_hint,
                owner=None,
                detail=str(error),
                fix="Check frontguard's permissions (IAM role, EKS access entry, RBAC) and the "
                "load balancer's owner object; the next scheduled scan retries.",
            )
        )
        return {"outcome": Outcome.ERROR.value, "reason": str(error)}
    return {"outcome": result.outcome.value, "reason": result.reason}


def _not_acted_on(
    runtime: Runtime,
    signal: ManagedSecurityGroupCreated,
    context: dict[str, Any],
    untrusted: Untrusted,
) -> dict[str, str]:
    """A refusal frontguard does not act on: logged; a suspicious one (another principal,
    another VPC) is also a ``conflict`` alert naming the caller, for a human to look at."""
    if not untrusted.suspicious:
        logger.info(
            "refused managed SG not acted on", extra={**context, "reason": untrusted.reason}
        )
        return {"outcome": Outcome.IGNORED.value, "reason": untrusted.reason}
    logger.warning(
        "suspicious refused managed SG: nothing changed",
        extra={**context, "reason": untrusted.reason, "caller": signal.caller_arn},
    )
    runtime.engine.alerts.publish(
        _blocked_alert(
            signal,
            Outcome.CONFLICT,
            detail=f"a refused CreateSecurityGroup carrying the controller's tags for "
            f"{signal.describe()}: {untrusted.reason}",
            fix="Find who made the call (CloudTrail event "
            f"{signal.event_id or '?'}, caller {signal.caller_arn or 'unknown'}) and why; "
            "frontguard created and patched nothing. If it was the controller, add its role to "
            "fail_closed.controller_role_names.",
            data={
                "caller": signal.caller_arn,
                "vpc_id": signal.vpc_id,
                "event_id": signal.event_id,
            },
        )
    )
    return {"outcome": Outcome.CONFLICT.value, "reason": untrusted.reason}


def _blocked_alert(
    signal: ManagedSecurityGroupCreated,
    outcome: Outcome,
    detail: str,
    fix: str,
    data: dict[str, Any] | None = None,
) -> Alert:
    """An alert about a stack whose managed SG was refused: keyed by the stack (no load
    balancer exists), naming no owner (the record's claim is not read as one)."""
    return Alert(
        outcome=outcome,
        load_balancer_arn=f"{BLOCKED_KEY_PREFIX}{signal.cluster}/{signal.stack_tag}={signal.stack}",
        cluster=signal.cluster,
        owner=None,
        detail=detail,
        fix=fix,
        data=data or {},
    )


def _still_exists(runtime: Runtime, arn: str) -> bool:
    try:
        describe_load_balancer(runtime.engine.elbv2, arn)
    except NotFoundError:
        return False
    return True


def event_id(event: Any) -> str | None:
    """The EventBridge event's id, for the log line of an event that is dropped."""
    return input_id(event.get("id")) if isinstance(event, Mapping) else None
