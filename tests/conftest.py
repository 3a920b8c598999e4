"""Shared fixtures: one sandbox (moto server + CA) per test session, reset between tests.

``sandbox`` gives a test an empty account; the clusters it creates (each with a Kubernetes
emulator thread) are stopped when the test ends.
"""

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import botocore.retries.bucket
import botocore.retries.standard
import pytest
from frontguard.handlers._runtime import reset_runtime

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, STATE_TABLE, Frontguard


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's real retry decisions and adaptive rate limiting, in virtual time, for
    every test (a fault that outlasts botocore's retries otherwise sleeps through its whole
    exponential backoff).

    Backoff delays are zero, and when the adaptive client's token bucket would wait, its clock
    jumps ahead instead: the limiter computes the same rates, the suite does not sleep.
    """
    skew = [0.0]

    def current_time(self: botocore.retries.bucket.Clock) -> float:
        return time.time() + skew[0]

    def acquire(self: Any, amount: int, block: bool) -> bool:
        self._refill()
        while amount > self._current_capacity:
            skew[0] += max(self._sleep_amount(amount), 0.001)
            self._refill()
        self._current_capacity -= amount
        return True

    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0
    )
    monkeypatch.setattr(botocore.retries.bucket.Clock, "current_time", current_time)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "_acquire", acquire)


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def sandbox(sandbox_session: Sandbox) -> Iterator[Sandbox]:
    yield sandbox_session
    sandbox_session.reset()


@pytest.fixture
def handler_env(fg: Frontguard, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Lambda handlers' environment, pointing at ``fg``'s topic, queue and table; the
    handlers' cached runtime is rebuilt from it."""
    monkeypatch.setenv("FRONTGUARD_POLICY", json.dumps(ENFORCE))
    monkeypatch.setenv("FRONTGUARD_ALERT_TOPIC_ARN", fg.topic_arn)
    monkeypatch.setenv("FRONTGUARD_VERIFY_QUEUE_URL", fg.queue_url)
    monkeypatch.setenv("FRONTGUARD_STATE_TABLE", STATE_TABLE)
    monkeypatch.setenv("FRONTGUARD_REMEDIATION_QUEUE_URL", fg.remediation_queue_url)
    monkeypatch.setenv("FRONTGUARD_REMEDIATION_PACE_SECONDS", "0")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Frontguard")
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture
def malformed_lines() -> Iterator[list[logging.LogRecord]]:
    """The "malformed input rejected" lines, read from their logger itself (Powertools stops
    frontguard's loggers propagating once a handler module is imported)."""
    from frontguard.handlers import malformed

    lines: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "malformed input rejected":
                lines.append(record)

    logger = logging.getLogger(malformed.__name__)
    keep = Keep()
    logger.addHandler(keep)
    yield lines
    logger.removeHandler(keep)
