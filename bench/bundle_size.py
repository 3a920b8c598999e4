"""Lambda asset size per function, and the events handler's cold import time.

    python bench/bundle_size.py

Sizes are of the real asset (arm64, CPython 3.12, built by infra/bundling.py exactly as
`cdk synth` builds it). The import times cannot run that asset here (its compiled
extensions are for Linux arm64), so they run the same pruned dependency set installed for
this machine's Python, in a new process each time, once from source only (no bytecode in
the tree: what a cold start pays when the asset ships none) and once with bytecode.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra import bundling  # noqa: E402
from infra.stack import EVENTS, SCAN, VERIFY  # noqa: E402

MB = 1024 * 1024
LIMIT_UNZIPPED_MB = 60
LIMIT_ZIPPED_MB = 20
RUNS = 7
IMPORTS = {
    "boto3 alone": "import boto3",
    "kubernetes.client alone": "import kubernetes.client",
    "frontguard.handlers.events": "import frontguard.handlers.events",
    "+ first invocation's imports": "import frontguard.handlers.events, frontguard.handlers.events_flow",
}


def tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def zipped_size(root: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "asset.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    out.write(path, path.relative_to(root))
        return archive.stat().st_size


def host_tree() -> Path:
    """The asset's dependency set for this machine's Python, pruned the same way."""
    key = hashlib.sha256(
        bundling.REQUIREMENTS.read_bytes()
        + bundling.CONSTRAINTS.read_bytes()
        + bundling.PRUNE_VERSION.encode()
        + sys.version.encode()
    ).hexdigest()[:16]
    tree = ROOT / "build" / "bench-host" / key
    if not tree.is_dir():
        staging = tree.with_name(key + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--target",
                str(staging),
                "-r",
                str(bundling.REQUIREMENTS),
                "-c",
                str(bundling.CONSTRAINTS),
            ],
            check=True,
        )
        bundling.prune(staging)
        staging.rename(tree)
    return tree


def import_seconds(statement: str, path: Path) -> float:
    """Median wall time of ``statement`` in a new interpreter that writes no bytecode."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(path)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    times = [
        float(
            subprocess.run(
                [sys.executable, "-B", "-c", code],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(RUNS + 1)
    ]
    return statistics.median(times[1:])  # the first run warms the file cache


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        asset = Path(scratch) / "asset"
        bundling.assemble(asset)
        unzipped, zipped = tree_size(asset), zipped_size(asset)
        bytecode = any(asset.rglob("*.pyc"))

    print(f"Lambda asset (arm64, CPython {bundling.PYTHON_VERSION}; one asset shared by all three)")
    print(f"{'function':<10} {'unzipped MB':>12} {'zipped MB':>10}  within budget")
    for spec in (EVENTS, VERIFY, SCAN):
        ok = unzipped <= LIMIT_UNZIPPED_MB * MB and zipped <= LIMIT_ZIPPED_MB * MB
        print(
            f"{spec.name:<10} {unzipped / MB:>12.1f} {zipped / MB:>10.1f}  {'yes' if ok else 'NO'}"
        )
    print(
        f"bytecode in asset: {'yes' if bytecode else 'no'} (limits {LIMIT_UNZIPPED_MB}/"
        f"{LIMIT_ZIPPED_MB} MB unzipped/zipped)"
    )

    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "tree"
        shutil.copytree(host_tree(), tree)
        shutil.copytree(
            bundling.LAMBDA_CODE_ROOT / "frontguard",
            tree / "frontguard",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        source_only = {name: import_seconds(stmt, tree) for name, stmt in IMPORTS.items()}
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(tree)], check=True)
        compiled = {name: import_seconds(stmt, tree) for name, stmt in IMPORTS.items()}

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(f"\nCold import, new process, median of {RUNS} (this machine, Python {version})")
    print(f"{'import':<32} {'source only s':>14} {'bytecode s':>11}")
    for name in IMPORTS:
        print(f"{name:<32} {source_only[name]:>14.3f} {compiled[name]:>11.3f}")


if __name__ == "__main__":
    main()
