"""The first scan of an account nobody guarded yet (issue 16): every call counted.

- audit: the cost of a read (no per-LB DescribeListeners, GET, IngressClass list, PutItem or
  Publish), the dedupe state written in batches of 25, one digest;
- digests across runs: new, still open, fixed; nothing new or fixed sends nothing; a failed
  publish leaves no record that would suppress the next digest;
- enforce: the scan decides and queues, the remediation handler applies (partial batch
  failures), within the event path's per-LB budget;
- the time budget: an invocation that runs out saves a cursor, the next resumes there.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest
from frontguard.errors import RetryableError
from frontguard.handlers import remediate as remediate_handler
from frontguard.handlers import scan as scan_handler
from frontguard.handlers.scan_flow import run_scan

from sandbox import Sandbox
from sandbox.scenario import Cluster
from sandbox.steady import seed_remediated
from sandbox.wiring import (
    ENFORCE,
    STATE_TABLE,
    FakeLambdaContext,
    Frontguard,
    steady_state_minimum_aws_calls,
    wire,
)
from tests.reliability.faults import AwsFaults, PartialBatches

AUDIT = {**ENFORCE, "mode": "audit"}
SOURCES = ["203.0.113.0/24", "198.51.100.0/24"]
SCHEDULED = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
# A run reads the state table once (the resume cursor and the alerted findings: one Query).
STATE_READ = 1
# The PrivateLink check (issue 12): one region-wide DescribeVpcEndpointServiceConfigurations
# the first time an NLB needs deciding; never at steady state.
PRIVATELINK_READ = 1
# The event path's per-LB budget (tests/integration/test_budgets.py).
EVENT_PATH_AWS_BUDGET = 12


@pytest.fixture
def fg(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Frontguard:
    """Enforce mode; the handlers run on this wiring's runtime, so its calls are counted."""
    wired = wire(sandbox, ENFORCE)
    for module in (scan_handler, remediate_handler):
        monkeypatch.setattr(module, "current_runtime", lambda: wired.runtime)
    return wired


def world_open(sandbox: Sandbox, clusters: int, per_kind: int) -> tuple[list[Cluster], int]:
    """``clusters`` clusters, each with ``per_kind`` NLB Services and ALB Ingresses, an
    IngressGroup of 3 and an Ingress of a class with IngressClassParams: all world-open."""
    made: list[Cluster] = []
    lbs = 0
    for index in range(clusters):
        cluster = sandbox.cluster(f"c{index}", cidr=f"10.{index}.0.0/16")
        cluster.bulk_services(per_kind)
        cluster.bulk_ingresses(per_kind)
        cluster.ingress_group("shared", members=["a/one", "b/two", "c/three"], ports=[443])
        cluster.ingress_class_params("restricted", spec={"inboundCIDRs": ["203.0.113.0/24"]})
        cluster.ingress_class("alb-restricted", params="restricted")
        cluster.ingress("shop/web", ingress_class="alb-restricted", ports=[443])
        made.append(cluster)
        lbs += 2 * per_kind + 2
    return made, lbs


def digests(fg: Frontguard) -> list[dict[str, Any]]:
    return [a for a in fg.alerts() if a.get("outcome") == "scan-digest"]


def finding_records(sandbox: Sandbox) -> set[str]:
    items = sandbox.client("dynamodb").scan(TableName=STATE_TABLE)["Items"]
    return {i["sk"]["S"] for i in items if i["pk"]["S"] == "finding"}


