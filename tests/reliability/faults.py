"""Fault injection and the reliability checks every scenario shares.

Faults go in through the sandbox, never by mocking frontguard's own calls:

- AWS: a botocore ``before-send`` handler (`AwsFaults`) answers chosen operations with the
  error AWS would send, in each service's own wire format (EC2 XML, query XML, JSON,
  REST-JSON), so botocore's parsers, its adaptive retries and frontguard's error translation
  all run for real;
- Kubernetes: `sandbox.kube.KubeServer.inject` answers chosen requests with a ``Status`` error
  before the emulator changes any state.

Then `Delivery` says where an event went (success, an alert and which outcome, the DLQ path
because the handler raised, or dropped as malformed) and `half_applied` lists the states
that must never exist.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import urllib3
from botocore.awsrequest import AWSResponse
from urllib3 import HTTPHeaderDict

from sandbox import INGRESSES, SERVICES, Sandbox
from sandbox.wiring import Frontguard

SG_ANNOTATIONS = (
    "alb.ingress.kubernetes.io/security-groups",
    "service.beta.kubernetes.io/aws-load-balancer-security-groups",
)
BACKEND_ANNOTATIONS = {
    "alb.ingress.kubernetes.io/security-groups": (
        "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
    ),
    "service.beta.kubernetes.io/aws-load-balancer-security-groups": (
        "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules"
    ),
}
GROUP_ANNOTATION = "alb.ingress.kubernetes.io/group.name"
SUCCESS = frozenset({"remediated", "compliant", "drift", "verified"})

# Service IDs as botocore spells them in event names, to the names frontguard's calls use.
_SERVICE_NAMES = {"elastic-load-balancing-v2": "elbv2"}
_PROTOCOLS = {
    "ec2": "ec2",
    "elbv2": "query",
    "sts": "query",
    "sns": "query",
    "ssm": "json",
    "sqs": "json",
    "dynamodb": "json",
    "eks": "rest-json",
}

# (HTTP status, error code per protocol) of each fault kind, as AWS answers them.
FAULT_KINDS: dict[str, tuple[int, dict[str, str]]] = {
    "throttle": (
        400,
        {
            "ec2": "RequestLimitExceeded",
            "query": "Throttling",
            "json": "ThrottlingException",
            "rest-json": "ThrottlingException",
        },
    ),
    "5xx": (
        503,
        {
            "ec2": "Unavailable",
            "query": "ServiceUnavailable",
            "json": "ServiceUnavailableException",
            "rest-json": "ServiceUnavailableException",
        },
    ),
    "access-denied": (
        403,
        {
            "ec2": "UnauthorizedOperation",
            "query": "AccessDenied",
            "json": "AccessDeniedException",
            "rest-json": "AccessDeniedException",
        },
    ),
}


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def error_response(url: str, service: str, kind: str) -> AWSResponse:
    """The HTTP response AWS sends for ``kind`` in ``service``'s wire protocol."""
    status, codes = FAULT_KINDS[kind]
    protocol = _PROTOCOLS[service]
    code = codes[protocol]
    message = f"injected {kind}"
    headers = HTTPHeaderDict({"x-amzn-RequestId": "fault"})
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>fault</RequestID></Response>"
        )
        headers["Content-Type"] = "text/xml;charset=UTF-8"
    elif protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>fault</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
    elif protocol == "json":
        body = json.dumps({"__type": f"com.amazonaws.{service}#{code}", "message": message})
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["x-amzn-query-error"] = f"{codes['query']};Sender"
    else:
        body = json.dumps({"message": message})
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = code
    return AWSResponse(url, status, cast(Any, headers), _Body(body.encode()))


@dataclass
class _Rule:
    operation: str  # "ec2.CreateSecurityGroup", "ec2.*" or "*"
    kind: str
    times: int | None  # None: until cleared
    skip: int = 0  # let this many matching calls through first

    def matches(self, operation: str) -> bool:
        service = operation.split(".", maxsplit=1)[0]
        return self.operation in ("*", operation, f"{service}.*")


