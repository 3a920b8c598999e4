"""frontguard wired to the sandbox: the production runtime with sandbox-made topic, queue, table.

Counts every AWS API call (a botocore ``before-call`` hook) and every Kubernetes request, so
tests can assert API budgets and "no mutating call".
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from frontguard.events_flow import handle_event
from frontguard.policy import Policy
from frontguard.runtime import Runtime, build_runtime
from frontguard.settings import Settings

from sandbox import Sandbox
from sandbox.aws import REGION, published_messages

READ_PREFIXES = ("Describe", "Get", "List", "Receive")
OWN_CHANNELS = ("sns", "sqs", "dynamodb")


@dataclass
class Frontguard:
    sandbox: Sandbox
    runtime: Runtime
    topic_arn: str
    queue_url: str
    aws_calls: Counter[str] = field(default_factory=Counter)

    def deliver(self, event: dict[str, Any]) -> dict[str, str]:
        return handle_event(self.runtime, event)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert published so far: the JSON body plus ``subject``."""
        return [
            {**json.loads(m["Message"]), "subject": m.get("Subject")}
            for m in published_messages(self.topic_arn)
        ]

    def verification_requests(self) -> list[dict[str, Any]]:
        sqs = self.sandbox.client("sqs")
        bodies: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def reset_counts(self) -> None:
        self.aws_calls.clear()
        for client in self.runtime.connector._clients.values():
            client.calls.clear()

    def kube_calls(self) -> Counter[str]:
        return Counter(self.runtime.connector.calls())

    def mutating_aws_calls(self) -> Counter[str]:
        """Calls that change the account's resources (frontguard's own alert topic, queue and
        state table are its output channels, not the account's state)."""
        return Counter(
            {
                op: n
                for op, n in self.aws_calls.items()
                if not op.split(".")[-1].startswith(READ_PREFIXES)
                and op.split(".")[0] not in OWN_CHANNELS
            }
        )

    def mutating_kube_calls(self) -> int:
        return sum(n for method, n in self.kube_calls().items() if method != "GET")


def wire(sandbox: Sandbox, policy: dict[str, Any], *, state_table: bool = True) -> Frontguard:
    topic_arn = sandbox.sns_topic("frontguard-alerts").arn
    queue_url = sandbox.sqs_queue("frontguard-verify").url
    table = None
    if state_table:
        table = "frontguard-state"
        sandbox.client("dynamodb").create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    settings = Settings(
        policy_json=json.dumps(policy),
        policy_parameter=None,
        alert_topic_arn=topic_arn,
        verify_queue_url=queue_url,
        state_table=table,
        discovery_delays=(0.0, 0.0),
    )
    session = boto3.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    calls: Counter[str] = Counter()

    def count(**kwargs: Any) -> None:
        model = kwargs["model"]
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    session._session.register("before-call", count)
    runtime = build_runtime(
        settings, session=session, policy=Policy.from_document(policy), sleep=lambda _: None
    )
    return Frontguard(sandbox, runtime, topic_arn, queue_url, calls)


ENFORCE = {
    "mode": "enforce",
    "rules": [{"scheme": "internet-facing", "sources": ["203.0.113.0/24", "198.51.100.0/24"]}],
    "default_sources": ["vpc"],
    "verify_delay_seconds": 0,
    "verify_backoff_seconds": [0, 0],
}
