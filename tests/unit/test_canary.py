"""The canary's pure parts: the scheduled request at the edge, its alert, the report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from frontguard.canary.owners import Kind, canary_filter_policy, canary_owner
from frontguard.canary.report import CanaryReport, Stage, Status, table
from frontguard.canary.scheduled import CanaryRequest, failure_alert
from frontguard.errors import ConfigurationError, InvalidEventError
from frontguard.handlers.canary import handler
from frontguard.model import Outcome

from sandbox.wiring import FakeLambdaContext


def report(*stages: Stage, exposure: float | None = 4.0) -> CanaryReport:
    return CanaryReport(
        cluster="prod",
        kind="ingress",
        namespace="frontguard-canary",
        owner="frontguard-canary-x",
        run_id="x",
        started_at=datetime(2026, 12, 5, tzinfo=UTC),
        precision_seconds=5,
        stages=list(stages),
        exposure_seconds=exposure,
    )


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"cluster": "prod", "kind": "deployment"},
        {"cluster": "prod", "timeout_seconds": 3600},
        {"cluster": "prod; rm -rf /"},
        {"cluster": "prod", "namespace": "Not_A_Namespace"},
        {"cluster": "prod", "surprise": 1},
        ["prod"],
        "prod",
    ],
)
def test_a_malformed_request_is_refused_at_the_edge(event):
    with pytest.raises(InvalidEventError, match="not a canary request"):
        CanaryRequest.parse(event)


def test_the_run_is_bounded_by_the_invocations_time_left():
    request = CanaryRequest.parse({"cluster": "prod", "timeout_seconds": 600})
    assert request.settings(remaining_seconds=900).timeout_seconds == 600
    assert request.settings(remaining_seconds=300).timeout_seconds == 270
    with pytest.raises(ConfigurationError):
        request.settings(remaining_seconds=80)


def test_a_healthy_run_raises_no_alert_and_a_failed_or_slow_one_does():
    request = CanaryRequest.parse({"cluster": "prod", "max_exposure_seconds": 60})
    ok = Stage("protection", Status.PASSED, "behind frontguard's SG")
    failed = Stage("load-balancer", Status.FAILED, "no load balancer", "Check the controller.")

    assert failure_alert(request, report(ok)) is None
    alert = failure_alert(request, report(ok, failed))
    assert alert is not None and alert.outcome is Outcome.CANARY_FAILED
    assert (
        alert.detail == "load-balancer: no load balancer" and alert.fix == "Check the controller."
    )
    slow = failure_alert(request, report(ok, exposure=75))
    assert slow is not None and slow.detail.startswith("exposure 75 s exceeds the bound of 60 s")


def test_the_table_puts_the_fix_under_a_failed_stage():
    lines = table(
        report(
            Stage("owner", Status.PASSED, "created", at_seconds=0),
            Stage("load-balancer", Status.FAILED, "none", "Check the controller.", 120),
        )
    )
    assert lines[0] == "frontguard canary: ingress frontguard-canary/frontguard-canary-x in prod"
    failed = lines.index(next(line for line in lines if line.startswith("FAIL")))
    assert lines[failed + 1].strip() == "fix: Check the controller."
    assert "result:        FAILED" in lines


def test_the_filter_policy_takes_the_namespace_and_ownerless_alerts():
    assert canary_filter_policy("frontguard-canary") == (
        '{"namespace": [{"exists": false}, "frontguard-canary"]}'
    )


def test_a_gateway_owner_is_internal_unless_asked_and_routes_to_no_workload():
    owner = canary_owner(Kind.GATEWAY, namespace="c", run_id="r")
    kinds = [body["kind"] for _, body in owner.objects]
    assert kinds == ["Service", "LoadBalancerConfiguration", "Gateway", "HTTPRoute"]
    config = owner.objects[1][1]
    assert config["spec"] == {"scheme": "internal"}
    assert "selector" not in owner.objects[0][1]["spec"]
    public = canary_owner(Kind.GATEWAY, namespace="c", run_id="r", internet_facing=True)
    assert public.objects[1][1]["spec"] == {"scheme": "internet-facing"}


def test_the_handler_drops_a_malformed_request_without_raising(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Frontguard")
    result = handler({"cluster": 42}, FakeLambdaContext())
    assert result["ok"] is False and "not a canary request" in result["reason"]
    assert '"malformed-events"' in capsys.readouterr().out