@dataclass
class AwsFaults:
    """A botocore ``before-send`` handler that fails chosen operations (pass to ``wire``)."""

    rules: list[_Rule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, operation: str, kind: str, *, times: int | None = None, skip: int = 0) -> None:
        """Answer ``operation`` with ``kind`` (``times`` times, or until `clear`)."""
        with self._lock:
            self.rules.append(_Rule(operation, kind, times, skip))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def __call__(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        service_id, name = event_name.split(".", 2)[1:]
        service = _SERVICE_NAMES.get(service_id, service_id)
        operation = f"{service}.{name}"
        with self._lock:
            self.sent[operation] += 1
            for rule in self.rules:
                if not rule.matches(operation):
                    continue
                if rule.skip:
                    rule.skip -= 1
                    return None
                if rule.times is not None:
                    if rule.times <= 0:
                        continue
                    rule.times -= 1
                self.injected[operation] += 1
                return error_response(request.url, service, rule.kind)
        return None


def kube_fault(status: int, *, method: str | None = None, times: int | None = None) -> Any:
    """A Kubernetes fault answering ``status`` to ``method`` requests (all when ``None``)."""
    remaining = [times]
    lock = threading.Lock()

    def fault(request_method: str, path: str, headers: Any) -> int | None:
        if method is not None and request_method != method:
            return None
        with lock:
            if remaining[0] is not None:
                if remaining[0] <= 0:
                    return None
                remaining[0] -= 1
        return status

    return fault


# --- where did the event go ----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """How one delivery ended: ``success:<outcome>``, ``alert:<outcome>``, ``dlq`` (the handler
    raised: Lambda retries, then the on-failure destination keeps the event), ``dropped`` (a
    malformed or foreign event, logged) or ``silent:<outcome>`` (no success and no trace)."""

    observed: str
    result: dict[str, str] | None
    error: BaseException | None
    alerts: tuple[str, ...]

    @property
    def lost(self) -> bool:
        return self.observed.startswith("silent:")


def deliver(fg: Frontguard, event: Any) -> Delivery:
    before = len(fg.alerts())
    try:
        result = fg.deliver(event)
    except Exception as error:  # noqa: BLE001 - escaping is the DLQ path we classify
        return Delivery("dlq", None, error, tuple(a["outcome"] for a in fg.alerts()[before:]))
    everything = fg.alerts()
    alerts = tuple(a["outcome"] for a in everything[before:])
    outcome = result["outcome"]
    if outcome in SUCCESS:
        observed = f"success:{outcome}"
    elif outcome in ("invalid-event", "ignored"):
        observed = "dropped"
    elif outcome in alerts:
        observed = f"alert:{outcome}"
    elif any(a["outcome"] == outcome for a in everything):  # sent once, within the period
        observed = f"alert:{outcome} (deduped)"
    else:
        observed = f"silent:{outcome}"
    return Delivery(observed, result, None, alerts)


# --- states that must never exist ---------------------------------------------------------


def half_applied(sandbox: Sandbox, *, claimed_success: bool = False) -> list[str]:
    """Every half-applied state in the sandbox now.

    - annotations naming a security group that does not exist;
    - an IngressGroup whose members carry differing security-group values;
    - a security-group annotation without ``manage-backend-security-group-rules: "true"``;
    - with ``claimed_success``: a frontguard SG with rules whose owner does not name it.
    """
    ec2 = sandbox.client("ec2")
    existing = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    problems: list[str] = []
    named: set[str] = set()
    for cluster in sandbox.clusters.values():
        groups: dict[str, set[str | None]] = {}
        for resource in (INGRESSES, SERVICES):
            for obj in cluster.kube.list_objects(resource):
                meta = obj.get("metadata", {})
                where = f"{cluster.name}:{meta.get('namespace')}/{meta.get('name')}"
                annotations = meta.get("annotations") or {}
                for key in SG_ANNOTATIONS:
                    value = annotations.get(key)
                    if value is None:
                        continue
                    ids = [v.strip() for v in value.split(",") if v.strip()]
                    named.update(ids)
                    problems.extend(
                        f"{where} names missing SG {i}" for i in ids if i not in existing
                    )
                    if annotations.get(BACKEND_ANNOTATIONS[key]) != "true":
                        problems.append(f"{where} has {key} without backend rules managed")
                if resource == INGRESSES and annotations.get(GROUP_ANNOTATION):
                    groups.setdefault(annotations[GROUP_ANNOTATION], set()).add(
                        annotations.get(SG_ANNOTATIONS[0])
                    )
        problems.extend(
            f"{cluster.name}: IngressGroup {name} members differ: {sorted(map(str, values))}"
            for name, values in groups.items()
            if len(values) > 1
        )
    if claimed_success:
        ours = ec2.describe_security_groups(
            Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
        )["SecurityGroups"]
        problems.extend(
            f"{g['GroupId']} has rules but no owner names it"
            for g in ours
            if g["IpPermissions"] and g["GroupId"] not in named
        )
    return problems


def frontguard_groups(sandbox: Sandbox) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["SecurityGroups"]
    return groups


@dataclass
class PartialBatches:
    """A ``before-send`` handler for batch writes AWS may accept in part: the first ``times``
    calls of ``operation`` reach moto without their last ``drop`` entries, and the answer
    names those entries as DynamoDB's ``UnprocessedItems`` or SQS's ``Failed``, as the real
    services do under throttling (moto never does).
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
    """

    operation: str  # "dynamodb.BatchWriteItem" or "sqs.SendMessageBatch"
    drop: int = 2
    times: int | None = 1  # None: every call
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        service, name = event_name.split(".", 2)[1:]
        if f"{service}.{name}" != self.operation:
            return None
        with self._lock:
            if self.times is not None:
                if self.times <= 0:
                    return None
                self.times -= 1
        body = json.loads(request.body)
        if self.operation == "dynamodb.BatchWriteItem":
            [(table, writes)] = body["RequestItems"].items()
            kept, left = writes[: -self.drop], writes[-self.drop :]
            body["RequestItems"] = {table: kept} if kept else {}
        else:
            kept, left = body["Entries"][: -self.drop], body["Entries"][-self.drop :]
            body["Entries"] = kept
        answer: dict[str, Any] = {}
        if kept:
            data = json.dumps(body).encode()
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            sent = urllib3.PoolManager().request("POST", request.url, body=data, headers=headers)
            assert sent.status == 200, sent.data
            answer = json.loads(sent.data)
        if self.operation == "dynamodb.BatchWriteItem":
            answer["UnprocessedItems"] = {table: left}
        else:
            answer.setdefault("Successful", [])
            answer["Failed"] = [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "x"}
                for e in left
            ]
        self.dropped += len(left)
        reply = HTTPHeaderDict(
            {"x-amzn-RequestId": "partial", "Content-Type": "application/x-amz-json-1.0"}
        )
        return AWSResponse(request.url, 200, cast(Any, reply), _Body(json.dumps(answer).encode()))
