"""Bad input: malformed, truncated, foreign and oversized events, garbage SQS bodies and
invalid policies. Each is dropped with a log line, failed individually, or rejected at start
naming the problem; none crashes a batch or changes anything."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from frontguard.adapters.remediation_queue import RemediationRequest
from frontguard.errors import ConfigurationError
from frontguard.handlers import events as events_handler
from frontguard.handlers import malformed
from frontguard.handlers import remediate as remediate_handler
from frontguard.handlers import verify as verify_handler
from frontguard.handlers._runtime import reset_runtime
from frontguard.settings import Settings

from sandbox import Sandbox
from sandbox.wiring import FakeLambdaContext, Frontguard
from tests.integration.test_verify import queue_arn, sqs_event
from tests.reliability.conftest import Record
from tests.reliability.faults import deliver, frontguard_groups, half_applied

AREA = "Bad input"


def _without(event: dict[str, Any], *path: str | int) -> dict[str, Any]:
    broken = copy.deepcopy(event)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return broken


def _with(event: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


BROKEN_EVENTS = {
    "not an object (a list)": lambda e: [e],
    "not an object (None)": lambda e: None,
    "truncated JSON text": lambda e: json.dumps(e)[:200],
    "wrong detail-type": lambda e: _with(
        e, "EC2 Instance State-change Notification", "detail-type"
    ),
    "unknown eventName": lambda e: _with(e, "DeleteLoadBalancer", "detail", "eventName"),
    "Classic ELB apiVersion": lambda e: _with(e, "2012-06-01", "detail", "apiVersion"),
    "failed call (errorCode)": lambda e: _with(e, "AccessDenied", "detail", "errorCode"),
    "missing detail-type": lambda e: _without(e, "detail-type"),
    "missing detail": lambda e: _without(e, "detail"),
    "detail is a string": lambda e: _with(e, "garbage", "detail"),
    "missing responseElements": lambda e: _without(e, "detail", "responseElements"),
    "empty loadBalancers": lambda e: _with(e, [], "detail", "responseElements", "loadBalancers"),
    "loadBalancerArn not an ARN": lambda e: _with(
        e, "my-lb", "detail", "responseElements", "loadBalancers", 0, "loadBalancerArn"
    ),
    "requestParameters.tags garbage": lambda e: _with(
        e, ["x", 3, None], "detail", "requestParameters", "tags"
    ),
    "requestParameters a string": lambda e: _with(e, "tags", "detail", "requestParameters"),
    "requestParameters a list": lambda e: _with(e, [], "detail", "requestParameters"),
    "requestParameters.tags a number": lambda e: _with(e, 7, "detail", "requestParameters", "tags"),
    "responseElements a string": lambda e: _with(e, "lb", "detail", "responseElements"),
    "eventTime a number": lambda e: _with(e, 1764460800, "detail", "eventTime"),
    "oversized (> 256 KB)": lambda e: _with(e, "x" * (257 * 1024), "detail", "padding"),
}


@pytest.mark.parametrize("problem", list(BROKEN_EVENTS))
def test_broken_event_is_dropped_with_a_reason_and_changes_nothing(
    sandbox: Sandbox, fg: Frontguard, record: Record, problem: str
):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    event = BROKEN_EVENTS[problem](web.event)
    before = web.object["metadata"]["annotations"]
    fg.reset_counts()

    delivery = deliver(fg, event)

    record(
        AREA, f"event: {problem}", "dropped (logged)", delivery, half_applied=half_applied(sandbox)
    )
    assert delivery.observed == "dropped", delivery
    # Rejected at the edge, from the event alone (issue 22 item 3): no AWS call at all.
    assert sum(fg.aws_calls.values()) == 0
    assert delivery.result is not None and delivery.result["reason"]
    assert web.object["metadata"]["annotations"] == before
    assert frontguard_groups(sandbox) == []
    assert fg.mutating_aws_calls() == {}


def test_event_for_a_load_balancer_that_never_appears_is_dropped_without_paging(
    sandbox, fg, record
):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    event = _with(
        web.event,
        web.lb_arn.replace("/app/", "/app/never-made/"),
        "detail",
        "responseElements",
        "loadBalancers",
        0,
        "loadBalancerArn",
    )

    delivery = deliver(fg, event)

    # Issue 12: an LB still invisible after the re-read retries and gone when checked is
    # logged and dropped (the scheduled scan is the backstop), not retried into the DLQ.
    record(AREA, "event names a load balancer that is never listed", "dropped", delivery)
    assert delivery.observed == "dropped"
    assert fg.alerts() == []


GARBAGE_BODIES = [
    "",
    "not json",
    "[]",
    "{}",
    "null",
    '{"load_balancer_arn": "arn:aws:elasticloadbalancing:truncated',
    json.dumps({"load_balancer_arn": 1, "cluster": None, "security_group_id": [], "owner": 5}),
    json.dumps(
        {
            "load_balancer_arn": "a",
            "cluster": "c",
            "security_group_id": "s",
            "owner": {},
            "attempt": "many",
        }
    ),
    "\x00" * 64,
    "x" * (256 * 1024),
]


def test_garbage_sqs_bodies_fail_one_by_one_and_the_good_record_passes(
    sandbox, fg, handler_env, record
):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    [good] = fg.verification_requests()
    event = sqs_event(
        sandbox, queue_arn(sandbox, fg.queue_url), [*GARBAGE_BODIES, json.dumps(good)]
    )
    garbage_ids = [r["messageId"] for r in event["Records"][:-1]]

    response = verify_handler.handler(event, FakeLambdaContext())

    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    record(
        AREA,
        f"{len(GARBAGE_BODIES)} garbage SQS bodies + 1 good one in one batch",
        "garbage failed individually (→ queue DLQ), good verified",
        f"{len(failed)} failed individually, good "
        + ("failed" if event["Records"][-1]["messageId"] in failed else "verified"),
        half_applied=half_applied(sandbox),
    )
    assert failed == garbage_ids
    assert [a["outcome"] for a in fg.alerts()] == ["remediated"]


def test_events_handler_drops_a_malformed_event_through_the_lambda_entry_point(
    sandbox, fg, handler_env, record
):
    response = events_handler.handler(
        {"detail-type": "AWS API Call via CloudTrail"},
        FakeLambdaContext(),
    )
    record(
        AREA,
        "Lambda entry point: event without detail",
        "dropped (logged)",
        f"dropped:{response['outcome']}",
    )
    assert response["outcome"] == "invalid-event"


INVALID_POLICIES = {
    '{"mode": "enforce", "rules": [{"sources": ["0.0.0.0/33"]}]}': "rules.0.sources",
    '{"mode": "fix-everything"}': "mode",
    '{"mode": "enforce", "rules": [{"scheme": "public", "sources": []}]}': "rules.0.scheme",
    '{"approved_security_groups": ["default"]}': "approved_security_groups",
    '{"max_rules_per_security_group": 0}': "max_rules_per_security_group",
    '{"modes": "enforce"}': "modes",
    '{"mode": "enforce"': "not valid JSON",
    "[]": "<document>",
}


@pytest.mark.parametrize("document", list(INVALID_POLICIES))
def test_invalid_policy_is_rejected_at_start_naming_the_field(  # noqa: PLR0917
    sandbox, fg, handler_env, record, monkeypatch, document
):
    monkeypatch.setenv("FRONTGUARD_POLICY", document)
    reset_runtime()
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])

    with pytest.raises(ConfigurationError) as raised:
        events_handler.handler(web.event, FakeLambdaContext())

    record(
        AREA,
        f"invalid policy {document}",
        f"rejected naming {INVALID_POLICIES[document]} (event kept: dlq)",
        f"rejected: {raised.value}",
        lost=0,
    )
    assert INVALID_POLICIES[document] in str(raised.value)
    assert frontguard_groups(sandbox) == []


def test_missing_policy_is_rejected_naming_the_settings(record):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"FRONTGUARD_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:t"})
    record(
        AREA,
        "no policy configured",
        "rejected naming FRONTGUARD_POLICY",
        f"rejected: {raised.value}",
    )
    assert "FRONTGUARD_POLICY" in str(raised.value)


REMEDIATION_GARBAGE = {
    "load_balancer_arn a number": {"load_balancer_arn": 7, "cluster": "prod"},
    "cluster missing": {"load_balancer_arn": "arn:aws:elasticloadbalancing:x"},
    "drift a list": {
        "load_balancer_arn": "arn:aws:elasticloadbalancing:x",
        "cluster": "prod",
        "drift": [],
    },
    "a JSON list": ["arn:aws:elasticloadbalancing:x", "prod"],
    "a JSON string": "arn:aws:elasticloadbalancing:x",
}


def test_malformed_remediation_requests_fail_alone_and_the_good_one_is_applied(  # noqa: PLR0917
    sandbox, fg, handler_env, record, capsys, malformed_lines
):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    good = RemediationRequest(web.lb_arn, "prod").to_json()
    bodies = [json.dumps(body) for body in REMEDIATION_GARBAGE.values()]
    event = sqs_event(sandbox, queue_arn(sandbox, fg.remediation_queue_url), [*bodies, good])
    garbage_ids = [r["messageId"] for r in event["Records"][:-1]]
    capsys.readouterr()

    response = remediate_handler.handler(event, FakeLambdaContext())

    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    counted = sum(sum(p.get(malformed.METRIC, [])) for p in printed if "_aws" in p)
    record(
        AREA,
        f"{len(bodies)} wrongly typed remediation requests + 1 good one in one batch",
        "each failed alone (→ queue DLQ) with one line naming its field, good applied",
        f"{len(failed)} failed alone, {len(malformed_lines)} lines, good "
        + ("failed" if event["Records"][-1]["messageId"] in failed else "applied"),
        half_applied=half_applied(sandbox),
    )
    assert failed == garbage_ids
    assert sorted(line.message_id for line in malformed_lines) == sorted(garbage_ids)
    assert {line.handler for line in malformed_lines} == {"remediate"}
    assert [line.field for line in malformed_lines][:3] == [
        "body.load_balancer_arn",
        "body.cluster",
        "body.drift",
    ]
    assert counted == len(garbage_ids)
    assert "alb.ingress.kubernetes.io/security-groups" in web.object["metadata"]["annotations"]
