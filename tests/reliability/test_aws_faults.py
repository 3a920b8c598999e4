"""AWS faults on every call the event path makes: absorbed, retried through the DLQ path, or
alerted, and never half-applied."""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from sandbox.wiring import Frontguard
from tests.reliability.conftest import Record
from tests.reliability.faults import AwsFaults, deliver, frontguard_groups, half_applied

# Every AWS operation one remediation makes, in order (measured on a clean run).
EVENT_PATH = [
    "elbv2.DescribeLoadBalancers",
    "elbv2.DescribeTags",
    "eks.DescribeCluster",
    "elbv2.DescribeListeners",
    "ec2.DescribeSecurityGroups",
    "ec2.CreateSecurityGroup",
    "ec2.AuthorizeSecurityGroupIngress",
    "sqs.SendMessage",  # verification request
    "dynamodb.PutItem",  # alert dedupe: a short claim
    "sns.Publish",  # the alert
    "dynamodb.UpdateItem",  # alert dedupe: recorded as sent only once published
]
AREA = "AWS faults"


def test_a_clean_run_makes_exactly_these_calls(sandbox: Sandbox, fg: Frontguard, faults):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    assert deliver(fg, web.event).observed == "success:remediated"
    assert sorted(set(faults.sent) - {"sts.GetCallerIdentity"}) == sorted(EVENT_PATH)  # at start


@pytest.mark.parametrize("operation", EVENT_PATH)
def test_transient_throttling_is_absorbed_by_adaptive_retries(
    sandbox: Sandbox, fg: Frontguard, faults: AwsFaults, record: Record, operation: str
):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    faults.fail(operation, "throttle", times=2)

    delivery = deliver(fg, web.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        f"2× Throttling on {operation}",
        "success:remediated",
        delivery,
        faults=sum(faults.injected.values()),
        half_applied=half,
    )
    assert faults.injected[operation] == 2
    assert delivery.observed == "success:remediated"
    assert half == []
    assert len(frontguard_groups(sandbox)) == 1


@pytest.mark.parametrize("operation", EVENT_PATH)
def test_persistent_5xx_takes_the_dlq_path_and_the_retry_converges(
    sandbox: Sandbox, fg: Frontguard, faults: AwsFaults, record: Record, operation: str
):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    faults.fail(operation, "5xx")

    first = deliver(fg, web.event)
    half_now = half_applied(sandbox)
    faults.clear()
    retry = deliver(fg, web.event)  # Lambda's retry (or the DLQ redrive)

    half = half_now + half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        f"503 on every attempt of {operation}, then Lambda's retry",
        "dlq → success",
        f"{first.observed} → {retry.observed}",
        faults=sum(faults.injected.values()),
        half_applied=half,
    )
    assert faults.injected[operation] == 9  # 1 + CLIENT_CONFIG's 8 retries, all failed
    assert first.observed == "dlq"
    assert retry.observed in ("success:remediated", "success:compliant")
    assert half == []
    assert len(frontguard_groups(sandbox)) == 1
    annotations = web.object["metadata"]["annotations"]
    assert (
        annotations["alb.ingress.kubernetes.io/security-groups"]
        == (frontguard_groups(sandbox)[0]["GroupId"])
    )


def test_throttling_on_every_call_at_once_is_absorbed(sandbox, fg, faults, record):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    for operation in EVENT_PATH:
        faults.fail(operation, "throttle", times=1)

    delivery = deliver(fg, web.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "1× Throttling on every call of the run",
        "success:remediated",
        delivery,
        faults=sum(faults.injected.values()),
        half_applied=half,
    )
    assert sum(faults.injected.values()) == len(EVENT_PATH)
    assert delivery.observed == "success:remediated"
    assert half == []


def test_persistent_throttling_everywhere_takes_the_dlq_path(sandbox, fg, faults, record):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    faults.fail("*", "throttle")

    first = deliver(fg, web.event)
    faults.clear()
    retry = deliver(fg, web.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "Throttling on every call, every attempt, then Lambda's retry",
        "dlq → success",
        f"{first.observed} → {retry.observed}",
        faults=sum(faults.injected.values()),
        half_applied=half,
    )
    assert first.observed == "dlq"
    assert retry.observed == "success:remediated"
    assert half == []


# --- AccessDenied on mutating calls: an `error` alert, nothing half-applied -------------------


