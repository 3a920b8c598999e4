"""Docker-free bundling of the Lambda code: pip installs manylinux wheels for the runtime.

The asset is ``lambdas/frontguard`` plus the runtime dependencies of ``requirements.txt``,
installed for the Lambda platform (Linux, arm64, the runtime's CPython) by the local pip,
pruned of what never runs, and cached under ``build/`` keyed on everything that shapes it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT: Final = Path(__file__).resolve().parent.parent
LAMBDA_CODE_ROOT: Final = ROOT / "lambdas"
REQUIREMENTS: Final = ROOT / "requirements.txt"
CONSTRAINTS: Final = ROOT / "constraints.txt"
CACHE_ROOT: Final = ROOT / "build" / "lambda-deps"

PYTHON_VERSION: Final = "3.12"
RUNTIME: Final = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
PIP_PLATFORM: Final = (
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    PYTHON_VERSION,
    "--only-binary=:all:",
)

# Paths (relative to the asset root) that never run in the functions:
PRUNED: Final = (
    # the kubernetes asyncio client (68 MB) and what only it and aiohttp import
    "kubernetes/aio",
    "aiohttp",
    "aiohttp_retry",
    "aiohappyeyeballs",
    "aiosignal",
    "frozenlist",
    "multidict",
    "propcache",
    "yarl",
    # console scripts
    "bin",
)
PRUNED_DIST_PREFIXES: Final = (
    "aiohttp-",
    "aiohttp_retry-",
    "aiohappyeyeballs-",
    "aiosignal-",
    "frozenlist-",
    "multidict-",
    "propcache-",
    "yarl-",
)
# botocore ships the models of every AWS service (28 MB); the functions create clients for these
# only (a test checks every ``client("...")`` in lambdas/frontguard against this list).
BOTOCORE_SERVICES: Final = frozenset(
    {"dynamodb", "ec2", "eks", "elbv2", "sns", "sqs", "ssm", "sts"}
    # Security Hub findings (when switched on); Organizations for the command line's
    # cross-account scan, which the package carries too (a few hundred KB of models).
    | {"securityhub", "organizations"}
    # The event path finds a new managed SG's load balancer by its tags (adapters/tagging.py).
    | {"resourcegroupstaggingapi"}
)
PRUNED_DIR_NAMES: Final = frozenset({"__pycache__", "tests", "test"})
# RECORD lists the files pip installed, pruned ones included: wrong once pruned, never read.
PRUNED_DIST_FILES: Final = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
# Bumped whenever the pruning rules change, so cached trees are rebuilt.
PRUNE_VERSION: Final = "5"


def matching_interpreter() -> str | None:
    """A local interpreter of the runtime's version, the only one whose bytecode is usable."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION:
        return sys.executable
    candidate = shutil.which(f"python{PYTHON_VERSION}")
    if candidate is None:
        return None
    # A version manager's shim may exist without the interpreter behind it.
    probe = subprocess.run(  # noqa: S603 (argv of our own, no shell)
        [candidate, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=False,
    )
    return candidate if probe.stdout.strip() == PYTHON_VERSION else None


def _cache_key(compiler: str | None) -> str:
    digest = hashlib.sha256()
    digest.update(REQUIREMENTS.read_bytes())
    digest.update(CONSTRAINTS.read_bytes())
    digest.update(" ".join((*PIP_PLATFORM, PRUNE_VERSION, str(bool(compiler)))).encode())
    return digest.hexdigest()[:16]


def prune(root: Path) -> None:
    """Remove from an installed tree what the functions never import."""
    for relative in PRUNED:
        shutil.rmtree(root / relative, ignore_errors=True)
    models = root / "botocore" / "data"
    if models.is_dir():
        for service in models.iterdir():
            if service.is_dir() and service.name not in BOTOCORE_SERVICES:
                shutil.rmtree(service)
    for dist in root.glob("*.dist-info"):
        if dist.name.startswith(PRUNED_DIST_PREFIXES):
            shutil.rmtree(dist)
            continue
        for name in PRUNED_DIST_FILES:
            (dist / name).unlink(missing_ok=True)
    for directory in sorted(root.rglob("*"), reverse=True):
        if directory.is_dir() and directory.name in PRUNED_DIR_NAMES:
            shutil.rmtree(directory)
    for compiled in root.rglob("*.pyc"):
        compiled.unlink()


def _compile(root: Path, compiler: str) -> None:
    # unchecked-hash: the pyc stays valid although the asset's file times change on unzip.
    subprocess.run(  # noqa: S603 (argv of our own, no shell)
        [
            compiler,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(root),
        ],
        check=True,
    )


def build_dependencies(compiler: str | None) -> Path:
    """The pruned dependency tree for the Lambda platform, built once per cache key."""
    cached = CACHE_ROOT / _cache_key(compiler)
    if cached.is_dir():
        return cached
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="deps-", dir=CACHE_ROOT))
    subprocess.run(  # noqa: S603 (argv of our own, no shell)
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            *PIP_PLATFORM,
            "--target",
            str(staging),
            "-r",
            str(REQUIREMENTS),
            # the transitive versions tested in development
            "-c",
            str(CONSTRAINTS),
        ],
        check=True,
    )
    prune(staging)
    if compiler:
        _compile(staging, compiler)
    try:
        staging.rename(cached)
    except OSError:
        if not cached.is_dir():
            raise
        shutil.rmtree(staging)  # another build finished first; its tree is the same
    return cached


def assemble(output_dir: Path) -> None:
    """Write the complete asset (dependencies + the frontguard package) to ``output_dir``."""
    compiler = matching_interpreter()
    shutil.copytree(build_dependencies(compiler), output_dir, dirs_exist_ok=True)
    package = output_dir / "frontguard"
    shutil.copytree(
        LAMBDA_CODE_ROOT / "frontguard",
        package,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    if compiler:
        _compile(package, compiler)


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Builds the asset on this machine; CDK falls back to Docker only if this returns False."""

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        assemble(Path(output_dir))
        return True


def lambda_code() -> lambda_.Code:
    """The one code asset all three functions share (bundled once per synth)."""
    return lambda_.Code.from_asset(
        str(LAMBDA_CODE_ROOT),
        # The bundled output is what runs, so it is what the asset hash must follow:
        # requirements.txt lives outside the source directory.
        asset_hash_type=AssetHashType.OUTPUT,
        exclude=["**/__pycache__", "**/*.pyc"],
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or raises.
            image=DockerImage.from_registry("local-bundling-only"),
            local=LocalPipBundling(),
        ),
    )
