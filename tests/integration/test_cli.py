"""The `frontguard` command line against the sandbox: scan exit codes and outputs, revert.

While the ``sandbox`` fixture is active, ``AWS_ENDPOINT_URL`` and fake credentials point
boto3's default session at moto, and EKS DescribeCluster answers with the Kubernetes
emulator's endpoint and CA: the CLI takes its production path (no kubeconfig).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from frontguard.cli import main

from sandbox import Sandbox
from sandbox.kube import GATEWAYS, LB_CONFIGURATIONS
from sandbox.wiring import ENFORCE, Frontguard, state_snapshot, wire
from tests.integration.test_gateway import parameters_ref

INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
SERVICE_SG = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
REPLACED = "frontguard.io/replaced"


@pytest.fixture
def fg(sandbox: Sandbox) -> Frontguard:
    return wire(sandbox, ENFORCE)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def frontguard_group_ids(sandbox: Sandbox) -> set[str]:
    groups = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["SecurityGroups"]
    return {g["GroupId"] for g in groups}


def managed_lb_groups(sandbox: Sandbox, sg_ids: list[str]) -> list[str]:
    """Which of ``sg_ids`` are the controller's own world-open managed SGs."""
    groups = sandbox.client("ec2").describe_security_groups(GroupIds=sg_ids)["SecurityGroups"]
    return [
        g["GroupId"]
        for g in groups
        if any(
            t["Key"].endswith("/resource") and t["Value"] == "ManagedLBSecurityGroup"
            for t in g.get("Tags", [])
        )
    ]


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


# --- scan ---------------------------------------------------------------------------------


def test_scan_json_reports_findings_and_exits_2(sandbox, capsys):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[80, 443])
    legacy = prod.service("legacy/api", ports=[("TCP", 443)], security_groups=False)
    sandbox.foreign_load_balancer("terraform-lb")

    code, out, err = run(capsys, "scan", "--output", "json")

    assert code == 2, err
    report = json.loads(out)
    assert report["mode"] == "audit"
    assert report["load_balancers"] == 2  # the Terraform LB is not frontguard's business
    assert report["open_findings"] == 2
    assert report["by_outcome"] == {"audit-finding": 1, "needs-recreation": 1}
    by_arn = {item["load_balancer_arn"]: item for item in report["items"]}
    assert by_arn[web.lb_arn]["outcome"] == "audit-finding"
    assert by_arn[web.lb_arn]["owner"] == "ingress/shop/web"
    assert by_arn[web.lb_arn]["cluster"] == "prod"
    assert by_arn[legacy.lb_arn]["outcome"] == "needs-recreation"
    # Worst first.
    assert report["items"][0]["outcome"] == "needs-recreation"
    # Audit changed nothing: no frontguard SG, no annotation.
    assert frontguard_group_ids(sandbox) == set()
    assert INGRESS_SG not in annotations_of(web.object)
    assert "Traceback" not in err


def test_scan_of_a_compliant_account_exits_0(sandbox, fg, capsys, tmp_path):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(ENFORCE))  # mode enforce in the file: the CLI still audits

    code, out, err = run(capsys, "scan", "--output", "json", "--policy", str(policy))

    assert code == 0, out + err
    report = json.loads(out)
    assert report["mode"] == "audit"
    assert report["by_outcome"] == {"compliant": 1}
    [item] = report["items"]
    assert item["security_group_id"] in web.security_groups()


def test_scan_enforce_remediates_and_exits_0(sandbox, capsys, tmp_path):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({**ENFORCE, "mode": "audit"}))

    code, out, _ = run(capsys, "scan", "--enforce", "--policy", str(policy), "--output", "json")

    assert code == 0
    [item] = json.loads(out)["items"]
    assert item["outcome"] == "remediated"
    assert annotations_of(web.object)[INGRESS_SG] == item["security_group_id"]


def test_scan_table_lists_findings_with_cluster_owner_outcome_and_reason(sandbox, capsys):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    prod.service("shop/vip", annotations={"frontguard.io/exempt": "SEC-42"})

    code, out, _ = run(capsys, "scan")

    assert code == 2
    lines = out.splitlines()
    assert lines[0].split() == ["CLUSTER", "LOAD", "BALANCER", "OWNER", "OUTCOME", "REASON"]
    row = next(line for line in lines if "ingress/shop/web" in line)
    assert row.split()[:4] == ["prod", web.load_balancer.name, "ingress/shop/web", "audit-finding"]
    assert "not compliant" in row
    assert any("service/shop/vip" in line and "exempt-unapproved" in line for line in lines)
    assert "2 load balancers" in lines[-1] and "2 open findings" in lines[-1]


def test_scan_of_another_cluster_finds_nothing(sandbox, capsys):
    sandbox.cluster("prod").ingress("shop/web")

    code, out, _ = run(capsys, "scan", "--cluster", "staging")

    assert code == 0
    assert out.splitlines()[0] == "no findings"


