"""SECURITY.md's table of attacks, rendered from the security suite's catalogue.

``python bench/security_report.py`` rewrites the table; ``test_security_md.py`` fails when
SECURITY.md and the tests disagree (a test added, renamed, or its outcome reworded).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from tests.security.catalogue import ATTACKS, Attack

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "SECURITY.md"
BEGIN = "<!-- security-attacks:begin -->"
END = "<!-- security-attacks:end -->"


def collect() -> list[Attack]:
    """Every attack the suite's test modules register, in the review's order."""
    import tests.security as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"tests.security.{module.name}")

    def order(attack: Attack) -> tuple[int, str]:
        return (int(attack.finding) if attack.finding.isdigit() else 99, attack.test)

    return sorted(ATTACKS.values(), key=order)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(attacks: list[Attack]) -> str:
    lines = [
        BEGIN,
        "| review # | foothold | attack | outcome now (asserted by the test) | test |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {a.finding} | {_cell(a.foothold)} | {_cell(a.attack)} | {_cell(a.outcome)} | "
        f"`tests/security/{a.test.replace('::', '.py::')}` |"
        for a in attacks
    ]
    lines.append(END)
    return "\n".join(lines)


def current_table() -> str:
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def rewrite() -> None:
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + render(collect()) + text[end:])
