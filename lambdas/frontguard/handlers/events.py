"""Lambda entry point for CloudTrail ``CreateLoadBalancer`` events from EventBridge."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from frontguard.handlers._runtime import current_runtime, logged

logger = Logger(service="frontguard")


@logged(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    from frontguard.handlers.events_flow import handle_event

    return handle_event(current_runtime(), event)
