"""The event path: one EventBridge event in, one remediation (or a logged reason) out."""

from __future__ import annotations

import logging
from typing import Any

from frontguard.adapters.aws import describe_load_balancer
from frontguard.alerts import Alert
from frontguard.engine.remediate import LoadBalancerGoneError, Result, remediate_load_balancer
from frontguard.errors import InvalidEventError, NotFoundError, PermanentError, RetryableError
from frontguard.handlers.intake import Ignored, parse_create_load_balancer
from frontguard.model import Outcome
from frontguard.runtime import Runtime

logger = logging.getLogger(__name__)


def handle_event(runtime: Runtime, event: Any) -> dict[str, str]:
    """Remediate the load balancer a CloudTrail ``CreateLoadBalancer`` event announces.

    Malformed events are logged and dropped (retrying cannot fix them); transient failures
    raise :class:`RetryableError` so Lambda retries and finally keeps the event in the DLQ;
    permanent failures raise an ``error`` alert.
    """
    try:
        parsed = parse_create_load_balancer(event)
    except InvalidEventError as error:
        logger.error(  # noqa: TRY400 - the message is the diagnosis; no traceback needed
            "malformed event dropped",
            extra={"problem": str(error), "event_id": _event_id(event)},
        )
        return {"outcome": "invalid-event", "reason": str(error)}
    if isinstance(parsed, Ignored):
        logger.info("event ignored", extra={"reason": parsed.reason, "event_id": _event_id(event)})
        return {"outcome": Outcome.IGNORED.value, "reason": parsed.reason}

    try:
        result: Result = remediate_load_balancer(runtime.engine, parsed.arn)
    except RetryableError:
        raise
    except LoadBalancerGoneError as error:
        # Never listed through the re-read retries, and not there now: nothing to protect
        # (a slow listing would be caught by the scheduled scan). Not a failure to page for.
        logger.info(
            "load balancer not found: event dropped",
            extra={"load_balancer_arn": parsed.arn, "reason": str(error)},
        )
        return {"outcome": Outcome.IGNORED.value, "reason": str(error)}
    except NotFoundError as error:
        # Something vanished between two steps. The load balancer itself (the controller deletes
        # LBs whose objects are gone): nothing left to protect. Anything else, such as the SG
        # deleted under us: retry, and the next run starts over.
        if _still_exists(runtime, parsed.arn):
            raise RetryableError(f"retrying after a mid-run deletion: {error}") from error
        logger.info(
            "load balancer deleted mid-run: nothing to protect",
            extra={"load_balancer_arn": parsed.arn, "reason": str(error)},
        )
        return {"outcome": Outcome.IGNORED.value, "reason": str(error)}
    except PermanentError as error:
        logger.error(  # noqa: TRY400
            "remediation failed", extra={"load_balancer_arn": parsed.arn, "problem": str(error)}
        )
        runtime.engine.alerts.publish(
            Alert(
                outcome=Outcome.ERROR,
                load_balancer_arn=parsed.arn,
                cluster=parsed.cluster_hint,
                owner=None,
                detail=str(error),
                fix="Check frontguard's permissions (IAM role, EKS access entry, RBAC) and the "
                "load balancer's owner object; the next scheduled scan retries.",
            )
        )
        return {"outcome": Outcome.ERROR.value, "reason": str(error)}
    return {"outcome": result.outcome.value, "reason": result.reason}


def _still_exists(runtime: Runtime, arn: str) -> bool:
    try:
        describe_load_balancer(runtime.engine.elbv2, arn)
    except NotFoundError:
        return False
    return True


def _event_id(event: Any) -> str | None:
    return str(event.get("id")) if isinstance(event, dict) and event.get("id") else None
