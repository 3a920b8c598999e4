"""Remediation requests: the scheduled scan's decisions, for the remediation function to apply.

The scan decides in bulk and sends one small message per load balancer that needs a change;
the remediation function (an SQS event source with a bounded maximum concurrency) applies
them through the same engine the event path uses, re-reading the LB first: what the scan
saw may be minutes old by then.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate
from frontguard.errors import InvalidEventError, RetryableError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# SendMessageBatch takes at most 10 entries
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
SQS_BATCH = 10


@dataclass(frozen=True)
class RemediationRequest:
    load_balancer_arn: str
    cluster: str
    drift: bool = False  # frontguard had set this LB up before: a repair is "drift"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RemediationRequest:
        try:
            data = json.loads(text)
            request = cls(
                load_balancer_arn=str(data["load_balancer_arn"]),
                cluster=str(data["cluster"]),
                drift=bool(data.get("drift", False)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidEventError(f"malformed remediation request: {error!r}") from error
        if not request.load_balancer_arn.startswith("arn:"):
            raise InvalidEventError(f"not a load balancer ARN: {request.load_balancer_arn!r}")
        return request


class RemediationSink(Protocol):
    def enqueue(self, requests: Sequence[RemediationRequest]) -> None: ...


class SqsRemediationQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def enqueue(self, requests: Sequence[RemediationRequest]) -> None:
        """Send in batches of 10; entries SQS refused are sent once more, then it is an error
        (the scan fails and its next run decides again: nothing is lost)."""
        for start in range(0, len(requests), SQS_BATCH):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "MessageBody": r.to_json()}
                for i, r in enumerate(requests[start : start + SQS_BATCH])
            ]
            for attempt in range(2):
                try:
                    answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
                except ClientError as error:
                    raise translate(error, "enqueue remediations") from error
                failed = {f["Id"] for f in answer.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
                if attempt:
                    raise RetryableError(f"SQS refused {len(entries)} remediation requests")
