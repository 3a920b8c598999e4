"""Security Hub findings through the real Lambda handlers against the sandbox: created by an
open finding, resolved when the load balancer is fixed or verified, archived when it is gone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from frontguard.adapters.securityhub import Observation, SecurityHubFindings
from frontguard.errors import PermanentError
from frontguard.handlers import events as events_handler
from frontguard.handlers import scan as scan_handler
from frontguard.handlers import verify as verify_handler
from frontguard.handlers._runtime import reset_runtime
from frontguard.model import Outcome

from sandbox import ACCOUNT_ID, REGION, Sandbox
from sandbox.securityhub import findings
from sandbox.wiring import ENFORCE, FakeLambdaContext, Frontguard, wire
from tests.integration.test_verify import queue_arn, sqs_event

AUDIT = {**ENFORCE, "mode": "audit"}
CONTEXT: Any = FakeLambdaContext()  # what Powertools reads of Lambda's context
SCHEDULED = {
    "version": "0",
    "id": "scheduled-scan",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT_ID,
    "region": REGION,
    "detail": {},
}


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


@pytest.fixture
def hub(sandbox: Sandbox, handler_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Security Hub enabled in the account, and the deployment switch on."""
    sandbox.client("securityhub").enable_security_hub()
    monkeypatch.setenv("FRONTGUARD_SECURITY_HUB", "true")
    use_policy(monkeypatch, ENFORCE)


def use_policy(monkeypatch: pytest.MonkeyPatch, policy: dict[str, Any]) -> None:
    """A redeploy with another policy: the handlers' next invocation builds a new runtime."""
    monkeypatch.setenv("FRONTGUARD_POLICY", json.dumps(policy))
    reset_runtime()


def the_finding() -> dict[str, Any]:
    [finding] = findings(ACCOUNT_ID, REGION)
    return finding


def state(finding: dict[str, Any]) -> tuple[str, str, str]:
    return (
        finding["RecordState"],
        finding["Compliance"]["Status"],
        finding["Workflow"]["Status"],
    )