def test_first_audit_scan_costs_a_read_plus_batched_state_and_one_digest(sandbox):
    fg = wire(sandbox, AUDIT)
    clusters, lbs = world_open(sandbox, clusters=3, per_kind=20)
    fg.reset_counts()

    report = run_scan(fg.runtime)

    findings = len(report.open_findings)
    assert findings == lbs == 3 * 42
    assert set(report.by_outcome()) == {"audit-finding"}
    calls = fg.aws_calls
    # Nothing per load balancer: no listener reads, no single writes, no per-LB alerts.
    assert calls["elbv2.DescribeListeners"] == 0
    assert calls["dynamodb.PutItem"] == 0
    assert calls["sns.Publish"] == 1
    assert calls["dynamodb.BatchWriteItem"] == math.ceil(findings / 25)
    assert calls["dynamodb.Query"] == STATE_READ
    steady = steady_state_minimum_aws_calls(lbs, lbs, clusters=3) + STATE_READ
    assert calls["ec2.DescribeVpcEndpointServiceConfigurations"] == PRIVATELINK_READ
    assert sum(calls.values()) <= steady + math.ceil(findings / 25) + 1 + PRIVATELINK_READ, calls
    # Kubernetes: the steady state's two lists per cluster, plus the class lookups once per
    # cluster (IngressClasses, and IngressClassParams because one class references them).
    assert fg.kube_calls() == {"GET": 3 * (2 + 2)}
    assert fg.mutating_aws_calls() == {} and fg.mutating_kube_calls() == 0

    [digest] = digests(fg)
    assert digest["new"] == findings and digest["fixed"] == 0
    assert digest["by_outcome"] == {"audit-finding": findings}
    assert digest["by_cluster"] == {c.name: {"audit-finding": 42} for c in clusters}
    # The per-LB detail is in the JSON body: the plan, restricted where the owner restricts.
    [web] = [
        f for f in digest["findings"] if f["owner"] == "ingress/shop/web" and f["cluster"] == "c0"
    ]
    assert web["planned_rules"] == ["tcp/443 from 203.0.113.0/24"]
    assert len(digest["subject"]) <= 100
    assert len(finding_records(sandbox)) == findings


def test_listener_ports_come_from_the_controllers_sg_else_one_read(sandbox):
    fg = wire(sandbox, AUDIT)
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[80, 8443])
    prod.service("shop/dns", ports=[("UDP", 53), ("TCP", 53), ("TCP", 853)])
    # The owner named its own SG: no managed SG states the ports, so the engine reads them.
    team = sandbox.client("ec2").create_security_group(
        GroupName="team", Description="team", VpcId=prod.vpc_id
    )["GroupId"]
    prod.service(
        "shop/custom",
        ports=[("TCP", 9443)],
        annotations={"service.beta.kubernetes.io/aws-load-balancer-security-groups": team},
    )
    fg.reset_counts()

    report = run_scan(fg.runtime)

    assert fg.aws_calls["elbv2.DescribeListeners"] == 1  # shop/custom only
    planned = {f["owner"]: f["planned_rules"] for f in digests(fg)[0]["findings"]}
    assert planned["ingress/shop/web"] == [
        f"tcp/{port} from {cidr}" for port in (80, 8443) for cidr in sorted(SOURCES)
    ]
    assert planned["service/shop/dns"] == sorted(
        f"{proto}/{port} from {cidr}"
        for proto, port in (("tcp", 53), ("udp", 53), ("tcp", 853))
        for cidr in SOURCES
    )
    assert planned["service/shop/custom"] == [f"tcp/9443 from {cidr}" for cidr in sorted(SOURCES)]
    assert len(report.items) == 3


def test_digest_across_runs_new_then_silent_then_fixed(sandbox):
    fg = wire(sandbox, AUDIT)
    prod = sandbox.cluster("prod")
    owned = prod.bulk_services(4)
    prod.service("legacy/api", security_groups=False)

    run_scan(fg.runtime)
    fg.reset_counts()
    run_scan(fg.runtime)  # the same five findings, within the alert period

    assert len(digests(fg)) == 1
    assert fg.aws_calls["sns.Publish"] == 0
    assert fg.aws_calls["dynamodb.BatchWriteItem"] == 0

    seed_remediated(prod, owned[:2], SOURCES)
    run_scan(fg.runtime)

    first, fixed = digests(fg)
    assert [f["status"] for f in first["findings"]] == ["new"] * 5
    assert first["findings"][0]["outcome"] == "needs-recreation"  # worst first
    assert (fixed["new"], fixed["fixed"], fixed["still_open"]) == (0, 2, 3)
    assert {f["load_balancer_arn"] for f in fixed["fixed_findings"]} == {
        o.lb_arn for o in owned[:2]
    }
    assert len(finding_records(sandbox)) == 3


