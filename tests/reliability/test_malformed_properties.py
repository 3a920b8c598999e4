"""Every entry point, fed arbitrary JSON (hypothesis): it either takes the input into the
domain or rejects it at the edge with one error line naming the field, the message or event
id, and one ``malformed-events`` count; an EventBridge event is then dropped (the handler
returns), an SQS record is reported failed. Nothing else ever escapes (issue 22 item 3).

Offline by design: each handler checks the shape before it builds its runtime, so the
runtime factory is replaced by a tripwire that records "a shape-valid input reached the
domain" and stops there. What the domain then does with such an input is exercised through
the sandbox (test_bad_input.py, tests/security/test_poison_values.py).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from frontguard.errors import RetryableError
from frontguard.handlers import events, remediate, scan, verify
from frontguard.handlers import malformed as malformed_module
from frontguard.handlers.intake import parse_event
from frontguard.handlers.scan_flow import parse_scan_event
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from sandbox.wiring import FakeLambdaContext
from tests.unit.test_intake import EVENT, SG_EVENT

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-shop-web/0abc"
DRIFT_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "drift-1",
    "detail-type": "AWS API Call via CloudTrail",
    "source": "aws.ec2",
    "account": "123456789012",
    "region": "eu-west-1",
    "time": "2026-12-05T12:00:00Z",
    "detail": {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "ModifySecurityGroupRules",
        "eventTime": "2026-12-05T12:00:00Z",
        "requestParameters": {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-0abc"}},
    },
}
SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "tick-1",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "detail": {},
}
VERIFY_BODY: dict[str, Any] = {
    "load_balancer_arn": ARN,
    "cluster": "prod",
    "security_group_id": "sg-0123456789abcdef0",
    "owner": {"kind": "ingress", "namespace": "shop", "name": "web"},
    "plan_digest": "ab12",
    "attempt": 1,
    "requested_at": "2026-12-05T12:00:00Z",
}
REMEDIATION_BODY: dict[str, Any] = {"load_balancer_arn": ARN, "cluster": "prod", "drift": True}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


@st.composite
def mutations(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """``valid`` with one nested field replaced by another JSON value, or deleted."""
    path = draw(st.sampled_from(list(_paths(valid))))
    broken = copy.deepcopy(valid)
    parent: Any = broken
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return broken


def inputs(*valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.one_of(json_values, *(mutations(v) for v in valid))


class ReachedTheDomainError(RetryableError):
    """The tripwire: a shape-valid input got past the edge (retryable: its record fails)."""


@dataclass
class Invocation:
    result: Any
    raised: BaseException | None
    malformed_logs: list[logging.LogRecord]
    malformed_metrics: float
    reached: int = 0
    failures: list[str] = field(default_factory=list)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


COLLECT = Collect()


@pytest.fixture(autouse=True, scope="module")
def collect_malformed_logs() -> Iterator[None]:
    logger = logging.getLogger(malformed_module.__name__)
    logger.addHandler(COLLECT)
    yield
    logger.removeHandler(COLLECT)


def _metric_count(printed: str) -> float:
    total = 0.0
    for line in printed.splitlines():
        if '"_aws"' not in line:
            continue
        value = json.loads(line).get(malformed_module.METRIC, 0)
        total += sum(value) if isinstance(value, list) else value
    return total


def invoke(module: ModuleType, event: Any) -> Invocation:
    COLLECT.records.clear()
    reached = [0]

    def tripwire() -> Any:
        reached[0] += 1
        raise ReachedTheDomainError("shape-valid input reached the domain")

    printed = io.StringIO()
    result: Any = None
    raised: BaseException | None = None
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(printed):
        patch.setattr(module, "current_runtime", tripwire)
        try:
            result = module.handler(event, FakeLambdaContext())
        except (ReachedTheDomainError, BatchProcessingError) as error:
            raised = error
    logs = [r for r in COLLECT.records if r.getMessage() == "malformed input rejected"]
    return Invocation(result, raised, logs, _metric_count(printed.getvalue()), reached[0])


def assert_dropped_or_taken(outcome: Invocation, handler: str) -> None:
    """EventBridge: dropped with one line and one count, or into the domain, or ignored."""
    hypothesis_event("dropped as malformed" if outcome.malformed_logs else "well shaped")
    if outcome.malformed_logs:
        [line] = outcome.malformed_logs
        assert line.handler == handler  # type: ignore[attr-defined]
        assert isinstance(line.field, str)  # type: ignore[attr-defined]
        assert line.problem  # type: ignore[attr-defined]
        assert outcome.malformed_metrics == 1
        assert outcome.raised is None
        assert outcome.result["outcome"] == malformed_module.OUTCOME
        assert outcome.reached == 0
        return
    assert outcome.malformed_metrics == 0
    if outcome.raised is not None:
        assert isinstance(outcome.raised, ReachedTheDomainError)
        assert outcome.reached == 1
    else:
        assert outcome.result["outcome"] == "ignored", outcome.result


PROPERTY = settings(
    max_examples=150,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY
@given(event=inputs(EVENT, SG_EVENT))
def test_events_handler_drops_malformed_events_and_never_raises_anything_else(event):
    outcome = invoke(events, event)
    assert_dropped_or_taken(outcome, "events")
    if outcome.reached:
        # Only what the edge accepts reaches the domain (and the runtime's AWS reads).
        parse_event(event)


@PROPERTY
@given(event=inputs(DRIFT_EVENT, SCHEDULED_EVENT).filter(lambda e: not _has_records(e)))
def test_scan_handler_invoked_directly_drops_malformed_events(event):
    outcome = invoke(scan, event)
    if outcome.malformed_logs or outcome.raised is not None:
        assert_dropped_or_taken(outcome, "scan")
        if outcome.reached:
            parse_scan_event(event)
    else:
        # A drift event is never "ignored" at the edge: whatever is well shaped is checked.
        raise AssertionError(outcome.result)


def _has_records(event: Any) -> bool:
    return isinstance(event, dict) and "Records" in event


def sqs_event(bodies: list[Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:frontguard",
            }
            for body in bodies
        ]
    }


def bodies(*valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Message bodies: the JSON text of arbitrary or mutated requests, text that is not
    JSON, or a body that is not text at all."""
    as_text = inputs(*valid).map(json.dumps)
    return st.one_of(as_text, as_text, st.text(max_size=20), json_values)


