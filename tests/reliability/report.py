"""The reliability table: every scenario records its expected and observed ending here.

``bench/reliability_report.py`` runs the suite with ``FRONTGUARD_RELIABILITY_JSON`` set; the
conftest writes the rows there when the session ends, and the script renders the table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    test: str
    area: str
    scenario: str
    expected: str
    observed: str
    faults_injected: int
    events_lost: int
    half_applied: int
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ROWS: list[Row] = []