def test_a_finding_the_event_path_alerted_is_not_new_in_the_digest(sandbox):
    fg = wire(sandbox, AUDIT)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web")
    fg.deliver(web.event)  # alerted on its own: audit-finding
    prod.ingress("shop/api")

    run_scan(fg.runtime)

    [digest] = digests(fg)
    status = {f["owner"]: f["status"] for f in digest["findings"]}
    assert status == {"ingress/shop/web": "still-open", "ingress/shop/api": "new"}
    assert [a["outcome"] for a in fg.alerts()].count("audit-finding") == 1


def test_alert_repeats_once_the_period_is_over(sandbox):
    fg = wire(sandbox, {**AUDIT, "alert_period_hours": 1 / 3600})
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web")
    run_scan(fg.runtime)
    import time

    time.sleep(1.1)
    run_scan(fg.runtime)

    assert [d["new"] for d in digests(fg)] == [1, 1]


def test_a_failed_digest_publish_leaves_no_record_that_would_suppress_the_next(sandbox):
    faults = AwsFaults()
    fg = wire(sandbox, AUDIT, before_send=faults)
    prod = sandbox.cluster("prod")
    prod.bulk_ingresses(3)
    faults.fail("sns.Publish", "access-denied")

    with pytest.raises(Exception, match="publish scan digest"):
        run_scan(fg.runtime)
    assert finding_records(sandbox) == set()

    faults.clear()
    run_scan(fg.runtime)
    [digest] = digests(fg)
    assert digest["new"] == 3


def test_first_enforce_scan_queues_and_the_remediation_handler_applies(sandbox, fg, handler_env):
    clusters, lbs = world_open(sandbox, clusters=2, per_kind=6)
    fg.reset_counts()

    result = scan_handler.handler(SCHEDULED, FakeLambdaContext())

    assert result["remediations_queued"] == lbs and result["complete"]
    # The scan decided without changing anything, at the cost of a read.
    assert fg.mutating_aws_calls() == {} and fg.mutating_kube_calls() == 0
    assert fg.aws_calls["elbv2.DescribeListeners"] == 0
    assert fg.aws_calls["sqs.SendMessageBatch"] == math.ceil(lbs / 10)
    [digest] = digests(fg)
    assert digest["by_outcome"] == {"remediation-queued": lbs}
    assert digest["remediations_queued"] == lbs

    records = fg.remediation_messages()
    assert len(records) == lbs
    malformed = {**records[0], "messageId": "bad", "body": "{not json"}
    fg.reset_counts()
    response = remediate_handler.handler({"Records": [*records, malformed]}, FakeLambdaContext())

    # Only the malformed record comes back (it retries, then lands in the DLQ).
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    # Per remediated LB no more than the event path's budget; no per-LB SNS alert.
    assert sum(fg.aws_calls.values()) <= EVENT_PATH_AWS_BUDGET * lbs
    assert fg.aws_calls["sns.Publish"] == 0
    for cluster in clusters:
        cluster.lbc.reconcile()

    again = scan_handler.handler(SCHEDULED, FakeLambdaContext())
    assert again["by_outcome"] == {"compliant": lbs}
    fixed = digests(fg)[-1]
    assert (fixed["fixed"], fixed["new"], fixed["still_open"]) == (lbs, 0, 0)


def test_an_invocation_out_of_time_saves_a_cursor_and_the_next_resumes(sandbox):
    fg = wire(sandbox, AUDIT)
    prod, dev = sandbox.cluster("prod"), sandbox.cluster("dev", cidr="10.1.0.0/16")
    prod.bulk_ingresses(6)
    dev.bulk_services(6)
    budget = Counter[str]()

    def time_left() -> float:  # plenty for the first 8 LBs, then out of time
        budget["asked"] += 1
        return 600.0 if budget["asked"] <= 8 else 10.0

    first = run_scan(fg.runtime, time_left=time_left)

    assert not first.complete and len(first.items) == 8
    assert digests(fg) == []  # one digest per run: not yet
    assert "~cursor" in finding_records(sandbox)
    fg.reset_counts()

    second = run_scan(fg.runtime)

    assert second.complete and len(second.items) == 4  # only what was left
    assert {i.load_balancer_arn for i in first.items}.isdisjoint(
        {i.load_balancer_arn for i in second.items}
    )
    assert fg.runtime.connector("dev").calls == {}  # the finished cluster is not listed again
    [digest] = digests(fg)
    assert digest["new"] == 12 and digest["invocations"] == 2
    assert digest["by_cluster"] == {"dev": {"audit-finding": 6}, "prod": {"audit-finding": 6}}
    assert "~cursor" not in finding_records(sandbox)
    assert not any(key.startswith("run|") for key in finding_records(sandbox))
    assert json.loads(json.dumps(digest))  # plain JSON


