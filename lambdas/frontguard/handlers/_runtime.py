"""What every handler shares: one runtime per Lambda container, built on first use."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

if TYPE_CHECKING:
    from frontguard.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def current_runtime() -> Runtime:
    """Built on the first invocation, not at import: module import stays cheap, and a bad
    configuration fails the invocation (visible, retried, dead-lettered), not the init."""
    from frontguard.runtime import build_runtime
    from frontguard.settings import Settings

    return build_runtime(Settings.from_env())


def reset_runtime() -> None:
    """Forget the cached runtime (tests change the environment between invocations)."""
    current_runtime.cache_clear()


def logged(logger: Logger) -> Callable[[F], F]:
    """Powertools logging with the Lambda context, applied to frontguard's own loggers too."""

    def decorate(function: F) -> F:
        # frontguard's modules log through children of the "frontguard" logger.
        logging.getLogger("frontguard")
        copy_config_to_registered_loggers(
            source_logger=logger, include={"frontguard"}, log_level=logging.INFO
        )
        wrapped: F = logger.inject_lambda_context(clear_state=True)(function)
        return wrapped

    return decorate
