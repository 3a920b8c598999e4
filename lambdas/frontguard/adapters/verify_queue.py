"""Verification requests: what to check about one remediation, and when."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate
from frontguard.errors import InvalidEventError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_SQS_DELAY = 900


@dataclass(frozen=True)
class VerifyRequest:
    load_balancer_arn: str
    cluster: str
    security_group_id: str
    owner: dict[str, Any]
    plan_digest: str = ""
    attempt: int = 0
    requested_at: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VerifyRequest:
        try:
            data = json.loads(text)
            return cls(
                load_balancer_arn=str(data["load_balancer_arn"]),
                cluster=str(data["cluster"]),
                security_group_id=str(data["security_group_id"]),
                owner=dict(data["owner"]),
                plan_digest=str(data.get("plan_digest", "")),
                attempt=int(data.get("attempt", 0)),
                requested_at=str(data.get("requested_at", "")),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidEventError(f"malformed verification request: {error!r}") from error


class VerifySink(Protocol):
    def enqueue(self, request: VerifyRequest, delay_seconds: int) -> None: ...


class SqsVerifyQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def enqueue(self, request: VerifyRequest, delay_seconds: int) -> None:
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=request.to_json(),
                DelaySeconds=max(0, min(delay_seconds, MAX_SQS_DELAY)),
            )
        except ClientError as error:
            raise translate(error, "enqueue verification") from error
