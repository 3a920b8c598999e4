"""Reliability fixtures: frontguard wired with an AWS fault injector, and the scenario table."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.retries.bucket
import botocore.retries.standard
import pytest

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, Frontguard, wire
from tests.reliability.faults import AwsFaults, Delivery
from tests.reliability.report import ROWS, Row

REPORT_ENV = "FRONTGUARD_RELIABILITY_JSON"


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's real retry decisions and adaptive rate limiting, in virtual time.

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


@pytest.fixture
def faults() -> AwsFaults:
    return AwsFaults()


@pytest.fixture
def fg(sandbox: Sandbox, faults: AwsFaults) -> Frontguard:
    return wire(sandbox, ENFORCE, before_send=faults)


Record = Callable[..., None]


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Record]:
    """``record(area, scenario, expected, observed | Delivery, faults=n, half_applied=[...])``:
    one row of RELIABILITY.md's table. Rows are asserted by the tests themselves; recording
    only documents them."""
    rows: list[dict[str, Any]] = []

    def add(
        area: str,
        scenario: str,
        expected: str,
        observed: str | Delivery,
        *,
        faults: int = 0,
        half_applied: list[str] | None = None,
        lost: int | None = None,
    ) -> None:
        if isinstance(observed, Delivery):
            lost = int(observed.lost) if lost is None else lost
            observed = observed.observed
        rows.append(
            {
                "area": area,
                "scenario": scenario,
                "expected": expected,
                "observed": observed,
                "faults_injected": faults,
                "events_lost": lost or 0,
                "half_applied": len(half_applied or []),
            }
        )

    yield add
    report = getattr(request.node, "rep_call", None)
    passed = bool(report and report.passed)
    ROWS.extend(Row(test=request.node.nodeid, passed=passed, **row) for row in rows)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(REPORT_ENV)
    if target and ROWS:
        Path(target).write_text(json.dumps([row.as_dict() for row in ROWS], indent=1))