def test_open_finding_creates_an_asff_finding_per_load_balancer_and_check(
    sandbox, fg, hub, monkeypatch
):
    use_policy(monkeypatch, AUDIT)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])

    result = events_handler.handler(web.event, CONTEXT)
    events_handler.handler(web.event, CONTEXT)  # delivered twice: still one finding

    assert result["outcome"] == "audit-finding"
    finding = the_finding()
    assert finding["Id"] == f"{web.lb_arn}/frontguard/frontend-security-group"
    assert finding["ProductArn"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"
    )
    assert finding["GeneratorId"] == "frontguard/frontend-security-group"
    assert state(finding) == ("ACTIVE", "FAILED", "NEW")
    assert finding["Severity"] == {"Label": "MEDIUM"}
    assert {(r["Type"], r["Id"]) for r in finding["Resources"]} == {
        ("AwsElbv2LoadBalancer", web.lb_arn),
        ("AwsEksCluster", f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/prod"),
        ("Other", "kubernetes://prod/ingress/shop/web"),
    }
    assert "enforce mode" in finding["Remediation"]["Recommendation"]["Text"]
    assert finding["ProductFields"]["frontguard/owner"] == "ingress/shop/web"
    # Issue 22 item 2: the finding carries the alert's actor and what detected it.
    assert (
        finding["ProductFields"]["frontguard/actor"] == web.event["detail"]["userIdentity"]["arn"]
    )
    assert finding["ProductFields"]["frontguard/detected-by"] == "event"


def repair_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack without the remediation queue: the scan repairs what it finds itself."""
    monkeypatch.delenv("FRONTGUARD_REMEDIATION_QUEUE_URL")


def test_fixed_load_balancer_resolves_its_finding_through_the_scheduled_scan(
    sandbox, fg, hub, monkeypatch
):
    repair_inline(monkeypatch)
    use_policy(monkeypatch, AUDIT)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    events_handler.handler(web.event, CONTEXT)
    assert state(the_finding()) == ("ACTIVE", "FAILED", "NEW")
    use_policy(monkeypatch, ENFORCE)  # the team switches to enforce: the scan repairs it

    result = scan_handler.handler(SCHEDULED, CONTEXT)

    assert result["by_outcome"] == {"remediated": 1}
    finding = the_finding()
    assert state(finding) == ("ACTIVE", "PASSED", "RESOLVED")
    sg = next(r for r in finding["Resources"] if r["Type"] == "AwsEc2SecurityGroup")
    assert sg["Id"].startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:security-group/sg-")
    # Issue 22 item 2: the scan's repair carries the digest's facts.
    fields = finding["ProductFields"]
    assert fields["frontguard/detected-by"] == "scan" and fields["frontguard/actor"] == "unknown"
    assert (
        fields["frontguard/was-open"] == "443 from 0.0.0.0/0 (the controller's rule for the owner)"
    )


def test_verified_load_balancer_resolves_its_failed_verification(sandbox, fg, hub):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    events_handler.handler(web.event, CONTEXT)  # remediated; controller asleep
    arn = queue_arn(sandbox, fg.queue_url)
    for _ in range(3):  # the policy's attempts, with zero backoff, all before the controller
        requests = [json.dumps(r) for r in fg.verification_requests()]
        verify_handler.handler(sqs_event(sandbox, arn, requests), CONTEXT)
    assert state(the_finding()) == ("ACTIVE", "FAILED", "NEW")
    assert the_finding()["Severity"] == {"Label": "HIGH"}
    prod.lbc.reconcile()  # the controller wakes up and attaches frontguard's SG
    request = {**json.loads(requests[0]), "attempt": 0}

    verify_handler.handler(sqs_event(sandbox, arn, [json.dumps(request)]), CONTEXT)

    assert state(the_finding()) == ("ACTIVE", "PASSED", "RESOLVED")
    assert fg.alerts()[-1]["outcome"] == "verification-failed"  # no success mail: not asked


def test_deleted_load_balancer_archives_its_finding(sandbox, fg, hub, monkeypatch):
    use_policy(monkeypatch, AUDIT)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    kept = prod.ingress("shop/kept", ports=[443])
    events_handler.handler(web.event, CONTEXT)
    events_handler.handler(kept.event, CONTEXT)
    sandbox.client("elbv2").delete_load_balancer(LoadBalancerArn=web.lb_arn)

    scan_handler.handler(SCHEDULED, CONTEXT)

    by_lb = {f["Resources"][0]["Id"]: f for f in findings(ACCOUNT_ID, REGION)}
    assert by_lb[web.lb_arn]["RecordState"] == "ARCHIVED"
    assert by_lb[kept.lb_arn]["RecordState"] == "ACTIVE"
    assert by_lb[kept.lb_arn]["Compliance"]["Status"] == "FAILED"


def test_reopened_finding_goes_back_to_new(sandbox, fg, hub, monkeypatch):
    repair_inline(monkeypatch)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    use_policy(monkeypatch, AUDIT)
    events_handler.handler(web.event, CONTEXT)
    use_policy(monkeypatch, ENFORCE)
    scan_handler.handler(SCHEDULED, CONTEXT)
    prod.lbc.reconcile()
    assert state(the_finding()) == ("ACTIVE", "PASSED", "RESOLVED")
    web.annotate({"alb.ingress.kubernetes.io/security-groups": None})  # someone undoes it
    prod.lbc.reconcile()
    use_policy(monkeypatch, AUDIT)

    scan_handler.handler(SCHEDULED, CONTEXT)

    assert state(the_finding()) == ("ACTIVE", "FAILED", "NEW")


def test_switch_off_writes_nothing_to_security_hub(sandbox, fg, handler_env):
    sandbox.client("securityhub").enable_security_hub()
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    open_nlb = prod.service("shop/dns", security_groups=False)

    events_handler.handler(web.event, CONTEXT)
    events_handler.handler(open_nlb.event, CONTEXT)
    scan_handler.handler(SCHEDULED, CONTEXT)

    assert findings(ACCOUNT_ID, REGION) == []


def test_security_hub_not_enabled_fails_the_invocation_after_alerting(
    sandbox, fg, hub, monkeypatch
):
    """Switched on but not enabled in the account: humans still get the SNS alerts, and the
    invocation fails (retried, then dead-lettered and alarmed) instead of passing silently."""
    sandbox.client("securityhub").disable_security_hub()
    use_policy(monkeypatch, AUDIT)
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])

    with pytest.raises(PermanentError, match=r"Security Hub.*not subscribed"):
        events_handler.handler(web.event, CONTEXT)

    assert [a["outcome"] for a in fg.alerts()] == ["audit-finding", "error"]


def test_scan_sync_writes_in_batches_of_100(sandbox):
    """150 open findings: one paged read, then two imports (the API takes at most 100)."""
    sandbox.client("securityhub").enable_security_hub()
    client = sandbox.client("securityhub")
    calls: list[str] = []
    client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    hub = SecurityHubFindings(client, account=ACCOUNT_ID, region=REGION)
    lbs = [
        f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:loadbalancer/app/lb/{i:04d}"
        for i in range(150)
    ]
    scanned = [Observation(lb, Outcome.AUDIT_FINDING, "prod", "ingress/a/b", "open") for lb in lbs]

    hub.sync(scanned, lbs)
    first = list(calls)
    calls.clear()
    hub.sync(scanned, lbs)  # nothing changed: reads only

    assert first == ["GetFindings", "BatchImportFindings", "BatchImportFindings"]
    assert calls == ["GetFindings", "GetFindings"]
    assert len(findings(ACCOUNT_ID, REGION)) == 150