@pytest.mark.parametrize(
    "operation", ["ec2.CreateSecurityGroup", "ec2.AuthorizeSecurityGroupIngress"]
)
def test_access_denied_on_a_mutating_call_alerts_error_and_patches_nothing(
    sandbox, fg, faults, record, operation
):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    before = web.object["metadata"]["annotations"]
    faults.fail(operation, "access-denied")

    delivery = deliver(fg, web.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        f"AccessDenied on {operation}",
        "alert:error",
        delivery,
        faults=sum(faults.injected.values()),
        half_applied=half,
    )
    assert faults.injected[operation] == 1  # not retried: retrying cannot help
    assert delivery.observed == "alert:error"
    assert web.object["metadata"]["annotations"] == before
    assert half == []
    assert all(not g["IpPermissions"] for g in frontguard_groups(sandbox))


def test_access_denied_revoking_a_drifted_rule_alerts_error(sandbox, fg, faults, record):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    assert deliver(fg, web.event).observed == "success:remediated"
    [group] = frontguard_groups(sandbox)
    sandbox.client("ec2").authorize_security_group_ingress(
        GroupId=group["GroupId"], IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    faults.fail("ec2.RevokeSecurityGroupIngress", "access-denied")

    delivery = deliver(fg, web.event)

    half = half_applied(sandbox)
    record(
        AREA,
        "AccessDenied on ec2.RevokeSecurityGroupIngress (drift repair)",
        "alert:error",
        delivery,
        faults=sum(faults.injected.values()),
        half_applied=half,
    )
    assert delivery.observed == "alert:error"
    assert half == []


def test_access_denied_on_the_alert_topic_keeps_the_event(sandbox, fg, faults, record):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    faults.fail("sns.Publish", "access-denied")

    first = deliver(fg, web.event)
    faults.clear()
    retry = deliver(fg, web.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "AccessDenied on sns.Publish (no alert can be sent)",
        "dlq → success",
        f"{first.observed} → {retry.observed}",
        faults=sum(faults.injected.values()),
        half_applied=half,
    )
    assert first.observed == "dlq"  # the error alert cannot be published either: raise
    assert retry.observed in ("success:remediated", "success:compliant")
    assert half == []


# --- resources deleted between two steps ----------------------------------------------------


def test_sg_deleted_between_create_and_authorize_is_retried_and_the_retry_recreates_it(
    sandbox, fg, faults, record
):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    ec2 = sandbox.client("ec2")
    deleted: list[str] = []

    def delete_ours(request, event_name, **_):
        if event_name.endswith("AuthorizeSecurityGroupIngress") and not deleted:
            [group] = frontguard_groups(sandbox)
            ec2.delete_security_group(GroupId=group["GroupId"])
            deleted.append(group["GroupId"])

    fg.runtime.engine.ec2.meta.events.register_first("before-send", delete_ours)
    first = deliver(fg, web.event)
    retry = deliver(fg, web.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "frontguard's SG deleted between CreateSecurityGroup and Authorize",
        "dlq → success",
        f"{first.observed} → {retry.observed}",
        faults=1,
        half_applied=half,
    )
    assert deleted
    assert first.observed == "dlq"  # the LB still exists: retry rather than page
    assert retry.observed == "success:remediated"
    assert half == []
    assert [g["GroupId"] for g in frontguard_groups(sandbox)] != deleted


def test_sg_deleted_after_the_patch_is_caught_by_verification_and_repaired(
    sandbox, fg, faults, record
):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    ec2 = sandbox.client("ec2")
    deleted: list[str] = []

    def delete_ours(request, event_name, **_):
        if event_name.endswith("SendMessage") and not deleted:  # after the patch
            [group] = frontguard_groups(sandbox)
            ec2.delete_security_group(GroupId=group["GroupId"])
            deleted.append(group["GroupId"])

    fg.runtime.engine.verify._sqs.meta.events.register_first("before-send", delete_ours)
    first = deliver(fg, web.event)
    prod.lbc.reconcile()
    [verification] = fg.run_verifications()
    verify_alerts = [a["outcome"] for a in fg.alerts()][-1:]
    retry = deliver(fg, web.event)  # the next scan, or the next event, repairs it

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "frontguard's SG deleted right after the annotation patch",
        "verification-failed alert → repaired",
        f"{first.observed} → alert:{verification.outcome} → {retry.observed}",
        faults=1,
        half_applied=half,
    )
    assert deleted
    assert verification.outcome == "verification-failed"
    assert verify_alerts == ["verification-failed"]
    assert retry.observed == "success:remediated"
    assert half == []


