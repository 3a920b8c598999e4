"""Verification and alerting end to end: remediation → the controller → verify → the alert."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from frontguard.handlers import verify as verify_handler

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, STATE_TABLE, FakeLambdaContext, Frontguard, wire

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
BACKOFF = [60, 180, 600]


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


def team_security_group(sandbox: Sandbox, vpc_id: str, name: str) -> str:
    group_id: str = sandbox.client("ec2").create_security_group(
        GroupName=name, Description="team-owned", VpcId=vpc_id
    )["GroupId"]
    return group_id


def outcomes(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["outcome"] for a in alerts]


def finding_kinds(alert: dict[str, Any]) -> set[str]:
    return {f["kind"] for f in alert["findings"]}


# --- outcomes -------------------------------------------------------------------------------


def test_verified_when_the_controller_attached_frontguard_sg_and_nobody_is_paged(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    assert fg.deliver(web.event)["outcome"] == "remediated"
    prod.lbc.reconcile()

    [result] = fg.run_verifications()

    assert result.outcome == "verified"
    assert outcomes(fg.alerts()) == ["remediated"]
    assert web.managed_sg_id is None


def test_verified_success_notice_only_when_the_policy_asks(sandbox):
    fg = wire(sandbox, {**ENFORCE, "notify_on_success": True})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()

    assert [r.outcome for r in fg.run_verifications()] == ["verified"]
    assert outcomes(fg.alerts()) == ["remediated", "verified"]


def test_not_yet_verified_is_rechecked_with_growing_delays_then_fails(sandbox):
    fg = wire(sandbox, {**ENFORCE, "verify_backoff_seconds": BACKOFF})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)  # the controller never reconciles: the annotation is not applied
    [(request, first_delay)] = fg.enqueued
    assert first_delay == 0 and request["attempt"] == 0

    results = []
    for _ in range(len(BACKOFF) + 1):
        request = fg.enqueued[-1][0]
        results.append(fg.verify(request))

    assert [r.outcome for r in results] == ["pending", "pending", "pending", "verification-failed"]
    assert [delay for _, delay in fg.enqueued[1:]] == BACKOFF
    assert [body["attempt"] for body, _ in fg.enqueued] == [0, 1, 2, 3]
    verification_failed = [a for a in fg.alerts() if a["outcome"] == "verification-failed"]
    [alert] = verification_failed
    assert alert["attempts"] == len(BACKOFF) + 1
    assert "managed-security-group-attached" in finding_kinds(alert)


def test_annotation_reverted_by_argocd_names_who_and_how_to_fix(sandbox, fg):
    prod = sandbox.cluster("prod")
    team_sg = team_security_group(sandbox, prod.vpc_id, "shop-open")
    web = prod.ingress("shop/web", ports=[443], annotations={INGRESS_SG: team_sg})
    assert fg.deliver(web.event)["outcome"] == "remediated"
    ours = web.object["metadata"]["annotations"][INGRESS_SG]
    prod.lbc.reconcile()
    # Argo CD syncs the object back to its repository: the old value, owned by its manager.
    prod.kube.patch_object(
        web.resource,
        "shop",
        "web",
        {
            "metadata": {
                "annotations": {INGRESS_SG: team_sg},
                "managedFields": [
                    {
                        "manager": "argocd-controller",
                        "operation": "Apply",
                        "apiVersion": "networking.k8s.io/v1",
                        "time": "2025-06-01T10:00:00Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{INGRESS_SG}": {}}}},
                    }
                ],
            }
        },
    )
    prod.lbc.reconcile()
    assert ours not in web.security_groups()

    results = fg.run_verifications()

    assert [r.outcome for r in results] == ["pending", "pending", "verification-failed"]
    alert = fg.alerts()[-1]
    assert alert["outcome"] == "verification-failed"
    [reverted] = [f for f in alert["findings"] if f["kind"] == "annotation-reverted"]
    assert reverted["manager"] == "argocd-controller"
    assert reverted["value"] == team_sg
    assert (
        f"(now: «{team_sg}» (user-written); last writer according to managedFields "
        "(unauthenticated): «argocd-controller» (user-written) at 2025-06-01T10:00:00Z)"
        in (alert["detail"])
    )
    assert f'{INGRESS_SG}: "{ours}"' in alert["fix"]
    assert f'kubectl annotate ingress -n shop web --overwrite {INGRESS_SG}="{ours}"' in alert["fix"]


def test_ingress_group_conflict_alert_quotes_the_controller_event(sandbox, fg):
    prod = sandbox.cluster("prod")
    shared = prod.ingress_group("shared", members=["team-a/one", "team-b/two"], ports=[443])
    assert fg.deliver(shared.event)["outcome"] == "remediated"
    managed = shared.managed_sg_id
    # Before the controller gets to it, team-b sets its own SG on its member.
    team_sg = team_security_group(sandbox, prod.vpc_id, "team-b")
    prod.kube.patch_object(
        shared.resource, "team-b", "two", {"metadata": {"annotations": {INGRESS_SG: team_sg}}}
    )
    prod.lbc.reconcile()
    [event, *_] = shared.events("FailedBuildModel")
    assert managed in shared.security_groups()

    results = fg.run_verifications()

    assert results[-1].outcome == "verification-failed"
    alert = fg.alerts()[-1]
    assert {"group-conflict", "controller-event", "managed-security-group-attached"} <= (
        finding_kinds(alert)
    )
    quoted = [f for f in alert["findings"] if f["kind"] == "controller-event"]
    assert {f["object"] for f in quoted} == {"team-a/one", "team-b/two"}
    assert all(f["message"] == event["message"] for f in quoted)
    assert event["message"].startswith("Failed build model due to conflicting securityGroups: [")
    # Quoted as user-written (it echoes annotation values), cut to 200 characters.
    assert f"«{event['message'][:100]}" in alert["detail"]
    assert "» (user-written)" in alert["detail"]
    assert "kubectl annotate ingress -n team-a one" in alert["fix"]
    assert "kubectl annotate ingress -n team-b two" in alert["fix"]
    assert alert["owner"]["group"] == "shared"


def test_annotated_sg_deleted_fails_at_once_with_the_controller_event(sandbox):
    fg = wire(sandbox, {**ENFORCE, "verify_backoff_seconds": BACKOFF})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    ours = web.object["metadata"]["annotations"][INGRESS_SG]
    sandbox.client("ec2").delete_security_group(GroupId=ours)  # someone cleans up "unused" SGs
    prod.lbc.reconcile()
    assert web.events("FailedBuildModel")

    [result] = fg.run_verifications()

    # No point waiting for the controller: it cannot attach a group that is gone.
    assert result.outcome == "verification-failed"
    alert = fg.alerts()[-1]
    assert {"security-group-deleted", "controller-event"} <= finding_kinds(alert)
    assert f"{ours} was deleted" in alert["detail"]
    assert "next scan" in alert["fix"]
    assert "kubectl annotate" not in alert["fix"]  # naming the deleted SG would not help


def test_load_balancer_deleted_mid_verification_is_dropped_quietly(sandbox, fg, caplog):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    sandbox.client("elbv2").delete_load_balancer(LoadBalancerArn=web.lb_arn)
    caplog.set_level(logging.INFO, logger="frontguard")

    [result] = fg.run_verifications()

    assert result.outcome == "ignored"
    assert outcomes(fg.alerts()) == ["remediated"]
    [record] = [r for r in caplog.records if "deleted meanwhile" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.load_balancer_arn == web.lb_arn
    assert fg.verification_requests() == []


# --- quiet by design ------------------------------------------------------------------------


def test_same_failing_verification_alerts_once_per_period_across_invocations(sandbox):
    policy = {**ENFORCE, "verify_backoff_seconds": []}
    fg = wire(sandbox, policy)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)  # never reconciled
    [request] = fg.verification_requests()

    first = fg.verify(request)
    again = fg.verify(request)
    # Another Lambda container (new clients, no memory) shares only the state table.
    other = wire(sandbox, policy)
    third = other.verify(request)

    assert [first.outcome, again.outcome, third.outcome] == ["verification-failed"] * 3
    assert outcomes(fg.alerts()) == ["remediated", "verification-failed"]
    items = sandbox.client("dynamodb").scan(TableName=STATE_TABLE)["Items"]
    assert {(i["pk"]["S"], i["sk"]["S"]) for i in items} >= {
        ("finding", f"{web.lb_arn}|verification-failed")
    }


def test_alert_repeats_after_the_policy_period(sandbox):
    fg = wire(sandbox, {**ENFORCE, "verify_backoff_seconds": [], "alert_period_hours": 1 / 3600})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    [request] = fg.verification_requests()

    fg.verify(request)
    fg.verify(request)
    time.sleep(2.1)  # the period is one second; claims are kept to the second
    fg.verify(request)

    assert outcomes(fg.alerts()) == ["remediated", "verification-failed", "verification-failed"]


def test_loop_detection_stops_patching_and_alerts_conflict(sandbox):
    fg = wire(sandbox, {**ENFORCE, "loop_threshold": 3, "loop_window_minutes": 60})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    seen = []
    for _ in range(5):
        seen.append(fg.deliver(web.event)["outcome"])
        prod.lbc.reconcile()
        # Something (a Helm upgrade, a person) takes frontguard's annotations away again.
        web.annotate({INGRESS_SG: None, INGRESS_BACKEND: None})
        prod.lbc.reconcile()

    # The first remediation is not a re-patch; three re-patches are allowed, the fourth is not.
    assert seen == ["remediated"] * 4 + ["conflict"]
    patches = sum(n for (method, _), n in prod.kube.requests().items() if method == "PATCH")
    assert patches == 4
    assert INGRESS_SG not in web.object["metadata"]["annotations"]
    conflicts = [a for a in fg.alerts() if a["outcome"] == "conflict"]
    [conflict] = conflicts  # deduped: one page, not one per attempt
    assert "exemption in the policy" in conflict["fix"]
    assert outcomes(fg.alerts()).count("remediated") == 1


# --- the alert as people and machines read it -----------------------------------------------


def test_alert_json_reaches_machines_and_plain_text_reaches_email(sandbox, fg):
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    inbox = sandbox.sqs_queue("alert-consumer")
    sns.subscribe(
        TopicArn=fg.topic_arn,
        Protocol="sqs",
        Endpoint=inbox.arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)  # never reconciled
    fg.run_verifications()

    delivered = inbox.receive()
    assert [body["outcome"] for body in delivered] == ["remediated", "verification-failed"]
    body = delivered[-1]
    for key in ("outcome", "load_balancer_arn", "cluster", "owner", "account", "region", "detail"):
        assert body[key], key
    [subject] = [a["subject"] for a in fg.alerts() if a["outcome"] == "verification-failed"]
    assert subject == "frontguard verification-failed: ingress/shop/web in prod"
    email = fg.alert_emails()[-1]
    assert "Kubernetes object:  Ingress shop/web" in email
    assert web.lb_arn in email and "Cluster:            prod" in email
    assert "Why it matters:" in email and "How to fix:" in email
    assert f"kubectl annotate ingress -n shop web --overwrite {INGRESS_SG}=" in email
    assert sqs.get_queue_attributes(QueueUrl=inbox.url)  # the subscription queue exists


# --- the SQS handler as Lambda invokes it ---------------------------------------------------


def sqs_event(sandbox: Sandbox, queue_arn: str, bodies: list[str]) -> dict[str, Any]:
    """An SQS batch exactly as Lambda's event source mapping delivers it."""
    region = queue_arn.split(":")[3]
    now = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "SenderId": "AROAEXAMPLE:frontguard-events",
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for body in bodies
        ]
    }


