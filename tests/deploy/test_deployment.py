"""The synthesized template deployed into the sandbox, checked by ``frontguard doctor``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from frontguard import cli

from sandbox import Sandbox
from sandbox.deploy import UNSUPPORTED, Prepared
from tests.deploy.conftest import STACK


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["doctor", "--output", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def failures(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["area"], c["name"]): c for c in report["checks"] if c["status"] == "fail"}


def test_only_the_documented_resource_types_are_left_to_other_apis(
    deployed: Prepared, sandbox: Sandbox
) -> None:
    skipped = {resource["Type"] for resource in deployed.skipped.values()}
    assert skipped <= set(UNSUPPORTED)
    # Everything else in the template was created by CloudFormation itself.
    created = {
        s["LogicalResourceId"]: s["ResourceStatus"]
        for s in sandbox.client("cloudformation").list_stack_resources(StackName=STACK)[
            "StackResourceSummaries"
        ]
    }
    assert set(created) == set(deployed.template["Resources"])
    assert set(created.values()) == {"CREATE_COMPLETE"}


def test_the_doctor_passes_a_working_deployment(
    deployed: Prepared, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = doctor(capsys)

    assert failures(report) == {}
    assert code == 0


def test_the_table_names_each_check(
    deployed: Prepared, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["doctor", "--no-publish"])
    out = capsys.readouterr().out
    print(out)
    assert code == 0
    assert out.startswith(f"frontguard doctor: stack {STACK} in 123456789012 eu-west-1")
