"""A doctor's findings: one :class:`Check` per thing verified, rendered as a table or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    WARN = "warn"  # works, but a human should look (not a failure: exit code 0)
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    area: str  # cloudtrail, eventbridge, alerting, functions, cluster <name>
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


def passed(area: str, name: str, detail: str) -> Check:
    return Check(area, name, Status.PASS, detail)


def failed(area: str, name: str, detail: str, fix: str) -> Check:
    return Check(area, name, Status.FAIL, detail, fix)


def warned(area: str, name: str, detail: str, fix: str | None = None) -> Check:
    return Check(area, name, Status.WARN, detail, fix)


def healthy(checks: Sequence[Check]) -> bool:
    return all(check.status is not Status.FAIL for check in checks)


def summary(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "healthy": healthy(checks),
        "counts": {s.value: sum(c.status is s for c in checks) for s in Status},
        "checks": [check.as_dict() for check in checks],
    }


def table(checks: Sequence[Check]) -> list[str]:
    """STATUS AREA CHECK DETAIL, then each failure's fix under it."""
    rows = [[c.status.value.upper(), c.area, c.name, c.detail] for c in checks]
    headers = ["STATUS", "AREA", "CHECK", "DETAIL"]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers[:-1])]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            [*(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True)), cells[-1]]
        )

    lines = [line(headers), line(["-" * w for w in widths] + ["------"])]
    for check, row in zip(checks, rows, strict=True):
        lines.append(line(row).rstrip())
        if check.fix and check.status is not Status.PASS:
            lines.append(" " * (sum(widths) + 2 * len(widths)) + f"fix: {check.fix}")
    counts = summary(checks)["counts"]
    lines += ["", f"{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed"]
    return lines
