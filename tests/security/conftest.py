"""Fixtures of the security suite: frontguard wired to the sandbox as production builds it."""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, Frontguard, wire
from tests.reliability.faults import AwsFaults


@pytest.fixture
def faults() -> AwsFaults:
    return AwsFaults()


@pytest.fixture
def fg(sandbox: Sandbox, faults: AwsFaults) -> Frontguard:
    return wire(sandbox, {**ENFORCE, "cleanup_grace_hours": 0}, before_send=faults)
