"""``frontguard scan`` across accounts and regions against a sandbox organization.

The caller is the organization's management account (the sandbox's default account); member
accounts are reached through the ``frontguard-scan`` role, which moto only lets the caller
assume where it exists and trusts the caller (sandbox.organization).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest
from frontguard.adapters.organizations import Account, organization_accounts, role_arn
from frontguard.cli import load_policy, main
from frontguard.errors import ConfigurationError
from frontguard.fleet import default_session_factory, fleet_scan, targets_for

from sandbox import ACCOUNT_ID, REGION, Sandbox
from sandbox.organization import SCAN_ROLE, Organization, create_role
from sandbox.scenario import Cluster

REGIONS = ("eu-west-1", "us-east-1")


@pytest.fixture
def org(sandbox: Sandbox) -> Organization:
    return Organization.create(sandbox)


@pytest.fixture
def shared(sandbox: Sandbox) -> Cluster:
    """Cluster ``prod`` (one Kubernetes emulator answers for it in every account and region):
    an Ingress and a Service whose load balancers the controller left world-open."""
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    prod.service("shop/dns", ports=[("TCP", 53)])
    return prod


def member(org: Organization, shared: Cluster, name: str, *, ou: str | None, role: bool) -> str:
    account = org.add_account(name, ou=ou, role=role)
    for index, region in enumerate(REGIONS):
        org.seed_region(account, region, shared, cidr=f"10.{index + 1}.0.0/16")
    return account


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def region_args() -> list[str]:
    return [arg for region in REGIONS for arg in ("--region", region)]


def test_organization_scan_reports_every_account_and_region_with_a_failing_account_on_its_row(
    sandbox, org, shared, capsys
):
    dev = member(org, shared, "dev", ou="workloads", role=True)
    prod = member(org, shared, "prod", ou="workloads", role=True)
    fresh = member(org, shared, "fresh", ou="workloads", role=False)  # StackSet not there yet
    create_role(ACCOUNT_ID, SCAN_ROLE)  # the management account runs the member stack too

    code, out, err = run(capsys, "scan", "--organization", *region_args(), "--output", "json")

    assert code == 1, err  # an account could not be scanned: the gate must not pass
    report = json.loads(out)
    status = {(t["account"], t["region"]): t["status"] for t in report["targets"]}
    assert status == {
        (account, region): "failed" if account == fresh else "scanned"
        for account in (ACCOUNT_ID, dev, prod, fresh)
        for region in REGIONS
    }
    failures = [t for t in report["targets"] if t["status"] == "failed"]
    assert all("AccessDenied" in t["error"] for t in failures)
    assert report["failed_targets"] == 2
    # Every member region has the same two world-open LBs; the management account has its
    # two in the sandbox's own region only.
    per_region = Counter((i["account"], i["region"]) for i in report["items"])
    assert per_region == {
        **{(a, r): 2 for a in (dev, prod) for r in REGIONS},
        (ACCOUNT_ID, REGION): 2,
    }
    # Open findings all: the management account's LBs are audit findings; the members'
    # clusters share one emulator whose objects' status names the management account's LBs,
    # so their LBs' ownership cannot be proven (conflict, never patched).
    assert {i["outcome"] for i in report["items"]} <= {"audit-finding", "conflict"}
    totals = report["totals_by_account"]
    assert totals[dev] == {
        "name": "dev",
        "regions": 2,
        "failed_regions": 0,
        "load_balancers": 4,
        "open_findings": 4,
        "by_outcome": totals[dev]["by_outcome"],
    }
    assert sum(totals[dev]["by_outcome"].values()) == 4
    assert totals[fresh]["failed_regions"] == 2
    assert report["open_findings"] == 10


def test_ou_scan_covers_nested_units_only_and_exits_2_on_findings(sandbox, org, shared, capsys):
    team = member(org, shared, "team", ou="workloads", role=True)
    org.ou("payments", parent="workloads")
    nested = member(org, shared, "payments", ou="payments", role=True)
    member(org, shared, "sandbox", ou="experiments", role=True)

    code, out, err = run(
        capsys, "scan", "--ou", org.ous["workloads"], *region_args(), "--output", "json"
    )

    assert code == 2, err
    report = json.loads(out)
    assert {t["account"] for t in report["targets"]} == {team, nested}
    assert report["failed_targets"] == 0


def test_account_list_table_has_account_and_region_on_every_row_and_totals(
    sandbox, org, shared, capsys
):
    dev = member(org, shared, "dev", ou=None, role=True)
    gone = "999999999999"  # not in the organization at all: no role to assume

    code, out, _ = run(capsys, "scan", "--account", f"{dev},{gone}", *region_args())

    assert code == 1
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:2] == ["ACCOUNT", "REGION"]
    rows = lines[2 : lines.index("")]
    assert len(rows) == 2 * 2 + 2  # two findings per dev region, one failed row per region
    assert all(row.split()[0] in (dev, gone) and row.split()[1] in REGIONS for row in rows)
    failed = [row for row in rows if row.split()[0] == gone]
    assert all(" failed " in row and "AccessDenied" in row for row in failed)
    totals = lines[lines.index("Totals by account:") + 1 :]
    assert any(row.split()[:2] == [dev, "-"] and row.split()[-1] == "ok" for row in totals)
    assert any(row.startswith(gone) and row.split()[-1] == "failed" for row in totals)


def test_role_is_assumed_once_per_account_and_sequential_equals_parallel(sandbox, org, shared):
    accounts = [Account(member(org, shared, f"m{i}", ou=None, role=True)) for i in range(3)]
    sts = boto3.Session(region_name=REGION).client("sts")
    calls: Counter[str] = Counter()
    sts.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
    policy = load_policy(None, enforce=False)
    targets = targets_for(accounts, REGIONS)

    def scan(parallel: int) -> list[tuple[str, str, int]]:
        report = fleet_scan(
            targets,
            policy=policy,
            role=SCAN_ROLE,
            sts=sts,
            session_factory=default_session_factory,
            parallel=parallel,
        )
        return [
            (r.target.account.id, r.target.region, len(r.report.open_findings if r.report else []))
            for r in report.results
        ]

    sequential = scan(1)
    assert calls == {"AssumeRole": 3}  # not one per region
    assert scan(4) == sequential
    assert [(a, r) for a, r, _ in sequential] == [(a.id, r) for a in accounts for r in REGIONS]


def test_suspended_accounts_are_left_out(sandbox, org):
    active = org.add_account("active")
    closing = org.add_account("closing")
    sandbox.client("organizations").close_account(AccountId=closing)

    found = organization_accounts(sandbox.client("organizations"))

    assert active in {a.id for a in found}
    assert closing not in {a.id for a in found}


def test_enforce_across_accounts_is_refused(sandbox, org, capsys):
    code, out, err = run(capsys, "scan", "--organization", "--enforce")

    assert code == 1
    assert out == ""
    assert "only audits" in err


def test_several_regions_of_the_own_account_need_no_role(sandbox, shared, capsys):
    code, out, err = run(capsys, "scan", *region_args(), "--output", "json")

    assert code == 2, err
    report = json.loads(out)
    assert [(t["account"], t["region"], t["status"]) for t in report["targets"]] == [
        (ACCOUNT_ID, region, "scanned") for region in REGIONS
    ]
    assert Counter(i["region"] for i in report["items"]) == {REGION: 2}


def test_an_unexpected_error_in_one_account_is_its_error_row_and_the_others_are_scanned(
    sandbox, org, shared, caplog
):
    good, bad = (Account(member(org, shared, n, ou=None, role=True)) for n in ("good", "bad"))
    sts = boto3.Session(region_name=REGION).client("sts")

    def factory(credentials: Any, region: str) -> boto3.Session:
        session = default_session_factory(credentials, region)
        if session.client("sts").get_caller_identity()["Account"] == bad.id:
            raise KeyError("Reservations")  # stands for any surprise inside one account
        return session

    report = fleet_scan(
        targets_for([bad, good], REGIONS),
        policy=load_policy(None, enforce=False),
        role=SCAN_ROLE,
        sts=sts,
        session_factory=factory,
    )

    rows = {(r.target.account.id, r.target.region): r for r in report.results}
    assert len(rows) == 4
    assert all(rows[(good.id, region)].report is not None for region in REGIONS)
    assert all("KeyError" in (rows[(bad.id, region)].error or "") for region in REGIONS)
    assert len(report.failed) == 2  # counted: the CLI exits 1
    assert any(r.exc_info and r.levelname == "ERROR" for r in caplog.records)


@pytest.mark.parametrize(
    "role",
    [
        "frontguard scan",
        "frontguard-scan\nx",
        "*",
        "frontguard-*",
        "team*/frontguard-scan",
        "team path/frontguard-scan",
        "rôle",
        "x" * 65,
        "arn:aws:iam::123456789012:role/frontguard-scan",
        "/",
    ],
)
def test_an_invalid_role_name_is_refused_before_any_assume_role(sandbox, org, shared, role):
    account = Account(member(org, shared, "m", ou=None, role=True))
    sts = boto3.Session(region_name=REGION).client("sts")
    calls: Counter[str] = Counter()
    sts.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))

    with pytest.raises(ConfigurationError, match="role"):
        fleet_scan(
            targets_for([account], REGIONS),
            policy=load_policy(None, enforce=False),
            role=role,
            sts=sts,
            session_factory=default_session_factory,
        )
    assert calls == {}


@pytest.mark.parametrize("role", ["frontguard-scan", "team/frontguard-scan", "a_b+c=d,e.f@g-h"])
def test_valid_role_names_and_paths_make_their_arn(role):
    assert role_arn("123456789012", role) == f"arn:aws:iam::123456789012:role/{role}"
