"""The runtime with the deployed functions' own environment: the template's wiring (the
policy parameter, the topic, the queues, the table) is what the handlers use."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from frontguard.handlers import events as events_handler
from frontguard.handlers import remediate as remediate_handler
from frontguard.handlers import scan as scan_handler
from frontguard.handlers import verify as verify_handler
from frontguard.handlers._runtime import reset_runtime

from sandbox import Sandbox
from sandbox.aws import published_messages
from sandbox.deploy import Prepared
from sandbox.wiring import FakeLambdaContext
from tests.deploy.test_doctor_failures import outputs


def context() -> Any:
    """The Lambda context the handlers read (a stand-in typed as Powertools' context)."""
    return FakeLambdaContext()


def environment_of(sandbox: Sandbox, function: str) -> dict[str, str]:
    config = sandbox.client("lambda").get_function_configuration(FunctionName=function)
    variables: dict[str, str] = config["Environment"]["Variables"]
    return variables


@pytest.fixture
def as_deployed(
    deployed: Prepared, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    found = outputs(sandbox)
    for key, value in environment_of(sandbox, found["EventsFunctionName"]).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FRONTGUARD_DISCOVERY_DELAYS", "0,0")
    reset_runtime()
    yield found
    reset_runtime()


def sqs_batch(sandbox: Sandbox, queue_arn: str) -> dict[str, Any]:
    """What Lambda's event source mapping hands the function: the queue's messages."""
    url = sandbox.client("sqs").get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
    messages = (
        sandbox.client("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    now = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": now,
                    **m.get("Attributes", {}),
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "eu-west-1",
            }
            for m in messages
        ]
    }


def test_a_new_lb_is_remediated_alerted_and_verified_through_the_deployed_resources(
    as_deployed: dict[str, str], sandbox: Sandbox
) -> None:
    prod = sandbox.clusters["prod"]
    web = prod.ingress("shop/web", ports=[443])

    result = events_handler.handler(web.event, context())
    prod.lbc.reconcile()

    assert result["outcome"] == "remediated"
    verification_arn = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=environment_of(sandbox, as_deployed["VerifyFunctionName"])[
            "FRONTGUARD_VERIFY_QUEUE_URL"
        ],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    batch = sqs_batch(sandbox, verification_arn)
    assert len(batch["Records"]) == 1
    assert verify_handler.handler(batch, context()) == {"batchItemFailures": []}
    topic = as_deployed["AlertTopicArn"]
    outcomes = [
        json.loads(json.loads(m["Message"])["default"])["outcome"]
        for m in published_messages(topic)
        if m["Message"].startswith("{")
    ]
    assert outcomes == ["remediated"]  # a verified LB is not alerted
    table = environment_of(sandbox, as_deployed["EventsFunctionName"])["FRONTGUARD_STATE_TABLE"]
    assert sandbox.client("dynamodb").scan(TableName=table)["Count"] >= 1
    assert sqs_batch(sandbox, verification_arn)["Records"] == []


def test_the_schedule_goes_through_the_fifo_scan_queue(
    as_deployed: dict[str, str], sandbox: Sandbox
) -> None:
    prod = sandbox.clusters["prod"]
    web = prod.ingress("shop/web", ports=[443])
    queue = as_deployed["ScanQueueArn"]
    url = sandbox.client("sqs").get_queue_url(QueueName=queue.rsplit(":", 1)[-1])["QueueUrl"]
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-30T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {},
    }
    # What EventBridge's SQS target does with the rule's MessageGroupId.
    sandbox.client("sqs").send_message(
        QueueUrl=url, MessageBody=json.dumps(scheduled), MessageGroupId="frontguard-scan"
    )

    response = scan_handler.handler(sqs_batch(sandbox, queue), context())

    assert response == {"batchItemFailures": []}
    # The scan found the new LB and queued its repair (the enforce policy, from the stack's
    # parameter) for the Remediate function, which applies it.
    remediation_url = environment_of(sandbox, as_deployed["ScanFunctionName"])[
        "FRONTGUARD_REMEDIATION_QUEUE_URL"
    ]
    remediation_arn = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=remediation_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    repairs = sqs_batch(sandbox, remediation_arn)
    assert [json.loads(r["body"])["load_balancer_arn"] for r in repairs["Records"]] == [web.lb_arn]
    assert remediate_handler.handler(repairs, context()) == {"batchItemFailures": []}
    groups = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/load-balancer", "Values": [web.lb_arn]}]
    )["SecurityGroups"]
    assert len(groups) == 1
