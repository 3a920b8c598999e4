"""``frontguard scan`` of one account and region: the engine's scan with the caller's
credentials, findings as a table or JSON, and a progress line for long scans. Several
accounts or regions go to :mod:`frontguard.cli.fleet`."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TextIO

from frontguard.cli import common, fleet
from frontguard.cli.common import EXIT_FINDINGS, EXIT_OK, human, load_policy, render_table, shorten

if TYPE_CHECKING:
    from frontguard.engine.scan import ScanItem, ScanReport

PROGRESS_THRESHOLD = 50  # load balancers; below it, a non-TTY stderr gets no progress line


class Progress:
    """A one-line progress report on stderr for long scans (TTY, or more than 50 LBs)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not (self._tty or total > PROGRESS_THRESHOLD):
            return
        if self._tty:
            width = 30
            filled = width * done // max(total, 1)
            bar = "#" * filled + "-" * (width - filled)
            self._stream.write(f"\rscanning [{bar}] {done}/{total} load balancers")
            self._shown = True
            if done == total:
                self._stream.write("\n")
                self._shown = False
        elif done == total or done % max(total // 10, 1) == 0:
            # Not a terminal (CI logs): a plain line per tenth, no carriage returns.
            self._stream.write(f"scanning: {done}/{total} load balancers\n")
        self._stream.flush()

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._shown = False


def scan_summary(report: ScanReport, *, account: str, region: str) -> dict[str, Any]:
    """What ``frontguard scan --output json`` prints: counts, then every item, worst first."""
    from frontguard.engine.scan import SEVERITY

    items = sorted(report.items, key=lambda i: (SEVERITY.index(i.outcome), i.cluster or "", i.name))
    return {
        "account": account,
        "region": region,
        "mode": report.mode.value,
        "load_balancers": len(report.items),
        "open_findings": len(report.open_findings),
        "by_outcome": dict(sorted(report.by_outcome().items())),
        "by_cluster": {c: dict(sorted(v.items())) for c, v in sorted(report.by_cluster().items())},
        "items": [item.as_dict() for item in items],
        "cleaned_up_security_groups": report.cleaned_up,
        "seconds": round(report.seconds, 2),
    }


def findings_table(report: ScanReport, *, show_all: bool) -> list[str]:
    from frontguard.engine.scan import SEVERITY
    from frontguard.model import Outcome

    quiet = {Outcome.COMPLIANT, Outcome.VERIFIED}
    shown: list[ScanItem] = sorted(
        (i for i in report.items if show_all or i.outcome not in quiet),
        key=lambda i: (SEVERITY.index(i.outcome), i.cluster or "", i.name),
    )
    counts = ", ".join(f"{n} {o}" for o, n in sorted(report.by_outcome().items()))
    summary = (
        f"{len(report.items)} load balancers ({counts or 'none'}); "
        f"{len(report.open_findings)} open findings; mode {report.mode.value}; "
        f"{report.seconds:.1f} s"
    )
    if not shown:
        return ["no findings", summary]
    rows = [
        [i.cluster or "-", i.name, i.owner or "-", i.outcome.value, shorten(i.reason)]
        for i in shown
    ]
    table = render_table(["CLUSTER", "LOAD BALANCER", "OWNER", "OUTCOME", "REASON"], rows)
    return [*table, "", summary]


def run_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from frontguard.alerts import CollectedAlerts
    from frontguard.engine.scan import scan
    from frontguard.runtime import build_runtime
    from frontguard.settings import Settings

    regions: list[str] = args.region or []
    if args.account or args.organization or args.ou or len(regions) > 1:
        return fleet.run_fleet_scan(args, out, err)
    policy = load_policy(args.policy, enforce=args.enforce)
    settings = Settings(
        policy_json=None,
        policy_parameter=None,
        alert_topic_arn=None,
        verify_queue_url=None,
        state_table=None,
    )
    region = regions[0] if regions else None
    runtime = build_runtime(settings, session=common.session(region), policy=policy)
    runtime.engine.alerts = CollectedAlerts()
    progress = Progress(err)
    try:
        report = scan(runtime.engine, clusters=args.cluster or None, progress=progress)
    finally:
        progress.close()
    if args.output == "json":
        summary = scan_summary(report, account=runtime.account, region=runtime.region)
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        out.write(human(findings_table(report, show_all=args.all)))
    return EXIT_FINDINGS if report.open_findings else EXIT_OK


def add_parser(commands: Any) -> None:
    scan = commands.add_parser(
        "scan",
        help="classify every controller-made load balancer (audit unless --enforce)",
        description="Scan the region with your own AWS credentials and EKS access, or several "
        "accounts (--account, --organization, --ou, through --role) and regions (--region "
        "repeated). Exit code 0: no open findings; 2: findings remain; 1: error (across "
        "accounts: any account-region that could not be scanned).",
    )
    scan.add_argument(
        "--enforce", action="store_true", help="remediate what is not compliant (default: audit)"
    )
    scan.add_argument(
        "--cluster", action="append", metavar="NAME", help="only this cluster (repeatable)"
    )
    scan.add_argument(
        "--region",
        action="append",
        metavar="REGION",
        help="AWS region (default: your AWS configuration); repeat to scan several",
    )
    fleet.add_arguments(scan)
    scan.add_argument(
        "--policy",
        metavar="FILE",
        help="policy document (JSON); default: audit, sources = the load balancer's VPC",
    )
    scan.add_argument("--output", choices=("table", "json"), default="table")
    scan.add_argument("--all", action="store_true", help="table: list compliant LBs too")
    scan.set_defaults(run=run_scan)