def assert_failed_alone_or_taken(
    outcome: Invocation, event: dict[str, Any], handler: str, *, fifo: bool
) -> None:
    """SQS: each malformed record logged once (its message id), counted once and reported
    failed; every other record went into the domain; with FIFO, the records after the first
    failure come back unstarted. When every record failed, Powertools raises and Lambda
    returns the whole batch."""
    ids = [r["messageId"] for r in event["Records"]]
    hypothesis_event(f"{len(outcome.malformed_logs)} malformed, {outcome.reached} into the domain")
    logged = [line.message_id for line in outcome.malformed_logs]  # type: ignore[attr-defined]
    assert all(line.handler == handler for line in outcome.malformed_logs)  # type: ignore[attr-defined]
    assert outcome.malformed_metrics == len(logged)
    assert len(set(logged)) == len(logged)
    if isinstance(outcome.raised, BatchProcessingError):
        failed = ids
    else:
        assert outcome.raised is None
        failed = [f["itemIdentifier"] for f in outcome.result["batchItemFailures"]]
    assert set(logged) <= set(failed)
    started = ids if not fifo else ids[: ids.index(failed[0]) + 1] if failed else ids
    assert outcome.reached + len(logged) == len(started)
    # The tripwire fails every record that reached the domain: all of them failed.
    assert set(failed) == set(ids)


@PROPERTY
@given(batch=st.lists(bodies(VERIFY_BODY), min_size=1, max_size=4))
def test_verify_handler_fails_each_malformed_record_alone(batch):
    event = sqs_event(batch)
    assert_failed_alone_or_taken(invoke(verify, event), event, "verify", fifo=False)


@PROPERTY
@given(batch=st.lists(bodies(REMEDIATION_BODY), min_size=1, max_size=4))
def test_remediate_handler_fails_each_malformed_record_alone(batch):
    event = sqs_event(batch)
    assert_failed_alone_or_taken(invoke(remediate, event), event, "remediate", fifo=False)


@PROPERTY
@given(batch=st.lists(bodies(DRIFT_EVENT, SCHEDULED_EVENT), min_size=1, max_size=4))
def test_scan_handler_fails_each_malformed_queued_event_in_order(batch):
    event = sqs_event(batch)
    assert_failed_alone_or_taken(invoke(scan, event), event, "scan", fifo=True)


ENVELOPE_HANDLERS: dict[str, Callable[[], ModuleType]] = {
    "verify": lambda: verify,
    "remediate": lambda: remediate,
    "scan": lambda: scan,
}


@PROPERTY
@given(
    handler=st.sampled_from(list(ENVELOPE_HANDLERS)),
    event=st.one_of(
        st.fixed_dictionaries({"Records": json_values}),
        mutations(sqs_event([json.dumps(REMEDIATION_BODY)])),
    ),
)
def test_a_batch_envelope_of_the_wrong_shape_is_malformed_not_a_crash(handler, event):
    outcome = invoke(ENVELOPE_HANDLERS[handler](), event)
    if handler == "scan" and not _has_records(event):
        assert_dropped_or_taken(outcome, "scan")  # no Records: a direct invocation
        return
    envelope = [line for line in outcome.malformed_logs if line.message_id is None]  # type: ignore[attr-defined]
    if envelope:
        # Not a delivery from SQS (only a direct invocation builds one): nothing to hand back.
        [line] = outcome.malformed_logs
        assert line.handler == handler  # type: ignore[attr-defined]
        assert outcome.malformed_metrics == 1
        assert outcome.result == {"batchItemFailures": []}
        assert outcome.reached == 0
        return
    # A well-formed envelope (the mutation kept it one): its records as above.
    assert_failed_alone_or_taken(outcome, event, handler, fifo=handler == "scan")


def test_the_tripwire_sees_a_valid_event_and_the_edge_sees_a_malformed_one():
    """The property's two sides, once each by hand: R2-9's number in place of the tags."""
    taken = invoke(events, EVENT)
    broken = copy.deepcopy(EVENT)
    broken["detail"]["requestParameters"]["tags"] = 7

    dropped = invoke(events, broken)

    assert isinstance(taken.raised, ReachedTheDomainError)
    assert taken.malformed_logs == []
    [line] = dropped.malformed_logs
    assert line.field == "detail.requestParameters.tags"  # type: ignore[attr-defined]
    assert line.event_id == "e-1"  # type: ignore[attr-defined]
    assert dropped.malformed_metrics == 1
    assert dropped.result["outcome"] == "invalid-event"
