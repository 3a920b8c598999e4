"""What a canary run found: its stages and figures, as a table or JSON (like the doctor's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Stage:
    name: str
    status: Status
    detail: str
    fix: str = ""
    at_seconds: float | None = None  # since the run started

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
            "at_seconds": self.at_seconds,
        }


@dataclass
class CanaryReport:
    cluster: str
    kind: str
    namespace: str
    owner: str
    run_id: str
    started_at: datetime
    precision_seconds: float
    stages: list[Stage] = field(default_factory=list)
    load_balancer_arn: str | None = None
    created_at: datetime | None = None
    protected_at: datetime | None = None
    exposure_seconds: float | None = None
    born_protected: bool = False
    path: str | None = None
    alert: str | None = None
    verification: str | None = None
    security_group_id: str | None = None
    leftovers_removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.status is not Status.FAILED for s in self.stages)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {
            "ok": self.ok,
            "cluster": self.cluster,
            "kind": self.kind,
            "owner": f"{self.namespace}/{self.owner}",
            "run_id": self.run_id,
            "started_at": when(self.started_at),
            "load_balancer_arn": self.load_balancer_arn,
            "load_balancer_created_at": when(self.created_at),
            "protected_at": when(self.protected_at),
            "exposure_seconds": self.exposure_seconds,
            "precision_seconds": self.precision_seconds,
            "born_protected": self.born_protected,
            "path": self.path,
            "alert": self.alert,
            "verification": self.verification,
            "security_group_id": self.security_group_id,
            "leftovers_removed": self.leftovers_removed,
            "stages": [s.as_dict() for s in self.stages],
        }


MARKS = {Status.PASSED: "ok", Status.WARNED: "warn", Status.FAILED: "FAIL", Status.SKIPPED: "skip"}


def table(report: CanaryReport, *, width: int = 100) -> list[str]:
    """The stages, one line each (with the fix under a failed one), then the figures."""
    lines = [
        f"frontguard canary: {report.kind} {report.namespace}/{report.owner} in {report.cluster}",
        "",
    ]
    for stage in report.stages:
        when = f"{stage.at_seconds:>6.0f}s" if stage.at_seconds is not None else "       "
        lines.append(
            f"{MARKS[stage.status]:<5} {when}  {stage.name:<14} {_cut(stage.detail, width)}"
        )
        if stage.fix and stage.status is Status.FAILED:
            lines.append(f"{'':<22}fix: {_cut(stage.fix, width)}")
    lines += ["", *_figures(report)]
    return lines


def _figures(report: CanaryReport) -> Sequence[str]:
    exposure = (
        f"{report.exposure_seconds:.0f} s (polled every {report.precision_seconds:.0f} s)"
        if report.exposure_seconds is not None
        else "not measured"
    )
    rows = [
        ("load balancer", report.load_balancer_arn or "none"),
        ("exposure", exposure + (" - born protected" if report.born_protected else "")),
        ("path", report.path or "unknown"),
        ("alert", report.alert or "none"),
        ("verification", report.verification or "none"),
        ("result", "healthy" if report.ok else "FAILED"),
    ]
    return [f"{key + ':':<15}{value}" for key, value in rows]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
