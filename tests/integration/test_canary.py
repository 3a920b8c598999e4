"""`frontguard canary` in the sandbox: the simulated controller builds the canary's load
balancer, frontguard acts on it through its real paths, and the canary measures what happened
on a simulated clock (sandbox.canary_world), for each kind of owner and each path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from frontguard.canary.owners import CANARY_LABEL, Kind
from frontguard.canary.probe import Canary, CanaryClients, CanarySettings
from frontguard.canary.report import CanaryReport, Status
from frontguard.cli import main
from frontguard.engine.sweep import sweep
from frontguard.runtime import ClusterConnector

from sandbox import Sandbox
from sandbox.canary_world import CanaryWorld, canary_alerts_queue
from sandbox.kube import GATEWAYS, HTTP_ROUTES, INGRESSES, LB_CONFIGURATIONS, SERVICES
from sandbox.scenario import Cluster, ControllerOptions
from sandbox.wiring import ENFORCE, wire
from tests.reliability.faults import AwsFaults

NAMESPACE = "frontguard-canary"
POLICY = {**ENFORCE, "cleanup_grace_hours": 0}


def world_for(sandbox: Sandbox, *, fail_closed: bool = False, **options: Any) -> CanaryWorld:
    prod = sandbox.cluster(
        "prod", controller=ControllerOptions(deny_managed_security_groups=fail_closed)
    )
    prod.gateway_class("alb", lb="alb")
    fg = wire(sandbox, POLICY)
    return CanaryWorld(fg, prod, **options)


def canary(world: CanaryWorld, kind: Kind, **settings: Any) -> Canary:
    sandbox = world.frontguard.sandbox
    connector = ClusterConnector(sandbox.client("eks"), sandbox.client("sts"))
    clients = CanaryClients(
        kube=connector("prod"),
        elbv2=sandbox.client("elbv2"),
        ec2=sandbox.client("ec2"),
        tagging=sandbox.client("resourcegroupstaggingapi"),
        sqs=sandbox.client("sqs"),
        alerts_queue_url=canary_alerts_queue(world.frontguard, NAMESPACE),
    )
    return Canary(
        CanarySettings(cluster="prod", kind=kind, namespace=NAMESPACE, **settings),
        clients,
        clock=world,
    )


def statuses(report: CanaryReport) -> dict[str, str]:
    return {s.name: s.status.value for s in report.stages}


def leftovers(cluster: Cluster) -> list[str]:
    return [
        o["metadata"]["name"]
        for resource in (SERVICES, INGRESSES, GATEWAYS, HTTP_ROUTES, LB_CONFIGURATIONS)
        for o in cluster.kube.list_objects(resource, NAMESPACE)
    ]


def load_balancers(sandbox: Sandbox) -> list[str]:
    return [
        lb["LoadBalancerArn"]
        for lb in sandbox.client("elbv2").describe_load_balancers()["LoadBalancers"]
    ]


@pytest.mark.parametrize("kind", list(Kind))
def test_event_delivered_the_canary_measures_seconds_and_the_event_path(sandbox, kind):
    world = world_for(sandbox)

    report = canary(world, kind).run()

    assert report.ok, report.as_dict()
    assert statuses(report) == {
        "leftovers": "passed",
        "owner": "passed",
        "load-balancer": "passed",
        "protection": "passed",
        "alert": "passed",
        "verification": "passed",
        "cleanup": "passed",
    }
    assert report.alert == "remediated" and report.verification == "verified"
    assert report.path == "event"  # the alert's detected_by
    assert not report.born_protected
    # Created at the first step (5 s); its record delivered and acted on at the next (10 s).
    assert report.exposure_seconds == 5
    assert report.security_group_id and report.security_group_id.startswith("sg-")
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


@pytest.mark.parametrize("kind", list(Kind))
def test_event_lost_the_scan_bounds_the_exposure_and_the_canary_reports_the_silent_repair(
    sandbox, kind
):
    """CloudTrail's event lost: the scheduled scan (every 60 s here) repairs the load balancer,
    so the exposure is bounded by its period; it repairs silently (no per-LB alert: issue 22),
    and the canary says so: its alert stage fails."""
    world = world_for(sandbox, deliver_events=False, backstop_seconds=60)

    report = canary(world, kind).run()

    assert world.backstop_runs >= 1
    # The load balancer appeared at 5 s; the backstop ran at 60 s.
    assert report.exposure_seconds == 55
    stages = statuses(report)
    assert stages["protection"] == "passed" and stages["verification"] == "passed"
    assert stages["alert"] == "failed" and not report.ok
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


@pytest.mark.parametrize("kind", list(Kind))
def test_event_lost_the_sweep_bounds_the_exposure_and_says_so(sandbox, kind):
    """CloudTrail's event lost, the sweep every 60 s (issue 22): exposure bounded by its
    period, and its alert (detected_by sweep) tells the canary which path acted."""
    world = world_for(sandbox, deliver_events=False, backstop_seconds=60)
    engine = world.frontguard.runtime.engine
    assert engine.state is not None
    state = engine.state
    sweep(engine, state)  # the deployment's sweeps ran before the canary: the baseline
    world.backstop = lambda: sweep(engine, state)

    report = canary(world, kind).run()

    assert report.ok, report.as_dict()
    assert report.exposure_seconds == 55
    assert report.path == "sweep" and report.alert == "remediated"
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


@pytest.mark.parametrize("kind", list(Kind))
def test_fail_closed_the_load_balancer_is_born_behind_frontguards_sg(sandbox, kind):
    world = world_for(sandbox, fail_closed=True)

    report = canary(world, kind).run()

    assert report.ok, report.as_dict()
    assert report.born_protected and report.exposure_seconds == 0
    assert report.path == "fail-closed"
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


def test_no_load_balancer_fails_the_stage_with_the_cause_and_cleans_up(sandbox):
    world = world_for(sandbox, controller_running=False)

    report = canary(world, Kind.INGRESS, timeout_seconds=120, cleanup_seconds=30).run()

    assert not report.ok
    stage = report.stage("load-balancer")
    assert stage is not None and stage.status is Status.FAILED
    assert "created no load balancer" in stage.detail and "Controller" in stage.fix
    assert report.stage("protection") is None  # nothing measured after the failure
    assert leftovers(world.cluster) == []
    assert (world.clock - report.started_at).total_seconds() <= 120


def test_frontguard_denied_in_the_cluster_fails_protection_and_says_what_it_saw(sandbox):
    world = world_for(sandbox)
    # frontguard's patches are refused (its access entry or RBAC removed); the canary's own
    # requests go through.
    world.cluster.kube.inject(lambda method, path, headers: 403 if method == "PATCH" else None)

    report = canary(world, Kind.SERVICE, timeout_seconds=120, cleanup_seconds=30).run()

    stage = report.stage("protection")
    assert stage is not None and stage.status is Status.FAILED
    assert "frontguard's alert says error" in stage.detail
    assert "frontguard doctor" in stage.fix
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


def test_a_timeout_is_bounded_and_still_cleans_up(sandbox):
    world = world_for(sandbox, deliver_events=False, backstop_seconds=3600)

    report = canary(world, Kind.INGRESS, timeout_seconds=90, cleanup_seconds=30).run()

    stage = report.stage("protection")
    assert stage is not None and stage.status is Status.FAILED
    assert "no alert from frontguard either" in stage.detail
    assert (world.clock - report.started_at).total_seconds() <= 90
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


def test_an_interrupted_run_is_cleaned_up_by_the_next_one(sandbox):
    world = world_for(sandbox)
    interrupted = canary(world, Kind.INGRESS)
    for path, body in interrupted.owner.objects:  # created, then the process was killed
        interrupted.clients.kube.create(path, body)
    world.tick()
    assert len(load_balancers(sandbox)) == 1

    report = canary(world, Kind.SERVICE).run()

    assert report.ok, report.as_dict()
    stage = report.stage("leftovers")
    assert stage is not None and stage.status is Status.WARNED
    assert sorted(report.leftovers_removed) == sorted(
        f"{p.collection.rsplit('/', 1)[-1]}/{p.name}" for p, _ in interrupted.owner.objects
    )
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


def test_the_canarys_objects_carry_its_label_and_no_workload(sandbox):
    world = world_for(sandbox)
    run = canary(world, Kind.GATEWAY)
    for path, body in run.owner.objects:
        assert body["metadata"]["labels"][CANARY_LABEL] == run.report.run_id
        assert path.namespace == NAMESPACE
        assert "selector" not in body.get("spec", {})


def test_ctrl_c_midway_still_deletes_the_owner(sandbox):
    world = world_for(sandbox)
    run = canary(world, Kind.INGRESS)

    def interrupt(what: str, seconds: float) -> None:
        if "frontguard's security group" in what:
            raise KeyboardInterrupt

    run.progress = interrupt
    world.deliver_events = False  # so that the canary has to wait for protection

    with pytest.raises(KeyboardInterrupt):
        run.run()

    cleanup = run.report.stage("cleanup")
    assert cleanup is not None and cleanup.status is Status.PASSED
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []


def test_the_command_line_reports_a_failed_stage_and_exits_1(sandbox, capsys):
    """The CLI on the real clock: a cluster whose controller never builds the canary's load
    balancer (here: not reconciling at all) fails within --timeout and leaves nothing."""
    prod = sandbox.cluster("prod")
    wire(sandbox, POLICY)

    code = main(
        ["canary", "--cluster", "prod", "--timeout", "2", "--poll", "0.5", "--output", "json"]
    )
    report = json.loads(capsys.readouterr().out)

    assert code == 1
    assert report["ok"] is False
    assert [s["stage"] for s in report["stages"]] == [
        "leftovers",
        "owner",
        "load-balancer",
        "cleanup",
    ]
    failed = next(s for s in report["stages"] if s["stage"] == "load-balancer")
    assert failed["status"] == "failed" and failed["fix"]
    assert leftovers(prod) == []


def test_the_command_line_table_names_each_stage_and_the_fix(sandbox, capsys):
    sandbox.cluster("prod")
    wire(sandbox, POLICY)

    code = main(
        ["canary", "--cluster", "prod", "--kind", "service", "--timeout", "2", "--poll", "1"]
    )
    out = capsys.readouterr().out

    assert code == 1
    assert "frontguard canary: service frontguard-canary/frontguard-canary-" in out
    assert "FAIL" in out and "fix: Check that the AWS Load Balancer Controller runs" in out
    assert "result:        FAILED" in out


@pytest.mark.parametrize(
    ("status", "fix"),
    [(403, "Grant the canary create/delete"), (404, "Create the namespace")],
)
def test_an_owner_the_cluster_refuses_fails_with_the_fix(sandbox, status, fix):
    world = world_for(sandbox)
    world.cluster.kube.inject(lambda method, path, headers: status if method == "POST" else None)

    report = canary(world, Kind.INGRESS).run()

    stage = report.stage("owner")
    assert stage is not None and stage.status is Status.FAILED
    assert stage.fix.startswith(fix)
    assert [s.name for s in report.stages] == ["leftovers", "owner", "cleanup"]
    assert load_balancers(sandbox) == []


def test_an_aws_read_refused_midway_fails_that_stage_and_still_cleans_up(sandbox):
    world = world_for(sandbox)
    run = canary(world, Kind.SERVICE)
    faults = AwsFaults()
    faults.fail("ec2.DescribeSecurityGroups", "access-denied")
    events = run.clients.ec2.meta.events  # the sandbox's shared client: unregister after
    events.register("before-send", faults)
    try:
        report = run.run()
    finally:
        events.unregister("before-send", faults)

    stage = report.stage("protection")
    assert stage is not None and stage.status is Status.FAILED
    assert "stopped by an error" in stage.detail and "ec2:DescribeSecurityGroups" in stage.fix
    cleanup = report.stage("cleanup")
    assert cleanup is not None and cleanup.status is Status.PASSED
    assert leftovers(world.cluster) == [] and load_balancers(sandbox) == []
