"""frontguard wired to the sandbox: the production runtime with a sandbox-made topic, queue
and state table, shared by the integration tests, the benchmarks and the demo.

Counts every AWS API call (a botocore ``before-call`` hook) and every Kubernetes request, so
tests can assert API budgets and "no mutating call".
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from frontguard.adapters.verify_queue import VerifyRequest
from frontguard.engine.verify import Verification, verify
from frontguard.handlers.events_flow import handle_event
from frontguard.policy import Policy
from frontguard.runtime import Runtime, build_runtime
from frontguard.settings import Settings

from sandbox import Sandbox
from sandbox.aws import REGION, published_messages
from sandbox.kube import INGRESSES, SERVICES
from sandbox.lbc import controller_role_name
from sandbox.scenario import Cluster

READ_PREFIXES = ("Describe", "Get", "List", "Receive")
OWN_CHANNELS = ("sns", "sqs", "dynamodb")


@dataclass
class Frontguard:
    sandbox: Sandbox
    runtime: Runtime
    topic_arn: str
    queue_url: str
    aws_calls: Counter[str] = field(default_factory=Counter)
    #: (body, DelaySeconds) of every verification request sent to the queue, in order.
    enqueued: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    #: The scheduled scan's queue of repairs (enforce mode), consumed by the remediate handler.
    remediation_queue_url: str = ""

    def deliver(self, event: dict[str, Any]) -> dict[str, str]:
        return handle_event(self.runtime, event)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert published so far: the JSON body (SNS's ``default``) plus ``subject``."""
        return [
            {**json.loads(_structured(m["Message"])["default"]), "subject": m.get("Subject")}
            for m in published_messages(self.topic_arn)
        ]

    def alert_emails(self) -> list[str]:
        """The plain-text ``email`` rendering of every alert published so far."""
        return [_structured(m["Message"])["email"] for m in published_messages(self.topic_arn)]

    def verify(self, request: dict[str, Any]) -> Verification:
        """One verification request through the domain, as the verify handler runs it."""
        return verify(self.runtime.engine, VerifyRequest.from_json(json.dumps(request)))

    def run_verifications(self, limit: int = 20) -> list[Verification]:
        """Run every queued verification request, including re-enqueued ones (use a policy
        with zero backoff delays), until the queue is empty."""
        results: list[Verification] = []
        while requests := self.verification_requests():
            for request in requests:
                results.append(self.verify(request))
                if len(results) > limit:
                    raise AssertionError(f"verification did not settle: {results}")
        return results

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

    def remediation_messages(self) -> list[dict[str, Any]]:
        """Receive and delete every queued repair: SQS messages as Lambda's event source
        hands them over (``messageId``, ``body``, ...)."""
        sqs = self.sandbox.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.remediation_queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(sqs_record(message, self.remediation_queue_url))
                sqs.delete_message(
                    QueueUrl=self.remediation_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

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


def sqs_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """One received SQS message in the shape a Lambda SQS event record has."""
    name = queue_url.rsplit("/", 1)[-1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{name}",
        "awsRegion": REGION,
    }


SNS_PROTOCOLS = frozenset(
    {"default", "email", "email-json", "sqs", "lambda", "http", "https", "sms", "application"}
)


def _structured(message: str) -> dict[str, str]:
    """Per protocol, what SNS delivers: a ``MessageStructure="json"`` message as is, a plain
    message as ``default`` (the scan digest is published plain)."""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if (
        isinstance(parsed, dict)
        and isinstance(parsed.get("default"), str)
        and set(parsed) <= SNS_PROTOCOLS
    ):
        return {key: str(value) for key, value in parsed.items()}
    return {"default": message, "email": message}


STATE_TABLE = "frontguard-state"
REMEDIATION_QUEUE = "frontguard-remediate"


def create_state_table(sandbox: Sandbox) -> str:
    """The DynamoDB state table as CDK creates it (idempotent: several wirings share it)."""
    dynamodb = sandbox.client("dynamodb")
    if STATE_TABLE not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=STATE_TABLE,
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
    return STATE_TABLE


def wire(
    sandbox: Sandbox,
    policy: dict[str, Any],
    *,
    state_table: bool = True,
    before_send: Callable[..., Any] | None = None,
) -> Frontguard:
    """frontguard's production runtime against the sandbox; each call is like a new Lambda
    container (its own clients and caches) sharing the same topic, queue and state table.

    ``before_send``: a botocore ``before-send`` handler registered on the session before any
    client exists (clients copy the session's handlers when created), for fault injection.
    """
    topic_arn = sandbox.sns_topic("frontguard-alerts").arn
    queue_url = sandbox.sqs_queue("frontguard-verify").url
    remediation_url = sandbox.sqs_queue(REMEDIATION_QUEUE).url
    table = create_state_table(sandbox) if state_table else None
    settings = Settings(
        policy_json=json.dumps(policy),
        policy_parameter=None,
        alert_topic_arn=topic_arn,
        verify_queue_url=queue_url,
        state_table=table,
        discovery_delays=(0.0, 0.0),
        remediation_queue_url=remediation_url,
        remediation_pace_seconds=0.0,
        # Fail-closed mode's configured controller roles: those of the clusters so far.
        controller_role_names=tuple(controller_role_name(name) for name in sandbox.clusters),
    )
    session = boto3.Session(
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto accepts anything
    )
    calls: Counter[str] = Counter()
    enqueued: list[tuple[dict[str, Any], int]] = []

    def count(**kwargs: Any) -> None:
        model = kwargs["model"]
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def record_send(**kwargs: Any) -> None:
        params = kwargs["params"]
        enqueued.append((json.loads(params["MessageBody"]), int(params.get("DelaySeconds", 0))))

    session._session.register("before-call", count)
    session._session.register("before-parameter-build.sqs.SendMessage", record_send)
    if before_send is not None:
        session._session.register("before-send", before_send)
    runtime = build_runtime(
        settings, session=session, policy=Policy.from_document(policy), sleep=lambda _: None
    )
    return Frontguard(sandbox, runtime, topic_arn, queue_url, calls, enqueued, remediation_url)


ENFORCE = {
    "mode": "enforce",
    "rules": [{"scheme": "internet-facing", "sources": ["203.0.113.0/24", "198.51.100.0/24"]}],
    "default_sources": ["vpc"],
    "verify_delay_seconds": 0,
    "verify_backoff_seconds": [0, 0],
}


def steady_state_minimum_aws_calls(
    lbs: int, frontguard_sgs: int, clusters: int, *, controller_sgs: int | None = None
) -> int:
    """The theoretical minimum of a steady-state scan's AWS calls: LB pages of 400, tag batches
    of 20 per page, frontguard's and the controller's SGs (one backend SG per cluster) together
    in pages of 1000, one VPC read, one DescribeCluster per cluster. (Plus two Kubernetes list
    calls per cluster.)"""
    pages = [min(400, lbs - start) for start in range(0, lbs, 400)]
    groups = frontguard_sgs + (clusters if controller_sgs is None else controller_sgs)
    return (
        len(pages)
        + sum(math.ceil(size / 20) for size in pages)
        + max(1, math.ceil(groups / 1000))
        + 1
        + clusters
    )


def state_snapshot(sandbox: Sandbox, cluster: Cluster) -> tuple[str, ...]:
    """AWS security groups and load balancers, and the cluster's Ingresses and Services, as
    canonical JSON: equal snapshots mean nothing changed, byte for byte."""
    ec2, elbv2 = sandbox.client("ec2"), sandbox.client("elbv2")
    return (
        json.dumps(ec2.describe_security_groups()["SecurityGroups"], sort_keys=True, default=str),
        json.dumps(elbv2.describe_load_balancers()["LoadBalancers"], sort_keys=True, default=str),
        json.dumps([cluster.kube.list_objects(r) for r in (INGRESSES, SERVICES)], sort_keys=True),
    )


@dataclass
class FakeLambdaContext:
    """What Powertools reads of a Lambda context, for invoking handlers as Lambda would."""

    function_name: str = "frontguard"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:frontguard"
    aws_request_id: str = "6f2b8b8e-7a1d-4c1e-9d8e-0d7f2c9d1e11"
    remaining_ms: int = 120_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
