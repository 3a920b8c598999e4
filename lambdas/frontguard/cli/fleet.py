"""``frontguard scan`` across accounts (an assumed role in each) and regions: which targets,
the bounded pool that scans them, and the per-target and per-account output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from frontguard.cli import common
from frontguard.cli.common import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, render_table, shorten
from frontguard.errors import ConfigurationError
from frontguard.permissions import partition_of

if TYPE_CHECKING:
    import boto3

    from frontguard.adapters.organizations import Account
    from frontguard.fleet import FleetReport


def add_arguments(scan: argparse.ArgumentParser) -> None:
    """The scan's options that choose accounts and how many are scanned at once."""
    scan.add_argument(
        "--account",
        action="append",
        metavar="ID[,ID...]",
        help="scan these accounts through --role (repeatable)",
    )
    scan.add_argument(
        "--organization",
        action="store_true",
        help="scan every ACTIVE account of your AWS Organization through --role",
    )
    scan.add_argument(
        "--ou",
        action="append",
        metavar="OU_ID",
        help="scan every ACTIVE account under this organizational unit (repeatable)",
    )
    scan.add_argument(
        "--role",
        default="frontguard-scan",
        help="role name to assume in each account (default: frontguard-scan, the member "
        "StackSet's read-only role)",
    )
    scan.add_argument(
        "--parallel",
        type=int,
        default=8,
        metavar="N",
        help="account-regions scanned at once (default 8; 1 = one after the other)",
    )


def run_fleet_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``frontguard scan`` over accounts (assumed role) x regions, in a bounded pool."""
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.fleet import default_session_factory, fleet_scan, targets_for

    if args.parallel < 1:
        raise ConfigurationError("--parallel must be at least 1")
    if args.enforce and (args.account or args.organization or args.ou):
        raise ConfigurationError(
            "across accounts frontguard scan only audits (the member role is read-only); each "
            "account's own frontguard stack enforces"
        )
    policy = common.load_policy(args.policy, enforce=args.enforce)
    caller = common.session(args.region[0] if args.region else None)
    regions: list[str] = list(dict.fromkeys(args.region or [caller.region_name]))
    accounts, assume = _accounts(args, caller)
    report = fleet_scan(
        targets_for(accounts, regions, assume=assume),
        policy=policy,
        role=args.role,
        sts=caller.client("sts", config=CLIENT_CONFIG),
        session_factory=default_session_factory,
        clusters=args.cluster or None,
        parallel=args.parallel,
        partition=partition_of(regions[0]),
        progress=_target_progress(err),
    )
    if args.output == "json":
        out.write(json.dumps(fleet_summary(report, mode=policy.mode.value), indent=2) + "\n")
    else:
        out.write("\n".join(fleet_table(report, show_all=args.all)) + "\n")
    if report.failed:
        return EXIT_ERROR
    return EXIT_FINDINGS if report.open_findings else EXIT_OK


def _accounts(args: argparse.Namespace, caller: boto3.Session) -> tuple[list[Account], bool]:
    """The accounts to scan, and whether their role is assumed (not for the caller's own)."""
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.adapters.organizations import Account, organization_accounts, parse_accounts

    accounts: list[Account] = parse_accounts(args.account or [])
    if args.organization or args.ou:
        organizations = caller.client("organizations", config=CLIENT_CONFIG)
        parents = args.ou or [None]
        for parent in parents:
            for account in organization_accounts(organizations, parent):
                if all(a.id != account.id for a in accounts):
                    accounts.append(account)
        if not accounts:
            raise ConfigurationError("no ACTIVE account found in the organization / OU")
    if not accounts:  # several regions of the caller's own account
        sts = caller.client("sts", config=CLIENT_CONFIG)
        return [Account(sts.get_caller_identity()["Account"])], False
    return accounts, True


def _target_progress(err: TextIO) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if err.isatty() or done == total or done % max(total // 10, 1) == 0:
            err.write(f"scanned {done}/{total} account-regions\n")
            err.flush()

    return show


def fleet_summary(report: FleetReport, *, mode: str) -> dict[str, Any]:
    """``--output json`` across accounts: every target, every item with its account and
    region, totals by account."""
    from frontguard.engine.scan import SEVERITY

    targets: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for result in report.results:
        where = {"account": result.target.account.id, "region": result.target.region}
        if result.report is None:
            targets.append({**where, "status": "failed", "error": result.error})
            continue
        scanned = result.report
        targets.append(
            {
                **where,
                "status": "scanned",
                "load_balancers": len(scanned.items),
                "open_findings": len(scanned.open_findings),
                "by_outcome": dict(sorted(scanned.by_outcome().items())),
            }
        )
        ordered = sorted(
            scanned.items, key=lambda i: (SEVERITY.index(i.outcome), i.cluster or "", i.name)
        )
        items.extend({**where, **item.as_dict()} for item in ordered)
    return {
        "mode": mode,
        "accounts": len({r.target.account.id for r in report.results}),
        "targets": targets,
        "failed_targets": len(report.failed),
        "open_findings": report.open_findings,
        "totals_by_account": report.totals(),
        "items": items,
        "seconds": round(report.seconds, 2),
    }


def fleet_table(report: FleetReport, *, show_all: bool) -> list[str]:
    """Every finding with its account and region, then the totals by account."""
    from frontguard.engine.scan import SEVERITY
    from frontguard.model import Outcome

    quiet = {Outcome.COMPLIANT, Outcome.VERIFIED}
    rows: list[list[str]] = []
    for result in report.results:
        account, region = result.target.account.id, result.target.region
        if result.report is None:
            rows.append([account, region, "-", "-", "-", "failed", shorten(result.error or "")])
            continue
        shown = sorted(
            (i for i in result.report.items if show_all or i.outcome not in quiet),
            key=lambda i: (SEVERITY.index(i.outcome), i.cluster or "", i.name),
        )
        rows.extend(
            [
                account,
                region,
                i.cluster or "-",
                i.name,
                i.owner or "-",
                i.outcome.value,
                shorten(i.reason, 60),
            ]
            for i in shown
        )
    lines = (
        render_table(
            ["ACCOUNT", "REGION", "CLUSTER", "LOAD BALANCER", "OWNER", "OUTCOME", "REASON"], rows
        )
        if rows
        else ["no findings"]
    )
    return [*lines, "", *_totals_table(report)]


def _totals_table(report: FleetReport) -> list[str]:
    totals = [
        [
            account,
            row["name"] or "-",
            f"{row['regions'] - row['failed_regions']}/{row['regions']}",
            str(row["load_balancers"]),
            str(row["open_findings"]),
            "failed" if row["failed_regions"] else "ok",
        ]
        for account, row in report.totals().items()
    ]
    lines = ["Totals by account:"]
    lines += render_table(
        ["ACCOUNT", "NAME", "REGIONS SCANNED", "LOAD BALANCERS", "OPEN FINDINGS", "STATUS"],
        totals,
    )
    accounts = len({r.target.account.id for r in report.results})
    lines += [
        "",
        f"{accounts} accounts, {len(report.results)} account-regions "
        f"({len(report.failed)} failed); {report.open_findings} open findings; "
        f"{report.seconds:.1f} s",
    ]
    return lines
