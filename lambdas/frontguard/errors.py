"""frontguard's errors: each says whether to retry later or to give up and tell a human.

Adapters translate client errors (botocore, kubernetes) into these, chained with ``from``.
Handlers let :class:`RetryableError` escape (Lambda retries, then the dead-letter queue keeps
the event) and turn :class:`PermanentError` into an ``error`` alert.
"""

from __future__ import annotations


class FrontguardError(Exception):
    """Base of every error frontguard raises on purpose."""


class RetryableError(FrontguardError):
    """Transient: throttling, 5xx, a resource not visible yet. Retrying later may succeed."""


class PermanentError(FrontguardError):
    """Retrying will not help: a human must act (access denied, impossible plan, bad config)."""


class ConfigurationError(PermanentError):
    """The deployment's configuration or policy document is invalid."""


class InvalidEventError(PermanentError):
    """An input event or message is malformed: log it, do not retry it.

    ``field`` is the path of what was wrong (``detail.requestParameters.tags``; ``body`` for
    a message that is not JSON; empty when the whole input is the problem).
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(PermanentError):
    """The object a request is about no longer exists (deleted meanwhile)."""
