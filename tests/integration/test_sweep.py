"""The sweep (engine/sweep.py) through the sandbox: with CloudTrail's events lost, a new
world-open load balancer and a hand-opened rule are repaired by the next sweep, which says
``detected_by: sweep``; a steady account costs a few bulk reads and no Kubernetes call."""

from __future__ import annotations

import kubernetes
import pytest
from frontguard.engine.sweep import sweep

from sandbox import Sandbox
from sandbox.kube import INGRESSES
from sandbox.wiring import ENFORCE, Frontguard, wire

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


def run(fg: Frontguard):
    assert fg.runtime.engine.state is not None
    return sweep(fg.runtime.engine, fg.runtime.engine.state)


def test_the_first_sweep_records_a_baseline_and_changes_nothing(sandbox: Sandbox) -> None:
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])

    report = run(fg)

    assert report.baseline and report.changed == []
    assert fg.mutating_aws_calls() == {} and fg.kube_calls() == {}
    assert fg.alerts() == []


def test_a_new_load_balancer_whose_event_was_lost_is_repaired_by_the_next_sweep(
    sandbox: Sandbox,
) -> None:
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    run(fg)  # baseline
    web = prod.ingress("shop/web", ports=[443])  # its CreateLoadBalancer never arrives

    report = run(fg)

    assert report.outcomes == {web.lb_arn: "remediated"}
    [alert] = fg.alerts()
    assert alert["outcome"] == "remediated" and alert["load_balancer_arn"] == web.lb_arn
    assert alert["detected_by"] == "sweep" and alert["actor"] == "unknown"
    assert alert["planned_rules"] and all("0.0.0.0/0" not in r for r in alert["planned_rules"])
    # What the controller's SG admitted beyond the policy, and for how long so far.
    assert alert["was_open"] == ["443 from 0.0.0.0/0 (the controller's rule for the owner)"]
    assert alert["open_seconds_so_far"] >= 0
    prod.lbc.reconcile()  # the controller attaches frontguard's SG
    fg.run_verifications()
    again = run(fg)  # sees the swap: compliant, nothing to say
    assert again.outcomes == {web.lb_arn: "compliant"}
    assert [a["outcome"] for a in fg.alerts()] == ["remediated"]


def test_a_steady_account_costs_bulk_reads_and_no_kubernetes_call(sandbox: Sandbox) -> None:
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    for index in range(12):
        owned = prod.ingress(f"shop/web{index}", ports=[443])
        fg.deliver(owned.event)
    prod.lbc.reconcile()
    run(fg)  # baseline
    fg.reset_counts()

    report = run(fg)

    assert report.changed == [] and not report.baseline
    # ⌈12/400⌉ DescribeLoadBalancers + ⌈12 SGs/1000⌉ DescribeSecurityGroups + 1 Query; no
    # write when nothing changed; no tags read; no Kubernetes call.
    assert dict(fg.aws_calls) == {
        "elbv2.DescribeLoadBalancers": 1,
        "ec2.DescribeSecurityGroups": 1,
        "dynamodb.Query": 1,
    }
    assert fg.kube_calls() == {}


def test_a_hand_opened_rule_is_found_by_the_next_sweep_and_repaired(sandbox: Sandbox) -> None:
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    run(fg)  # baseline
    ec2 = sandbox.client("ec2")
    [group] = ec2.describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/load-balancer", "Values": [web.lb_arn]}]
    )["SecurityGroups"]
    ec2.authorize_security_group_ingress(  # someone opens it; the drift event is lost
        GroupId=group["GroupId"], IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0"
    )

    report = run(fg)

    assert report.outcomes == {web.lb_arn: "drift"}
    [drift] = [a for a in fg.alerts() if a["outcome"] == "drift"]
    assert drift["detected_by"] == "sweep"
    # What was open, named; who opened it the sweep cannot know (no CloudTrail read).
    assert drift["was_open"] == ["tcp/443 from 0.0.0.0/0 (on frontguard's SG, outside the plan)"]
    assert drift["actor"] == "unknown"
    permissions = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert all(
        r["CidrIp"] != "0.0.0.0/0" for p in permissions["IpPermissions"] for r in p["IpRanges"]
    )


def test_the_scan_function_runs_the_sweep_on_the_rules_input(
    sandbox: Sandbox, fg: Frontguard, handler_env: None
) -> None:
    from frontguard.handlers.scan import handler

    from sandbox.wiring import FakeLambdaContext

    prod = sandbox.cluster("prod")
    event = {"source": "frontguard.sweep", "detail-type": "Sweep", "detail": {}}
    assert handler(event, FakeLambdaContext())["baseline"] is True
    web = prod.ingress("shop/web", ports=[443])

    swept = handler(event, FakeLambdaContext())

    assert swept["outcomes"] == {web.lb_arn: "remediated"}