def test_an_invocation_out_of_time_before_its_first_lb_saves_nothing_and_the_next_starts_over(
    sandbox,
):
    """A run that had no time for even one load balancer has nothing to resume from: it
    writes no cursor (it used to fail on an assertion) and the next invocation does it all."""
    fg = wire(sandbox, AUDIT)
    sandbox.cluster("prod").bulk_ingresses(3)

    first = run_scan(fg.runtime, time_left=lambda: 10.0)

    assert not first.complete and first.items == []
    assert "~cursor" not in finding_records(sandbox) and digests(fg) == []
    second = run_scan(fg.runtime)
    assert second.complete and len(second.items) == 3
    [digest] = digests(fg)
    assert digest["new"] == 3


def test_a_run_over_several_invocations_lists_every_invocations_changes(sandbox, fg):
    """Issue 22 item 2: the digest of a resumed run itemises the changes of every invocation,
    not only the last one's; the saved entries are deleted with the run's other records."""
    prod = sandbox.cluster("prod")
    prod.bulk_ingresses(6)
    budget = Counter[str]()

    def time_left() -> float:  # time for 4 LBs, then out of time
        budget["asked"] += 1
        return 600.0 if budget["asked"] <= 4 else 10.0

    first = run_scan(fg.runtime, time_left=time_left)
    assert not first.complete and len(first.items) == 4
    assert sum(key.startswith("change|") for key in finding_records(sandbox)) == 4

    second = run_scan(fg.runtime)

    assert second.complete and len(second.items) == 2
    [digest] = digests(fg)
    assert digest["changed"] == 6 and len(digest["changes"]) == 6
    assert {c["load_balancer_arn"] for c in digest["changes"]} == {
        i.load_balancer_arn for i in (*first.items, *second.items)
    }
    assert not any(key.startswith("change|") for key in finding_records(sandbox))


def test_a_saved_change_of_another_shape_is_left_out_not_half_shown(sandbox, fg, caplog):
    """A saved change entry that is not what frontguard writes (an older shape, a hand edit)
    is logged and left out of the digest; the run's other changes are listed."""
    sandbox.cluster("prod").bulk_ingresses(4)
    budget = Counter[str]()

    def time_left() -> float:  # time for 2 LBs, then out of time
        budget["asked"] += 1
        return 600.0 if budget["asked"] <= 2 else 10.0

    run_scan(fg.runtime, time_left=time_left)
    [key] = [k for k in finding_records(sandbox) if k.startswith("change|")][:1]
    sandbox.client("dynamodb").update_item(
        TableName=STATE_TABLE,
        Key={"pk": {"S": "finding"}, "sk": {"S": key}},
        UpdateExpression="SET entry = :entry",
        ExpressionAttributeValues={":entry": {"S": json.dumps({"change": 7})}},
    )

    with caplog.at_level("WARNING", logger="frontguard"):
        run_scan(fg.runtime)

    [digest] = digests(fg)
    assert digest["changed"] == 3 and key.removeprefix("change|") not in {
        c["load_balancer_arn"] for c in digest["changes"]
    }
    assert any(r.getMessage() == "saved scan change unreadable: left out" for r in caplog.records)


