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


def test_the_doctor_reads_every_channels_policy_and_says_what_it_cannot_check(
    deployed: Prepared, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """R2-5/R2-7: the deployed queues, topic and table refuse writers other than frontguard's
    roles; the SCP is not readable from a member account, and the doctor says so."""
    _, report = doctor(capsys, "--no-publish")

    channels = {c["name"]: c for c in report["checks"] if c["area"] == "channels"}
    queues = [name for name in channels if name.startswith("queue ")]
    assert len(queues) == 8  # 3 work queues, 3 of their DLQs, the events DLQ, undelivered
    assert [n for n in channels if n.startswith(("topic ", "table "))] == [
        f"topic {deployed_topic(sandbox)}",
        f"table {deployed_table(sandbox)}",
    ]
    assert {n: c["status"] for n, c in channels.items() if n != "scp"} == dict.fromkeys(
        [*queues, f"topic {deployed_topic(sandbox)}", f"table {deployed_table(sandbox)}"], "pass"
    )
    assert channels["scp"]["status"] == "warn"
    assert "organizations:DescribePolicy" in channels["scp"]["detail"]


def _outputs(sandbox: Sandbox) -> dict[str, str]:
    (stack,) = sandbox.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def deployed_topic(sandbox: Sandbox) -> str:
    return _outputs(sandbox)["AlertTopicArn"].rsplit(":", 1)[-1]


def deployed_table(sandbox: Sandbox) -> str:
    return _outputs(sandbox)["StateTableArn"].rsplit("/", 1)[-1]
