"""Reliability fixtures: frontguard wired with an AWS fault injector, and the scenario table."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, Frontguard, wire
from tests.reliability.faults import AwsFaults, Delivery
from tests.reliability.report import ROWS, Row

REPORT_ENV = "FRONTGUARD_RELIABILITY_JSON"


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
