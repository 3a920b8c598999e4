"""Shared fixtures: one sandbox (moto server + CA) per test session, reset between tests.

``sandbox`` gives a test an empty account; the clusters it creates (each with a Kubernetes
emulator thread) are stopped when the test ends.
"""

from collections.abc import Iterator

import pytest

from sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def sandbox(sandbox_session: Sandbox) -> Iterator[Sandbox]:
    yield sandbox_session
    sandbox_session.reset()