def test_scan_progress_line_goes_to_stderr_past_50_load_balancers(sandbox, capsys):
    prod = sandbox.cluster("prod")
    prod.bulk_services(60)

    code, out, err = run(capsys, "scan", "--output", "json")

    assert code == 2
    assert json.loads(out)["load_balancers"] == 60
    assert "scanning: 60/60 load balancers" in err


def test_scan_with_a_bad_policy_file_exits_1_with_a_message(sandbox, capsys, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default_sources": ["not-a-cidr"]}))

    code, out, err = run(capsys, "scan", "--policy", str(policy))

    assert code == 1
    assert out == ""
    assert err.startswith("frontguard: error: invalid policy document: default_sources")
    assert "Traceback" not in err

    code, _, err = run(capsys, "scan", "--policy", str(tmp_path / "missing.json"))
    assert code == 1
    assert "cannot read policy file" in err


def test_revert_of_an_unknown_cluster_exits_1(sandbox, capsys):
    code, _, err = run(capsys, "revert", "--cluster", "nowhere")

    assert code == 1
    assert err.startswith("frontguard: error:") and "nowhere" in err


# --- revert -------------------------------------------------------------------------------


def remediated_cluster(sandbox: Sandbox, fg: Frontguard):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[80, 443])
    api = prod.service("payments/api", ports=[("TCP", 443)])
    shared = prod.ingress_group("shared", members=["team-a/one", "team-b/two"], ports=[443])
    for owned in (web, api, shared):
        assert fg.deliver(owned.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    for owned in (web, api, shared):
        assert managed_lb_groups(sandbox, owned.security_groups()) == []
    return prod, web, api, shared


def test_revert_returns_a_remediated_cluster_to_the_controllers_defaults(sandbox, fg, capsys):
    prod, web, api, shared = remediated_cluster(sandbox, fg)
    ours = frontguard_group_ids(sandbox)
    assert len(ours) == 3

    code, out, err = run(capsys, "revert", "--cluster", "prod", "--apply")

    assert code == 0, err
    for owned in (web, shared):
        for obj in owned.objects:
            notes = annotations_of(obj)
            assert INGRESS_SG not in notes and INGRESS_BACKEND not in notes
            assert REPLACED not in notes
    assert SERVICE_SG not in annotations_of(api.object)
    assert "restored ingress/shop/web" in out
    assert "restored ingress/team-a/one" in out and "restored ingress/team-b/two" in out
    # Still attached until the controller reconciles: kept, and said so.
    assert out.count("still attached; re-run after the controller reconciles") == 3
    assert frontguard_group_ids(sandbox) == ours

    prod.lbc.reconcile()
    for owned in (web, api, shared):
        on_lb = owned.security_groups()
        assert not set(on_lb) & ours
        assert len(managed_lb_groups(sandbox, on_lb)) == 1  # the controller's own SG is back

    code, out, _ = run(capsys, "revert", "--cluster", "prod", "--apply")

    assert code == 0
    assert frontguard_group_ids(sandbox) == set()
    assert out.count("deleted sg-") == 3
    assert "no object carries frontguard.io/replaced" in out


def test_revert_restores_the_values_frontguard_replaced(sandbox, fg, capsys):
    prod = sandbox.cluster("prod")
    team_sg = (
        sandbox.client("ec2")
        .create_security_group(GroupName="team", Description="team", VpcId=prod.vpc_id)
        .get("GroupId")
    )
    web = prod.ingress("shop/web", annotations={INGRESS_SG: team_sg, INGRESS_BACKEND: "false"})
    fg.deliver(web.event)
    assert annotations_of(web.object)[INGRESS_SG] != team_sg

    code, out, _ = run(capsys, "revert", "--cluster", "prod", "--apply")

    assert code == 0
    notes = annotations_of(web.object)
    assert notes[INGRESS_SG] == team_sg
    assert notes[INGRESS_BACKEND] == "false"
    assert REPLACED not in notes
    assert f"{INGRESS_SG}={team_sg}" in out


def test_revert_dry_run_changes_nothing(sandbox, fg, capsys):
    prod, *_ = remediated_cluster(sandbox, fg)

    def snapshot():
        return state_snapshot(sandbox, prod)

    before = snapshot()
    code, out, err = run(capsys, "revert", "--cluster", "prod")

    assert code == 0
    assert snapshot() == before
    assert "(dry run)" in out.splitlines()[0]
    assert f"would restore ingress/shop/web: remove {INGRESS_BACKEND}; remove {INGRESS_SG}" in out
    assert "add --apply" in err


def test_revert_of_one_group_member_reverts_the_whole_group_only(sandbox, fg, capsys):
    _, web, api, shared = remediated_cluster(sandbox, fg)

    code, out, _ = run(
        capsys, "revert", "--cluster", "prod", "--object", "ingress/team-a/one", "--apply"
    )

    assert code == 0
    for obj in shared.objects:
        assert INGRESS_SG not in annotations_of(obj)
    assert "member of IngressGroup shared" in out
    assert INGRESS_SG in annotations_of(web.object)
    assert SERVICE_SG in annotations_of(api.object)
    # Only the group's SG is considered.
    assert out.count("sg-") == 1


def test_revert_leaves_an_object_whose_annotation_someone_changed_since(sandbox, fg, capsys):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web")
    fg.deliver(web.event)
    web.annotate({INGRESS_SG: "sg-0123456789abcdef0"})

    code, out, _ = run(capsys, "revert", "--cluster", "prod", "--namespace", "shop", "--apply")

    assert code == 0
    assert "skip     ingress/shop/web" in out and "changed since frontguard patched it" in out
    assert annotations_of(web.object)[INGRESS_SG] == "sg-0123456789abcdef0"
    assert REPLACED in annotations_of(web.object)


def test_revert_deletes_an_unused_frontguard_sg_and_never_touches_others(sandbox, fg, capsys):
    prod = sandbox.cluster("prod")
    argo = prod.ingress(
        "catalog/web", annotations={"argocd.argoproj.io/tracking-id": "catalog:x:catalog/web"}
    )
    assert fg.deliver(argo.event)["outcome"] == "gitops-pending"  # SG made, never attached
    [ours] = frontguard_group_ids(sandbox)
    others = {
        g["GroupId"] for g in sandbox.client("ec2").describe_security_groups()["SecurityGroups"]
    } - {ours}

    code, out, _ = run(capsys, "revert", "--cluster", "prod", "--apply")

    assert code == 0
    assert f"deleted {ours}" in out
    remaining = {
        g["GroupId"] for g in sandbox.client("ec2").describe_security_groups()["SecurityGroups"]
    }
    assert remaining == others


# --- revert: Gateways ---------------------------------------------------------------------

ADMIN_CONFIG = {"scheme": "internet-facing", "sourceRanges": ["203.0.113.10/32"]}


def remediated_gateways(sandbox: Sandbox, fg: Frontguard):
    """``edge/public`` without a configuration, ``edge/admin`` with its own."""
    prod = sandbox.cluster("prod")
    public = prod.gateway("edge/public", ports=[443])
    admin = prod.gateway("edge/admin", ports=[443], config=ADMIN_CONFIG)
    admin_ref = parameters_ref(admin)
    for owned in (public, admin):
        assert fg.deliver(owned.event)["outcome"] == "remediated"
    prod.lbc.reconcile()
    for owned in (public, admin):
        assert managed_lb_groups(sandbox, owned.security_groups()) == []
    assert prod.configuration("edge/frontguard-public") is not None
    return prod, public, admin, admin_ref


def test_revert_gives_gateways_back_to_the_controller(sandbox, fg, capsys):
    prod, public, admin, admin_ref = remediated_gateways(sandbox, fg)
    ours = frontguard_group_ids(sandbox)
    assert len(ours) == 2

    code, out, err = run(capsys, "revert", "--cluster", "prod", "--apply")

    assert code == 0, err
    assert prod.configuration("edge/frontguard-public") is None  # frontguard created it
    assert parameters_ref(public) is None
    config = prod.configuration("edge/admin-config")
    assert config is not None
    assert config["spec"] == ADMIN_CONFIG  # restored; other fields untouched
    assert REPLACED not in annotations_of(config)
    assert parameters_ref(admin) == admin_ref
    assert "restored gateway/edge/public: remove spec.infrastructure.parametersRef" in out
    assert "deleted loadbalancerconfiguration/edge/frontguard-public" in out
    assert (
        "restored loadbalancerconfiguration/edge/admin-config: "
        f"remove spec.manageBackendSecurityGroupRules; remove spec.securityGroups; remove {REPLACED}"
    ) in out
    assert out.count("still attached; re-run after the controller reconciles") == 2

    prod.lbc.reconcile()
    for owned in (public, admin):
        on_lb = owned.security_groups()
        assert not set(on_lb) & ours
        assert len(managed_lb_groups(sandbox, on_lb)) == 1  # the controller's own SG is back

    code, out, _ = run(capsys, "revert", "--cluster", "prod", "--apply")

    assert code == 0
    assert frontguard_group_ids(sandbox) == set()
    assert out.count("deleted sg-") == 2
    assert "no object carries frontguard.io/replaced" in out


def test_revert_dry_run_leaves_gateways_and_configurations_alone(sandbox, fg, capsys):
    prod, *_ = remediated_gateways(sandbox, fg)

    def snapshot():
        return (
            state_snapshot(sandbox, prod),
            json.dumps(
                [prod.kube.list_objects(r) for r in (GATEWAYS, LB_CONFIGURATIONS)], sort_keys=True
            ),
        )

    before = snapshot()
    code, out, err = run(capsys, "revert", "--cluster", "prod")

    assert code == 0
    assert snapshot() == before
    assert "would restore gateway/edge/public: remove spec.infrastructure.parametersRef" in out
    assert "would delete loadbalancerconfiguration/edge/frontguard-public" in out
    assert "would restore loadbalancerconfiguration/edge/admin-config" in out
    assert "add --apply" in err
