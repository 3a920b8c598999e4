"""Malformed input, rejected once at the edge: one error line naming what was wrong, and the
``malformed-events`` metric.

What happens next is the entry point's: an EventBridge event is dropped (retrying cannot fix
it); an SQS record is reported as a batch item failure, so the queue redelivers it and keeps
it in the dead-letter queue after ``maxReceiveCount`` (nothing is lost).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from frontguard.errors import InvalidEventError

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

logger = logging.getLogger(__name__)

METRIC: Final = "malformed-events"
OUTCOME: Final = "invalid-event"


def log_malformed(
    handler: str,
    error: InvalidEventError,
    *,
    event_id: str | None = None,
    message_id: str | None = None,
) -> dict[str, str]:
    """Log the one error line; the entry point's answer for a dropped event."""
    logger.error(
        "malformed input rejected",
        extra={
            "handler": handler,
            "field": error.field,
            "problem": str(error),
            "event_id": event_id,
            "message_id": message_id,
        },
    )
    return {"outcome": OUTCOME, "reason": str(error)}


def reject(
    metrics: Metrics,
    handler: str,
    error: InvalidEventError,
    *,
    event_id: str | None = None,
    message_id: str | None = None,
) -> dict[str, str]:
    """Log it and count it (the metric is flushed by the handler's ``log_metrics``)."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=1)
    return log_malformed(handler, error, event_id=event_id, message_id=message_id)