def queue_arn(sandbox: Sandbox, url: str) -> str:
    arn: str = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    return arn


def test_handler_fails_only_the_malformed_message_of_a_batch(sandbox, fg, handler_env, capsys):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    gone = prod.ingress("shop/old", ports=[443])
    fg.deliver(web.event)
    fg.deliver(gone.event)
    prod.lbc.reconcile()
    requests = {r["load_balancer_arn"]: r for r in fg.verification_requests()}
    sandbox.client("elbv2").delete_load_balancer(LoadBalancerArn=gone.lb_arn)
    event = sqs_event(
        sandbox,
        queue_arn(sandbox, fg.queue_url),
        [
            json.dumps(requests[web.lb_arn]),
            '{"load_balancer_arn": "arn:aws:elasticloadbalancing:truncated',
            json.dumps(requests[gone.lb_arn]),
        ],
    )
    malformed_id = event["Records"][1]["messageId"]
    capsys.readouterr()

    response = verify_handler.handler(event, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": malformed_id}]}
    printed = capsys.readouterr().out
    metrics = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    [emf] = metrics
    assert emf["verification-verified"] == [1.0] or emf["verification-verified"] == 1.0
    assert "verification-ignored" in emf
    assert outcomes(fg.alerts()) == ["remediated", "remediated"]


def test_handler_reports_a_retryable_failure_so_sqs_retries_it_then_dead_letters(
    sandbox, fg, handler_env
):
    prod = sandbox.cluster("prod")
    stage = sandbox.cluster("stage", cidr="10.1.0.0/16")
    healthy = prod.ingress("shop/web", ports=[443])
    stuck = stage.ingress("shop/web", ports=[443])
    fg.deliver(healthy.event)
    fg.deliver(stuck.event)
    prod.lbc.reconcile()  # stage's controller never reconciles: its last check must diagnose
    requests = {r["cluster"]: r for r in fg.verification_requests()}
    last_attempt = {**requests["stage"], "attempt": len(ENFORCE["verify_backoff_seconds"])}  # type: ignore[arg-type]
    stage.kube.stop()  # stage's Kubernetes API is unreachable during the diagnosis
    arn = queue_arn(sandbox, fg.queue_url)
    event = sqs_event(sandbox, arn, [json.dumps(requests["prod"]), json.dumps(last_attempt)])

    response = verify_handler.handler(event, FakeLambdaContext())

    # Reported, not swallowed: SQS redelivers it, and after maxReceiveCount the DLQ keeps it.
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert outcomes(fg.alerts()) == ["remediated", "remediated"]  # no half-diagnosed alert

    # A batch where every record fails is answered with every record listed (not raised):
    # the queue redelivers it the same way (handlers/batches.py).
    alone = sqs_event(sandbox, arn, [json.dumps(last_attempt)])
    assert verify_handler.handler(alone, FakeLambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": alone["Records"][0]["messageId"]}]
    }


def test_a_batch_stops_taking_records_when_too_little_time_is_left(sandbox, fg, handler_env):
    """Deploy audit 9: a timed-out batch comes back whole, and the records already done would
    enqueue their follow-ups twice; records not started are reported failed instead."""
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    [request] = fg.verification_requests()
    event = sqs_event(sandbox, queue_arn(sandbox, fg.queue_url), [json.dumps(request)] * 2)
    fg.reset_counts()

    # Every record is handed back unstarted, as a batch item failure.
    response = verify_handler.handler(
        event, FakeLambdaContext(remaining_ms=verify_handler.RECORD_RESERVE_MS - 1)
    )

    assert response == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
    }

    assert fg.aws_calls == Counter()
    assert fg.verification_requests() == []
