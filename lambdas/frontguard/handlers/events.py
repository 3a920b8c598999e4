"""Lambda entry point for CloudTrail ``CreateLoadBalancer`` events from EventBridge."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.errors import InvalidEventError
from frontguard.handlers._runtime import current_runtime, logged

logger = Logger(service="frontguard")
metrics = Metrics(namespace="Frontguard", service="frontguard")


@metrics.log_metrics
@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    from frontguard.handlers.events_flow import HANDLER, event_id, handle_parsed
    from frontguard.handlers.intake import parse_event
    from frontguard.handlers.malformed import reject

    # The shape first, before the runtime (which may read the policy from SSM): a malformed
    # event makes no AWS call. It is dropped: EventBridge's retries cannot fix it.
    try:
        parsed = parse_event(event)
    except InvalidEventError as error:
        return reject(metrics, HANDLER, error, event_id=event_id(event))
    return handle_parsed(current_runtime(), parsed, event_id(event))
