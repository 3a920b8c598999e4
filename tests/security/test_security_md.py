"""SECURITY.md lists every attack the security suite tries, with the outcome its test asserts."""

from __future__ import annotations

from tests.security.report import collect, current_table, render


def test_security_md_lists_each_attack_with_its_outcome() -> None:
    attacks = collect()
    assert len(attacks) >= 20
    assert current_table() == render(attacks), (
        "SECURITY.md is out of date: run `python bench/security_report.py`"
    )
