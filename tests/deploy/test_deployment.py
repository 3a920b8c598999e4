"""The synthesized template deployed into the sandbox, checked by ``frontguard doctor``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from frontguard import cli
from frontguard.doctor.alerting import check_alerting
from frontguard.doctor.deployment import Deployment
from frontguard.doctor.report import Status
from urllib3 import HTTPHeaderDict

from sandbox import Sandbox
from sandbox.aws import ACCOUNT_ID, REGION
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


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _refuse_publish(request: Any, **_: Any) -> AWSResponse:
    """What SNS answers a publisher its topic policy denies (query protocol, HTTP 403)."""
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code>"
        "<Message>User: arn:aws:iam::123456789012:user/operator is not authorized to perform: "
        "SNS:Publish with an explicit deny in a resource-based policy</Message></Error>"
        "<RequestId>refused</RequestId></ErrorResponse>"
    )
    headers = HTTPHeaderDict({"Content-Type": "text/xml", "x-amzn-RequestId": "refused"})
    return AWSResponse(request.url, 403, cast(Any, headers), _Body(body.encode()))


def test_a_topic_that_refuses_the_operators_test_alert_is_not_a_failure(
    deployed: Prepared, sandbox: Sandbox
) -> None:
    """R2-7: the topic refuses every publisher but frontguard's roles (moto does not enforce
    topic policies: SNS's answer is sent by a before-send handler); the alarm delivery test
    still runs."""
    sns = boto3.client(
        "sns",
        endpoint_url=sandbox.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # botocore's stubs type handlers as returning None; a before-send handler's response is
    # what botocore sends back instead of calling the endpoint.
    sns.meta.events.register("before-send.sns.Publish", cast(Any, _refuse_publish))
    (stack,) = sandbox.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    deployment = Deployment(
        stack=STACK,
        region=REGION,
        account=ACCOUNT_ID,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]},
    )

    found = check_alerting(sns, sandbox.client("cloudwatch"), deployment, publish=True)

    by_name = {c.name: c for c in found}
    assert by_name["test alert"].status is Status.PASS
    assert "only frontguard's roles" in by_name["test alert"].detail
    assert "alarm delivery" in by_name
