"""The Lambda asset: built without Docker for arm64/CPython 3.12, pruned, within size budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra import bundling
from tests.infra.conftest import Synthesized

# The project's budget (Lambda allows 250 MB): the pinned SDK, with only the service models the
# code uses, adds ~6.5 MB.
MAX_UNZIPPED = 60 * 1024 * 1024


def asset_dir(synth: Synthesized) -> Path:
    (asset,) = [p for p in synth.assembly_dir.glob("asset.*") if p.is_dir()]
    return asset


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_asset_holds_the_package_and_its_platform_dependencies(minimal: Synthesized) -> None:
    asset = asset_dir(minimal)
    assert (asset / "frontguard" / "handlers" / "__init__.py").is_file()
    assert (asset / "frontguard" / "permissions.py").is_file()
    assert (asset / "kubernetes" / "client" / "api_client.py").is_file()
    assert (asset / "aws_lambda_powertools").is_dir()
    # pydantic-core's compiled extension is the Linux arm64 build for CPython 3.12
    (extension,) = (asset / "pydantic_core").glob("_pydantic_core.*.so")
    assert extension.name == "_pydantic_core.cpython-312-aarch64-linux-gnu.so"


@pytest.mark.parametrize(
    "pruned",
    [
        "kubernetes/aio",
        "aiohttp",
        "yarl",
        "multidict",
        "bin",
        "certifi/tests",
        "botocore/data/s3",
        "botocore/data/lambda",
    ],
)
def test_asset_leaves_out_what_never_runs(minimal: Synthesized, pruned: str) -> None:
    assert not (asset_dir(minimal) / pruned).exists()


def _installed_version(dist_info_root: Path, name: str) -> str:
    (info,) = dist_info_root.glob(f"{name}-*.dist-info")
    return info.name.removeprefix(f"{name}-").removesuffix(".dist-info")


def _pinned(name: str) -> str:
    lines = (bundling.ROOT / "requirements-dev.txt").read_text().splitlines()
    (pin,) = [line.split("==")[1].strip() for line in lines if line.startswith(f"{name}==")]
    return pin


@pytest.mark.parametrize("name", ["boto3", "botocore"])
def test_asset_pins_the_sdk_development_tests_with(minimal: Synthesized, name: str) -> None:
    """Deploy audit 13: the runtime's older SDK under the asset's urllib3/jmespath was never
    tested; the asset carries the boto3/botocore the test suite runs."""
    asset = asset_dir(minimal)
    assert (asset / name / "__init__.py").is_file()
    assert _installed_version(asset, name) == _pinned(name)


def test_asset_keeps_the_model_of_every_service_the_code_creates_a_client_for(
    minimal: Synthesized,
) -> None:
    used = {
        match
        for source in (bundling.LAMBDA_CODE_ROOT / "frontguard").rglob("*.py")
        for match in re.findall(r"client\(\s*\"([a-z0-9-]+)\"", source.read_text())
    }
    assert used and used <= bundling.BOTOCORE_SERVICES
    models = asset_dir(minimal) / "botocore" / "data"
    assert {p.name for p in models.iterdir() if p.is_dir()} == set(bundling.BOTOCORE_SERVICES)


def test_asset_ships_bytecode_only_from_the_runtime_python(minimal: Synthesized) -> None:
    asset = asset_dir(minimal)
    caches = list(asset.rglob("__pycache__"))
    if bundling.matching_interpreter() is None:
        assert caches == []
    else:
        tags = {pyc.name.split(".")[-2] for cache in caches for pyc in cache.glob("*.pyc")}
        assert tags == {"cpython-312"}


def test_asset_is_within_the_unzipped_size_budget(minimal: Synthesized) -> None:
    assert tree_size(asset_dir(minimal)) <= MAX_UNZIPPED


def test_prune_removes_async_client_tests_caches_and_install_records(tmp_path: Path) -> None:
    for relative in (
        "kubernetes/aio/client.py",
        "kubernetes/client/api.py",
        "aiohttp/__init__.py",
        "websocket/tests/test_x.py",
        "yaml/__pycache__/x.cpython-311.pyc",
        "kubernetes-37.0.1.dist-info/RECORD",
        "kubernetes-37.0.1.dist-info/METADATA",
        "aiohttp-3.14.5.dist-info/METADATA",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    bundling.prune(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "kubernetes-37.0.1.dist-info/METADATA",
        "kubernetes/client/api.py",
    ]
