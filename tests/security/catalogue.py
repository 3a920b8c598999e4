"""The attacks the security suite tries, each with the outcome frontguard now guarantees.

Every test in ``tests/security`` carries :func:`attack`; ``SECURITY.md``'s table of attacks is
rendered from this catalogue (``python bench/security_report.py``), and
``test_security_md.py`` fails when the file and the tests disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Attack:
    finding: str  # the review's finding number ("1".."16", "info"), or "new"
    foothold: str  # what the attacker needs
    attack: str  # what they try
    outcome: str  # what frontguard does now (the test asserts it)
    test: str = ""  # module::function, filled in by the decorator


ATTACKS: dict[str, Attack] = {}


def attack(finding: str, foothold: str, what: str, outcome: str) -> Callable[[F], F]:
    """Register the decorated test as the proof of one attack's outcome."""

    def register(test: F) -> F:
        name = f"{test.__module__.rsplit('.', 1)[-1]}::{test.__name__}"
        ATTACKS[name] = Attack(finding, foothold, what, outcome, name)
        return test

    return register
