"""Run the reliability suite and (re)write RELIABILITY.md's table from what it observed.

    python bench/reliability_report.py            # run, print the table, rewrite RELIABILITY.md
    python bench/reliability_report.py --check    # run and print only; exit 1 on any loss

Every scenario test records its expected and observed ending (tests/reliability/report.py);
the suite's conftest writes them to a JSON file named by FRONTGUARD_RELIABILITY_JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "RELIABILITY.md"
BEGIN = "<!-- reliability-table:begin -->"
END = "<!-- reliability-table:end -->"


def run_suite(target: Path) -> tuple[int, float]:
    env = {**os.environ, "FRONTGUARD_RELIABILITY_JSON": str(target)}
    started = time.monotonic()
    status = subprocess.call(
        [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
    )
    return status, time.monotonic() - started


def render(rows: list[dict[str, Any]], seconds: float, status: int) -> str:
    def cell(text: object) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| # | area | scenario | expected | observed | ok |",
        "|---|---|---|---|---|---|",
    ]
    for index, row in enumerate(rows, 1):
        ok = "yes" if row["passed"] and not row["events_lost"] and not row["half_applied"] else "NO"
        lines.append(
            f"| {index} | {cell(row['area'])} | {cell(row['scenario'])} | "
            f"{cell(row['expected'])} | {cell(row['observed'])} | {ok} |"
        )
    faulted = [r for r in rows if r["faults_injected"]]
    survived = [
        r for r in faulted if r["passed"] and not r["half_applied"] and not r["events_lost"]
    ]
    lines += [
        "",
        f"**Totals** ({len(rows)} scenarios, suite {'passed' if status == 0 else 'FAILED'} "
        f"in {seconds:.0f} s): faults survived **{len(survived)} of {len(faulted)}** scenarios "
        f"with injected faults ({sum(r['faults_injected'] for r in faulted)} faults injected); "
        f"events lost **{sum(r['events_lost'] for r in rows)}**; half-applied states "
        f"**{sum(r['half_applied'] for r in rows)}**.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print only, do not rewrite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "rows.json"
        status, seconds = run_suite(target)
        rows = json.loads(target.read_text()) if target.exists() else []
    table = render(rows, seconds, status)
    print(table)
    if not args.check:
        text = DOC.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        DOC.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    lost = sum(r["events_lost"] for r in rows) + sum(r["half_applied"] for r in rows)
    return 1 if status or lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
