"""The scheduled scan through the sandbox: classification, drift, cleanup, scale and cost."""

from __future__ import annotations

from typing import Any

import pytest
from frontguard.engine.scan import scan
from frontguard.handlers.scan_flow import run_scan
from frontguard.model import Outcome

from sandbox import Sandbox
from sandbox.steady import seed_remediated
from sandbox.wiring import ENFORCE, Frontguard, steady_state_minimum_aws_calls, wire

POLICY_SOURCES = ["203.0.113.0/24", "198.51.100.0/24"]
INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, {**ENFORCE, "cleanup_grace_hours": 0})


def outcomes(report: Any) -> dict[str, str]:
    return {item.owner or item.name: item.outcome.value for item in report.items}


def frontguard_group_of(sandbox: Sandbox, lb_arn: str) -> dict[str, Any]:
    [group] = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/load-balancer", "Values": [lb_arn]}]
    )["SecurityGroups"]
    return dict(group)


def test_every_controller_load_balancer_is_classified(sandbox, fg):
    prod = sandbox.cluster("prod")
    done = prod.ingress("shop/done", ports=[443])
    fg.deliver(done.event)
    prod.lbc.reconcile()
    prod.ingress("shop/new", ports=[443])
    prod.service("legacy/api", security_groups=False)
    prod.service("shop/vip", annotations={"frontguard.io/exempt": "SEC-1"})
    prod.ingress("shop/argo", annotations={"argocd.argoproj.io/tracking-id": "x"})
    gone = prod.service("shop/gone", handled_by="annotation")
    gone.annotate({"service.beta.kubernetes.io/aws-load-balancer-type": None})
    sandbox.foreign_load_balancer("terraform-lb")

    report = scan(fg.runtime.engine)

    assert outcomes(report) == {
        "ingress/shop/done": "compliant",
        "ingress/shop/new": "remediated",
        "service/legacy/api": "needs-recreation",
        "service/shop/vip": "exempt-unapproved",  # an annotation alone: not the policy's say
        "ingress/shop/argo": "gitops-pending",
        "service/shop/gone": "not-controller-handled",
    }
    assert {f.owner for f in report.open_findings} == {
        "service/legacy/api",
        "ingress/shop/argo",
        "service/shop/vip",
    }


def test_unreachable_cluster_is_an_error_for_its_load_balancers_only(sandbox, fg):
    prod, dev = sandbox.cluster("prod"), sandbox.cluster("dev", cidr="10.1.0.0/16")
    prod.ingress("shop/web")
    dev.ingress("shop/web")
    dev.kube.stop()

    report = scan(fg.runtime.engine)

    by_cluster = {item.cluster: item.outcome for item in report.items}
    assert by_cluster == {"prod": Outcome.REMEDIATED, "dev": Outcome.ERROR}


def test_audit_scan_changes_nothing(sandbox):
    fg = wire(sandbox, {**ENFORCE, "mode": "audit"})
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[80, 443])
    prod.service("shop/api")
    ec2 = sandbox.client("ec2")
    before = ec2.describe_security_groups()["SecurityGroups"]
    fg.reset_counts()

    report = scan(fg.runtime.engine)

    assert set(outcomes(report).values()) == {"audit-finding"}
    assert fg.mutating_aws_calls() == {}
    assert fg.mutating_kube_calls() == 0
    assert ec2.describe_security_groups()["SecurityGroups"] == before


def rules_of(sandbox: Sandbox, group_id: str) -> set[tuple[int, str]]:
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return {
        (p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])
    }


def test_drift_hand_edited_rule_is_revoked(sandbox, fg, remediated):
    _, _, group_id = remediated
    sandbox.client("ec2").authorize_security_group_ingress(
        GroupId=group_id, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )

    report = scan(fg.runtime.engine)

    assert outcomes(report) == {"ingress/shop/web": "drift"}
    assert rules_of(sandbox, group_id) == {(443, cidr) for cidr in POLICY_SOURCES}
    # The scan sends no per-LB alert (its digest reports it): only the event's "remediated".
    assert [a["outcome"] for a in fg.alerts()] == ["remediated"]


def test_drift_annotation_removed_is_restored(sandbox, fg, remediated):
    prod, web, group_id = remediated
    web.annotate({INGRESS_SG: None})
    prod.lbc.reconcile()  # the controller brings its world-open SG back

    report = scan(fg.runtime.engine)

    assert outcomes(report) == {"ingress/shop/web": "drift"}
    assert web.object["metadata"]["annotations"][INGRESS_SG] == group_id
    prod.lbc.reconcile()
    assert group_id in web.security_groups()


def test_drift_frontguard_sg_detached_by_hand_is_reported(sandbox, fg, remediated):
    prod, web, group_id = remediated
    sandbox.client("elbv2").set_security_groups(
        LoadBalancerArn=web.lb_arn,
        SecurityGroups=[g for g in web.security_groups() if g != group_id],
    )

    report = scan(fg.runtime.engine)

    # Annotations and rules are right, so the engine finds nothing to change: the controller
    # re-attaches on its next reconcile, and verification would report if it did not.
    [item] = report.items
    assert item.outcome in (Outcome.COMPLIANT, Outcome.DRIFT)
    prod.lbc.reconcile()
    assert group_id in web.security_groups()


