"""Duplicates and races: many concurrent deliveries for one IngressGroup, and a scan running
while events arrive, end with one SG and identical annotations."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import kubernetes.client  # noqa: F401 - imported once before threads race to import it lazily

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, wire
from tests.reliability.conftest import Record
from tests.reliability.faults import deliver, frontguard_groups, half_applied

AREA = "Concurrency"
SG = "alb.ingress.kubernetes.io/security-groups"
MEMBERS = [f"team-{i}/app-{i}" for i in range(5)]


def test_fifty_concurrent_events_for_one_ingress_group_end_with_one_sg(
    sandbox: Sandbox, record: Record
):
    prod = sandbox.cluster("prod")
    group = prod.ingress_group("shared", members=MEMBERS, ports=[443])
    containers = [wire(sandbox, ENFORCE) for _ in range(10)]  # Lambda scales out to containers

    with ThreadPoolExecutor(max_workers=50) as pool:
        deliveries = list(
            pool.map(
                lambda i: deliver(containers[i % len(containers)], copy.deepcopy(group.event)),
                range(50),
            )
        )

    # Judged once every thread is done: a concurrent delivery may have sent the alert.
    alerted = {a["outcome"] for a in containers[0].alerts()}
    lost = [d for d in deliveries if d.lost and d.observed.split(":")[1] not in alerted]
    observed = sorted({d.observed.replace("silent:", "alert:") for d in deliveries})
    half = half_applied(sandbox, claimed_success=True)
    groups = frontguard_groups(sandbox)
    values = {obj["metadata"]["annotations"].get(SG) for obj in group.objects}
    record(
        AREA,
        "50 concurrent deliveries for a 5-member IngressGroup",
        "one SG, identical annotations, no loss",
        f"{len(groups)} SG, {len(values)} annotation value(s), outcomes {observed}",
        lost=len(lost),
        half_applied=half,
    )
    assert len(groups) == 1
    assert values == {groups[0]["GroupId"]}
    assert half == []
    assert lost == []
    assert "alert:error" not in observed  # concurrent converges of one SG are not errors
    prod.lbc.reconcile()
    assert groups[0]["GroupId"] in group.security_groups()


def test_duplicate_deliveries_are_not_mistaken_for_a_patch_loop(sandbox: Sandbox):
    prod = sandbox.cluster("prod")
    group = prod.ingress_group("shared", members=MEMBERS, ports=[443])
    # Four times the policy's loop threshold (3) of concurrent copies: had each counted as a
    # re-patch, the fourth would already end in a false conflict.
    containers = [wire(sandbox, ENFORCE) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        deliveries = list(
            pool.map(
                lambda i: deliver(containers[i % len(containers)], copy.deepcopy(group.event)),
                range(12),
            )
        )
    assert not [d for d in deliveries if "conflict" in d.observed]


def test_scan_running_while_events_arrive_does_not_duplicate_or_fight(
    sandbox: Sandbox, record: Record
):
    from frontguard.handlers.scan_flow import run_scan

    prod = sandbox.cluster("prod")
    owned = [prod.ingress(f"shop/web-{i}", ports=[443]) for i in range(6)]
    scanner, events = wire(sandbox, ENFORCE), wire(sandbox, ENFORCE)

    with ThreadPoolExecutor(max_workers=8) as pool:
        scan = pool.submit(run_scan, scanner.runtime)
        deliveries = list(pool.map(lambda o: deliver(events, o.event), owned))
        report = scan.result()

    half = half_applied(sandbox, claimed_success=True)
    groups = frontguard_groups(sandbox)
    per_lb = {
        next(t["Value"] for t in g["Tags"] if t["Key"] == "frontguard.io/load-balancer")
        for g in groups
    }
    again = run_scan(wire(sandbox, ENFORCE).runtime)
    record(
        AREA,
        "scheduled scan concurrent with 6 events",
        "one SG per LB, second scan all compliant",
        f"{len(groups)} SGs for {len(per_lb)} LBs; second scan {dict(again.by_outcome())}",
        lost=sum(d.lost for d in deliveries),
        half_applied=half,
    )
    assert len(groups) == len(per_lb) == len(owned)
    assert half == []
    assert not any(d.lost for d in deliveries)
    assert report.items
    assert dict(again.by_outcome()) == {"compliant": len(owned)}
