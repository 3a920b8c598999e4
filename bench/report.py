"""Run every benchmark and write BENCHMARKS.md (the command: ``bin/bench``)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    ("API calls per remediated load balancer", ["bench/remediation_calls.py"], False),
    ("Scan scale and cost (20 clusters)", ["bench/scan_scale.py"], False),
    (
        "The sweep: one steady sweep and its monthly cost (20 clusters)",
        ["bench/sweep_scale.py"],
        False,
    ),
    (
        "The first scan of an unguarded account (20 clusters, every LB world-open)",
        ["bench/first_scan.py"],
        False,
    ),
    ("Cross-account scan (50 accounts x 3 regions x 20 LBs)", ["bench/org_scan.py"], False),
    ("Cold import time of the handlers", ["bench/import_time.py"], False),
    ("Lambda asset size and the events handler's cold start", ["bench/bundle_size.py"], True),
)


def run(script: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, *script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def machine() -> str:
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory_kb / 1024 / 1024:.0f} GiB, "
        f"Python {platform.python_version()}, commit {commit}, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"
    )


def main() -> None:
    parts = [
        "# Benchmarks",
        "",
        "Reproduce with `bin/bench` (it provisions itself like the other commands and rewrites "
        "this file). Call counts are deterministic and guarded by tests "
        "(tests/integration/test_budgets.py, test_scan.py); times depend on the machine.",
        "",
        f"Machine: {machine()}.",
    ]
    for title, script, preformatted in SECTIONS:
        print(f"running {' '.join(script)}", file=sys.stderr, flush=True)
        output = run(script)
        body = f"```\n{output}\n```" if preformatted else output
        parts += ["", f"## {title}", "", f"`python {' '.join(script)}`", "", body]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts) + "\n")
    print("wrote BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