def test_drift_frontguard_sg_deleted_gets_a_new_one(sandbox, fg, remediated):
    _, web, group_id = remediated
    elbv2, ec2 = sandbox.client("elbv2"), sandbox.client("ec2")
    elbv2.set_security_groups(
        LoadBalancerArn=web.lb_arn,
        SecurityGroups=[g for g in web.security_groups() if g != group_id],
    )
    ec2.delete_security_group(GroupId=group_id)

    report = scan(fg.runtime.engine)

    assert outcomes(report) == {"ingress/shop/web": "drift"}
    new_id = frontguard_group_of(sandbox, web.lb_arn)["GroupId"]
    assert new_id != group_id
    assert web.object["metadata"]["annotations"][INGRESS_SG] == new_id


def test_orphaned_frontguard_sg_is_deleted_and_a_referenced_one_kept(sandbox, fg):
    prod = sandbox.cluster("prod")
    web, api = prod.ingress("shop/web"), prod.ingress("shop/api")
    for owned in (web, api):
        fg.deliver(owned.event)
    prod.lbc.reconcile()
    elbv2, ec2 = sandbox.client("elbv2"), sandbox.client("ec2")
    web_sg = frontguard_group_of(sandbox, web.lb_arn)["GroupId"]
    api_sg = frontguard_group_of(sandbox, api.lb_arn)["GroupId"]
    vpc_id = frontguard_group_of(sandbox, web.lb_arn)["VpcId"]
    untagged = ec2.create_security_group(GroupName="team", Description="team", VpcId=vpc_id)
    ec2.authorize_security_group_ingress(
        GroupId=untagged["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "UserIdGroupPairs": [{"GroupId": api_sg}],
            }
        ],
    )
    elbv2.delete_load_balancer(LoadBalancerArn=web.lb_arn)
    elbv2.delete_load_balancer(LoadBalancerArn=api.lb_arn)

    report = scan(fg.runtime.engine)

    assert report.cleaned_up == [web_sg]
    assert report.kept_orphans == [api_sg]
    remaining = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert web_sg not in remaining
    assert {api_sg, untagged["GroupId"]} <= remaining


def test_orphan_within_grace_period_is_kept(sandbox):
    fg = wire(sandbox, {**ENFORCE, "cleanup_grace_hours": 24})
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web")
    fg.deliver(web.event)
    sandbox.client("elbv2").delete_load_balancer(LoadBalancerArn=web.lb_arn)

    report = scan(fg.runtime.engine)

    assert report.cleaned_up == []
    assert len(report.kept_orphans) == 1


def test_digest_published_once_per_finding_with_counts_and_worst_first(sandbox, fg):
    prod = sandbox.cluster("prod")
    prod.service("legacy/api", security_groups=False)
    prod.ingress("shop/argo", annotations={"argocd.argoproj.io/tracking-id": "x"})

    run_scan(fg.runtime)
    run_scan(fg.runtime)  # the same findings, within the alert period: no second message

    digests = [a for a in fg.alerts() if a.get("outcome") == "scan-digest"]
    assert len(digests) == 1
    digest = digests[0]
    # Enforce mode: the GitOps-managed Ingress is queued (its consumer creates the SG and
    # alerts the annotations to commit, with the SG's ID); the SG-less NLB cannot be repaired.
    counts = {"needs-recreation": 1, "remediation-queued": 1}
    assert digest["by_outcome"] == counts
    assert digest["by_cluster"] == {"prod": counts}
    assert [w["outcome"] for w in digest["findings"]] == [
        "needs-recreation",
        "remediation-queued",
    ]
    assert len(digest["subject"]) <= 100


def test_steady_state_scan_past_400_lbs_and_1000_sgs_makes_no_per_lb_call(sandbox, fg):
    prod = sandbox.cluster("prod")
    owned = prod.bulk_services(1010)
    seed_remediated(prod, owned, POLICY_SOURCES)
    fg.reset_counts()

    report = scan(fg.runtime.engine)

    assert len(report.items) == 1010
    assert set(outcomes(report).values()) == {"compliant"}
    calls = fg.aws_calls
    assert calls["elbv2.DescribeLoadBalancers"] == 3  # 400 + 400 + 210
    assert calls["elbv2.DescribeTags"] == 20 + 20 + 11
    assert calls["elbv2.DescribeListeners"] == 0
    # frontguard's 1010 SGs and the controller's backend SG, together in pages of 1000.
    assert calls["ec2.DescribeSecurityGroups"] == 2
    assert sum(calls.values()) == steady_state_minimum_aws_calls(1010, 1010, clusters=1)
    assert fg.kube_calls() == {"GET": 2}
