"""Shared fixtures: one sandbox (moto server + CA) per test session, reset between tests.

``sandbox`` gives a test an empty account; the clusters it creates (each with a Kubernetes
emulator thread) are stopped when the test ends.
"""

import json
import logging
from collections.abc import Iterator

import pytest
from frontguard.handlers._runtime import reset_runtime

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, STATE_TABLE, Frontguard


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
