"""Cold import time of each handler module next to ``import boto3`` alone.

    python bench/import_time.py

Each figure is the median of several new processes on this machine's Python, with the
project's bytecode caches present (as after `pip install`); the Lambda asset's own figures
(source only vs bytecode) are in bench/bundle_size.py.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9
MODULES = (
    "boto3",
    "frontguard.handlers.events",
    "frontguard.handlers.scan",
    "frontguard.handlers.verify",
    "frontguard.handlers.events_flow",
)


def cold_import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "lambdas")}
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def main() -> None:
    baseline = cold_import_seconds("boto3")
    print("| module | cold import ms | × import boto3 |")
    print("|---|---|---|")
    for module in MODULES:
        seconds = baseline if module == "boto3" else cold_import_seconds(module)
        print(f"| `{module}` | {seconds * 1000:.0f} | {seconds / baseline:.2f} |", flush=True)
    print(
        "\n`frontguard.handlers.events_flow` is what the first invocation imports (the domain, boto3 and "
        "pydantic); the kubernetes client loads only when a cluster is first contacted."
    )


if __name__ == "__main__":
    main()