def test_a_digest_beyond_the_size_limit_is_cut_and_the_rest_logged(sandbox, monkeypatch, caplog):
    from frontguard.engine import digest as digest_module

    monkeypatch.setattr(digest_module, "MESSAGE_BUDGET", 8 * 1024)  # SNS's 256 KB, scaled down
    fg = wire(sandbox, AUDIT)
    sandbox.cluster("prod").bulk_ingresses(40)

    with caplog.at_level("INFO", logger="frontguard"):
        run_scan(fg.runtime)

    [digest] = digests(fg)
    shown = len(digest["findings"])
    assert 0 < shown < 40
    assert digest["omitted"]["findings"] == 40 - shown and digest["new"] == 40
    logged = [
        r for r in caplog.records if r.getMessage() == "digest finding beyond the message size"
    ]
    assert len(logged) == 40 - shown
    assert len(finding_records(sandbox)) == 40  # every finding is recorded as alerted


def alert_keys(report: Any) -> set[str]:
    return {f"{i.load_balancer_arn}|{i.outcome.value}" for i in report.open_findings}


def test_state_writes_dynamodb_left_unprocessed_are_written_on_retry(sandbox):
    partial = PartialBatches("dynamodb.BatchWriteItem", drop=5, times=1)
    fg = wire(sandbox, AUDIT, before_send=partial)
    world_open(sandbox, clusters=1, per_kind=14)  # 30 findings: two batches of state writes
    fg.reset_counts()

    report = run_scan(fg.runtime)

    findings = len(report.open_findings)
    assert partial.dropped == 5
    assert alert_keys(report) <= finding_records(sandbox)
    # The unprocessed remainder is one more call, not a rewrite of the whole batch.
    assert fg.aws_calls["dynamodb.BatchWriteItem"] == math.ceil(findings / 25) + 1
    run_scan(fg.runtime)
    assert len(digests(fg)) == 1  # the next run knows every finding: nothing new to send


def test_state_writes_dynamodb_keeps_refusing_fail_the_run_and_its_retry_writes_them(sandbox):
    partial = PartialBatches("dynamodb.BatchWriteItem", drop=5, times=None)
    fg = wire(sandbox, AUDIT, before_send=partial)
    world_open(sandbox, clusters=1, per_kind=4)

    with pytest.raises(RetryableError, match="finding records were not written"):
        run_scan(fg.runtime)
    # Never reported as written: the run fails (the scan's queue retries it), and the retry
    # writes what was left (at worst those findings are announced once more, never lost).
    partial.times = 0
    report = run_scan(fg.runtime)
    assert alert_keys(report) <= finding_records(sandbox)


def test_remediation_requests_sqs_refused_are_sent_again_and_queued_once(sandbox):
    partial = PartialBatches("sqs.SendMessageBatch", drop=3, times=1)
    fg = wire(sandbox, ENFORCE, before_send=partial)
    _, lbs = world_open(sandbox, clusters=1, per_kind=9)  # 20 LBs: two batches of 10
    fg.reset_counts()

    report = run_scan(fg.runtime)

    assert report.complete
    queued = [json.loads(m["body"])["load_balancer_arn"] for m in fg.remediation_messages()]
    assert len(queued) == len(set(queued)) == lbs
    assert partial.dropped == 3
    assert fg.aws_calls["sqs.SendMessageBatch"] == math.ceil(lbs / 10) + 1


def test_remediation_requests_sqs_keeps_refusing_fail_the_run_and_none_is_lost(sandbox):
    partial = PartialBatches("sqs.SendMessageBatch", drop=3, times=None)
    fg = wire(sandbox, ENFORCE, before_send=partial)
    _, lbs = world_open(sandbox, clusters=1, per_kind=9)

    with pytest.raises(RetryableError, match="SQS refused 3 remediation requests"):
        run_scan(fg.runtime)
    partial.times = 0
    run_scan(fg.runtime)
    queued = {json.loads(m["body"])["load_balancer_arn"] for m in fg.remediation_messages()}
    assert len(queued) == lbs  # every LB queued (the consumer is idempotent for repeats)


class CountdownContext(FakeLambdaContext):
    """A Lambda context whose time left drops by ``step_ms`` each time it is asked."""

    def __init__(self, remaining_ms: int, step_ms: int) -> None:
        super().__init__(remaining_ms=remaining_ms)
        self.step_ms = step_ms

    def get_remaining_time_in_millis(self) -> int:
        left = self.remaining_ms
        self.remaining_ms -= self.step_ms
        return left