def test_lb_deleted_before_listeners_are_read_ends_visibly(sandbox, fg, faults, record):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    elbv2 = sandbox.client("elbv2")

    def delete_lb(request, event_name, **_):
        if event_name.endswith("DescribeListeners"):
            elbv2.delete_load_balancer(LoadBalancerArn=web.lb_arn)

    fg.runtime.engine.elbv2.meta.events.register_first("before-send", delete_lb)
    delivery = deliver(fg, web.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "the load balancer deleted between DescribeLoadBalancers and DescribeListeners",
        "alert:error or dropped",
        delivery,
        faults=1,
        half_applied=half,
    )
    assert delivery.observed in ("alert:error", "dropped")
    assert frontguard_groups(sandbox) == []
    assert half == []


def test_verification_request_lost_after_the_patch_is_queued_again_by_the_retry(
    sandbox, fg, faults, record
):
    web = sandbox.cluster("prod").ingress("shop/web", ports=[443])
    faults.fail("sqs.SendMessage", "5xx")

    first = deliver(fg, web.event)  # patched, then the verification could not be queued
    faults.clear()
    retry = deliver(fg, web.event)  # the controller has not attached the SG yet

    queued = fg.verification_requests()
    record(
        AREA,
        "verification request lost after the annotation patch",
        "dlq → compliant with the verification queued again",
        f"{first.observed} → {retry.observed}, {len(queued)} verification queued",
        faults=sum(faults.injected.values()),
        half_applied=half_applied(sandbox, claimed_success=True),
    )
    assert first.observed == "dlq"
    assert retry.observed == "success:compliant"
    assert [q["load_balancer_arn"] for q in queued] == [web.lb_arn]


def test_access_denied_deleting_an_orphan_keeps_it_and_finishes_the_scan(
    sandbox, fg, faults, record
):
    from frontguard.engine.scan import scan

    prod = sandbox.cluster("prod")
    gone, kept = prod.ingress("shop/gone"), prod.ingress("shop/kept")
    for owned in (gone, kept):
        deliver(fg, owned.event)
    sandbox.client("elbv2").delete_load_balancer(LoadBalancerArn=gone.lb_arn)
    fg.runtime.engine.policy = fg.runtime.engine.policy.model_copy(
        update={"cleanup_grace_hours": 0}
    )
    faults.fail("ec2.DeleteSecurityGroup", "access-denied")

    report = scan(fg.runtime.engine)

    record(
        AREA,
        "AccessDenied deleting an orphaned frontguard SG during the scan",
        "orphan kept and reported, scan completes",
        f"kept {len(report.kept_orphans)}, {len(report.items)} LBs classified",
        faults=sum(faults.injected.values()),
    )
    assert len(report.kept_orphans) == 1
    assert report.cleaned_up == []
    assert [item.owner for item in report.items] == ["ingress/shop/kept"]


# --- the scheduled scan ---------------------------------------------------------------------


def _scan_outcome(fg: Frontguard) -> str:
    from frontguard.engine.scan import scan

    try:
        report = scan(fg.runtime.engine)
    except Exception:  # noqa: BLE001 - escaping is the DLQ path we classify
        return "dlq"
    return ",".join(sorted(report.by_outcome()))


def test_throttling_during_the_scan_is_absorbed(sandbox, fg, faults, record):
    sandbox.cluster("prod").ingress("shop/web", ports=[443])
    for operation in (
        "elbv2.DescribeLoadBalancers",
        "elbv2.DescribeTags",
        "ec2.DescribeSecurityGroups",
    ):
        faults.fail(operation, "throttle", times=2)

    observed = _scan_outcome(fg)

    record(
        AREA,
        "throttling (2×) on the scan's bulk reads",
        "remediated",
        observed,
        faults=sum(faults.injected.values()),
        half_applied=half_applied(sandbox, claimed_success=True),
    )
    assert observed == "remediated"
    assert sum(faults.injected.values()) == 6


def test_persistent_5xx_on_the_scan_listing_takes_the_dlq_path(sandbox, fg, faults, record):
    sandbox.cluster("prod").ingress("shop/web", ports=[443])
    faults.fail("elbv2.DescribeLoadBalancers", "5xx")

    first = _scan_outcome(fg)
    faults.clear()
    retry = _scan_outcome(fg)

    record(
        AREA,
        "persistent 503 listing load balancers during the scan, then the next scan",
        "dlq → remediated",
        f"{first} → {retry}",
        faults=sum(faults.injected.values()),
        half_applied=half_applied(sandbox, claimed_success=True),
    )
    assert (first, retry) == ("dlq", "remediated")