def test_an_annotation_removed_with_kubectl_is_restored_by_the_next_sweep_naming_the_writer(
    sandbox: Sandbox,
) -> None:
    """Issue 22: the owner's security-groups annotation removed by hand (kubectl's client-side
    apply), its effect (the controller puts its own SG back) seen by the sweep with no event:
    restored, and the alert names the Kubernetes field manager from managedFields."""
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    fg.run_verifications()
    run(fg)  # baseline: frontguard's SG on the LB
    networking = kubernetes.client.NetworkingV1Api(prod.api_client())
    networking.patch_namespaced_ingress(
        "web",
        "shop",
        {
            "metadata": {
                "annotations": {
                    INGRESS_SG: None,
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                }
            }
        },
        field_manager="kubectl-client-side-apply",
    )
    prod.lbc.reconcile()  # the controller builds its own world-open SG again

    report = run(fg)

    assert report.outcomes == {web.lb_arn: "drift"}
    [drift] = [a for a in fg.alerts() if a["outcome"] == "drift"]
    assert drift["detected_by"] == "sweep"
    assert drift["actor"].startswith("kubectl-client-side-apply at ")
    assert drift["was_open"] == ["443 from 0.0.0.0/0 (the controller's rule for the owner)"]
    ingress = prod.kube.get_object(INGRESSES, "shop", "web")
    assert ingress is not None
    assert ingress["metadata"]["annotations"][INGRESS_SG] == drift["security_group_id"]


def test_a_changed_load_balancer_costs_the_sweep_no_more_than_the_event_path(
    sandbox: Sandbox,
) -> None:
    """Issue 22: per changed LB, no more AWS calls than the event path's budget
    (tests/integration/test_budgets.py), on top of the steady sweep's bulk reads."""
    from tests.integration.test_first_scan import EVENT_PATH_AWS_BUDGET

    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    run(fg)  # baseline
    fg.reset_counts()
    run(fg)
    steady = sum(fg.aws_calls.values())
    prod.ingress("shop/web", ports=[443])  # its event is lost
    fg.reset_counts()

    report = run(fg)

    assert list(report.outcomes.values()) == ["remediated"]
    assert sum(fg.aws_calls.values()) - steady <= EVENT_PATH_AWS_BUDGET


def test_fingerprints_beyond_one_item_are_sharded_and_read_in_one_query(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB holds 400 KB per item (about 17,000 load balancers' fingerprints): past
    ``SHARD_LOAD_BALANCERS`` the sweep keeps them in several items, read by one Query, and a
    change is still found in whichever shard holds its load balancer."""
    from frontguard.engine import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "SHARD_LOAD_BALANCERS", 5)
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    owned = [prod.ingress(f"shop/web{index}", ports=[443]) for index in range(12)]
    for item in owned:
        fg.deliver(item.event)
    prod.lbc.reconcile()
    run(fg)  # baseline
    state = fg.runtime.engine.state
    assert state is not None
    assert len(state.load_blobs(sweep_module.STATE_KEY)) == 3  # ⌈12/5⌉
    fg.reset_counts()
    assert run(fg).changed == []
    assert fg.aws_calls["dynamodb.Query"] == 1 and fg.aws_calls["dynamodb.PutItem"] == 0

    lost = prod.ingress("shop/lost", ports=[443])  # 13 LBs now: still 3 shards, rewritten
    report = run(fg)

    assert report.outcomes == {lost.lb_arn: "remediated"}
    assert len(state.load_blobs(sweep_module.STATE_KEY)) == 3
    assert run(fg).changed == []  # every fingerprint, in every shard, was kept


def test_an_annotation_pointed_at_the_owners_own_sg_names_that_sg_as_what_was_open(
    sandbox: Sandbox,
) -> None:
    """The owner's annotation set back to their own SG (``kubectl edit``): the controller
    attaches that SG instead of creating its own, so the alert names it, not the controller's
    default rules."""
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    fg.run_verifications()
    run(fg)  # baseline
    own = sandbox.client("ec2").create_security_group(
        GroupName="team-legacy", Description="the team's old SG", VpcId=prod.vpc_id
    )["GroupId"]
    kubernetes.client.NetworkingV1Api(prod.api_client()).patch_namespaced_ingress(
        "web",
        "shop",
        {"metadata": {"annotations": {INGRESS_SG: own}}},
        field_manager="kubectl-edit",
    )
    prod.lbc.reconcile()

    assert run(fg).outcomes == {web.lb_arn: "drift"}

    [drift] = [a for a in fg.alerts() if a["outcome"] == "drift"]
    assert drift["was_open"] == [f"the owner's own SGs {own} (their rules were not read)"]
    assert drift["actor"].startswith("kubectl-edit at ")
