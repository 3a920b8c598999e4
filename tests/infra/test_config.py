"""The deployment configuration rejects bad input with errors that name the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_config, parse_config, stack_name
from tests.infra.conftest import MINIMAL

EXAMPLE = Path(__file__).resolve().parents[2] / "frontguard.config.example.json"


def with_change(path: list[str | int], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    node: Any = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return raw


def test_the_example_file_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert [stack_name(t) for t in config.targets] == ["Frontguard-123456789012-eu-west-1"]


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (["targets", 0, "account"], "12345", "targets.0.account"),
        (["targets", 0, "region"], "Ireland", "targets.0.region"),
        (["targets", 0, "clusters"], [], "targets.0.clusters"),
        (["targets", 0, "clusters", 0], "bad name!", "targets.0.clusters.0"),
        (["schedule"], "every hour", "schedule"),
        (["alerts", "emails"], ["not-an-address"], "alerts.emails.0"),
        (["log_retention_days"], 42, "log_retention_days"),
        (["surprise"], True, "surprise"),
    ],
)
def test_a_bad_field_is_named_in_the_error(path: list[str | int], value: Any, named: str) -> None:
    with pytest.raises(ConfigError, match=rf"(?m)^  {named}: "):
        parse_config(with_change(path, value), source="test")


def test_policy_and_parameter_are_mutually_exclusive() -> None:
    with pytest.raises(ConfigError, match="exactly one of 'policy'"):
        parse_config(with_change(["policy_parameter"], "/frontguard/policy"), source="test")


def test_policy_mode_must_be_audit_or_enforce() -> None:
    with pytest.raises(ConfigError, match=r"invalid policy document: mode"):
        parse_config(with_change(["policy"], {"mode": "yolo"}), source="test")


def test_unreadable_file_is_reported_with_its_path(tmp_path: Path) -> None:
    broken = tmp_path / "frontguard.config.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=str(broken)):
        load_config(broken)


def test_the_policy_is_stored_as_compact_json() -> None:
    config = parse_config(MINIMAL, source="test")
    assert config.policy_json is not None
    assert json.loads(config.policy_json) == MINIMAL["policy"]
