"""Verification requests: what to check about one remediation, and when."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate
from frontguard.errors import InvalidEventError
from frontguard.model import OwnerKind

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_SQS_DELAY = 900
MAX_ATTEMPTS = 100
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancer.html
LB_ARN = re.compile(
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:"
    r"loadbalancer/(app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]{1,32}$"
)
# https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html#API_CreateCluster_RequestSyntax
CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
# DNS-1123 subdomain (namespaces, object and IngressGroup names).
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
OWNER_KINDS = frozenset(kind.value for kind in OwnerKind)


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
            )._validated()
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidEventError(f"malformed verification request: {error!r}") from error

    def _validated(self) -> VerifyRequest:
        """Every field has the shape frontguard writes: whoever else can send to the queue
        cannot smuggle text into an alert through it (security review, finding 10). The
        verification then checks the request against the load balancer itself."""
        if not LB_ARN.match(self.load_balancer_arn):
            raise ValueError("load_balancer_arn is not an ELBv2 load balancer ARN")
        if not CLUSTER_NAME.match(self.cluster):
            raise ValueError("cluster is not an EKS cluster name")
        if not SG_ID.match(self.security_group_id):
            raise ValueError("security_group_id is not an SG ID")
        if self.owner.get("kind") not in OWNER_KINDS:
            raise ValueError("owner.kind is not an owner kind")
        for key in ("namespace", "name", "group"):
            value = self.owner.get(key)
            if value is not None and not (isinstance(value, str) and DNS_NAME.match(value)):
                raise ValueError(f"owner.{key} is not a Kubernetes name")
        if not (0 <= self.attempt <= MAX_ATTEMPTS) or not re.fullmatch(
            r"[0-9a-f]{0,64}", self.plan_digest
        ):
            raise ValueError("attempt or plan_digest out of range")
        return self


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