def test_records_without_time_left_go_back_to_the_queue_unstarted(sandbox, fg, handler_env):
    """Issue 22 item 4: the Remediate function checks the time left before each record; the
    records it cannot finish in time come back as batch item failures, unstarted."""
    _, lbs = world_open(sandbox, clusters=1, per_kind=2)
    scan_handler.handler(SCHEDULED, FakeLambdaContext())
    records = fg.remediation_messages()
    assert len(records) == lbs
    fg.reset_counts()

    # 120 s at the first record, 40 s less at each next one: two fit the 50 s budget.
    response = remediate_handler.handler(
        {"Records": records}, CountdownContext(remaining_ms=120_000, step_ms=40_000)
    )

    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [r["messageId"] for r in records[2:]]
    assert fg.kube_calls()  # the first two were repaired
    patched_after = fg.mutating_kube_calls()
    fg.reset_counts()
    none_left = remediate_handler.handler(
        {"Records": records[2:]}, FakeLambdaContext(remaining_ms=10_000)
    )
    assert len(none_left["batchItemFailures"]) == lbs - 2
    assert fg.aws_calls == {} and fg.kube_calls() == {}  # unstarted: nothing read or changed
    assert patched_after > 0


def test_the_digest_itemises_each_change_with_what_was_open_and_a_foreign_sg(
    sandbox, fg, handler_env
):
    """Issue 22 item 2: with the events lost, the hourly scan's digest lists per LB what
    frontguard changes (the repair it queued), what was open, the exposure, the actor it can
    know ("unknown": a scan reads no CloudTrail) and ``detected_by: scan``; a foreign SG
    attached next to frontguard's is one of those changes, not a log line."""
    prod = sandbox.cluster("prod")
    guarded = prod.ingress("shop/guarded", ports=[443])
    fg.deliver(guarded.event)
    prod.lbc.reconcile()
    fg.run_verifications()
    ec2, elbv2 = sandbox.client("ec2"), sandbox.client("elbv2")
    foreign = ec2.create_security_group(
        GroupName="someone-elses", Description="attached by hand", VpcId=prod.vpc_id
    )["GroupId"]
    current = elbv2.describe_load_balancers(LoadBalancerArns=[guarded.lb_arn])["LoadBalancers"]
    elbv2.set_security_groups(  # its SetSecurityGroups event is lost
        LoadBalancerArn=guarded.lb_arn, SecurityGroups=[*current[0]["SecurityGroups"], foreign]
    )
    lost = prod.ingress("shop/lost", ports=[443])  # its CreateLoadBalancer event is lost

    scan_handler.handler(SCHEDULED, FakeLambdaContext())

    [digest] = digests(fg)
    changes = {c["load_balancer_arn"]: c for c in digest["changes"]}
    assert digest["changed"] == 2 and set(changes) == {guarded.lb_arn, lost.lb_arn}
    new = changes[lost.lb_arn]
    assert new["change"] == "repair queued" and new["owner"] == "ingress/shop/lost"
    assert new["was_open"] == ["443 from 0.0.0.0/0 (the controller's rule for the owner)"]
    assert new["exposure_seconds"] >= 0
    assert (new["actor"], new["detected_by"]) == ("unknown", "scan")
    attached = changes[guarded.lb_arn]
    assert attached["change"] == f"drift repair queued: foreign SG {foreign}"
    assert attached["was_open"] == [f"{foreign} attached next to frontguard's SG"]
    assert "exposure_seconds" not in attached  # when a drift began, a scan cannot know
    email = fg.alert_emails()[-1]
    assert f"drift repair queued: foreign SG {foreign}" in email
    assert "detected by: scan" in email

    # The Remediate function applies both; the foreign SG is gone once the controller
    # reconciles (it puts back exactly the owner's list).
    remediate_handler.handler({"Records": fg.remediation_messages()}, FakeLambdaContext())
    prod.lbc.reconcile()
    after = elbv2.describe_load_balancers(LoadBalancerArns=[guarded.lb_arn])["LoadBalancers"]
    assert foreign not in after[0]["SecurityGroups"]
