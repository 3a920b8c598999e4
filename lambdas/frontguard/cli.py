"""The ``frontguard`` command line: scan (from a laptop or a pipeline), doctor, canary,
render and revert. The demo is the sandbox's (``bin/demo``).

It runs the same engine as the Lambdas with the user's own AWS credentials (boto3's default
session) and reaches each EKS cluster through DescribeCluster and a presigned STS token, so no
kubeconfig is needed. Only the standard library is added here: the Lambda package must not
grow for the CLI.

Exit codes: 0 nothing open; 2 findings remain (so ``frontguard scan`` can gate a pipeline);
1 on errors, with a one-line message and no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from frontguard.errors import ConfigurationError, FrontguardError
from frontguard.permissions import partition_of

if TYPE_CHECKING:
    import boto3

    from frontguard.adapters.state import StateTable
    from frontguard.alerts import Alert
    from frontguard.doctor.born import Expected
    from frontguard.engine.scan import ScanItem, ScanReport
    from frontguard.fleet import FleetReport
    from frontguard.policy import Policy

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_FINDINGS = 2
# The built-in policy for `frontguard scan` without --policy: the VPC's own CIDRs only.
DEFAULT_POLICY: dict[str, Any] = {"mode": "audit", "default_sources": ["vpc"]}
PROGRESS_THRESHOLD = 50  # load balancers; below it, a non-TTY stderr gets no progress line
REASON_WIDTH = 90


class CollectedAlerts:
    """The CLI's alert sink: findings go into the table, not to SNS or the log."""

    def __init__(self) -> None:
        self.published: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.published.append(alert)


# --- scan -----------------------------------------------------------------------------------


def load_policy(path: str | None, *, enforce: bool) -> Policy:
    """The policy file (or the built-in audit policy); the mode comes from ``--enforce``.

    A file that says ``enforce`` still runs in audit unless ``--enforce`` is given: a look
    from a laptop never changes anything by surprise.
    """
    from frontguard.policy import Mode, Policy

    if path is None:
        policy = Policy.from_document(DEFAULT_POLICY)
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(f"cannot read policy file {path}: {error.strerror}") from error
        policy = Policy.from_json(text)
    mode = Mode.ENFORCE if enforce else Mode.AUDIT
    return policy.model_copy(update={"mode": mode})


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


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain-text table: columns padded to their widest cell, a dashed rule under the header."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _shorten(text: str, width: int = REASON_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


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
        [i.cluster or "-", i.name, i.owner or "-", i.outcome.value, _shorten(i.reason)]
        for i in shown
    ]
    table = render_table(["CLUSTER", "LOAD BALANCER", "OWNER", "OUTCOME", "REASON"], rows)
    return [*table, "", summary]


def _human(lines: Sequence[str]) -> str:
    """Lines for a terminal: values from annotations, records and tags are user-written, so
    no control or bidi character reaches the terminal raw (cursor movement, OSC 52)."""
    from frontguard.untrusted import printable

    return "".join(printable(line) + "\n" for line in lines)


def _session(region: str | None) -> boto3.Session:
    import boto3

    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        raise ConfigurationError(
            "no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION"
        )
    return session


def run_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from frontguard.engine.scan import scan
    from frontguard.runtime import build_runtime
    from frontguard.settings import Settings

    regions: list[str] = args.region or []
    if args.account or args.organization or args.ou or len(regions) > 1:
        return run_fleet_scan(args, out, err)
    policy = load_policy(args.policy, enforce=args.enforce)
    settings = Settings(
        policy_json=None,
        policy_parameter=None,
        alert_topic_arn=None,
        verify_queue_url=None,
        state_table=None,
    )
    region = regions[0] if regions else None
    runtime = build_runtime(settings, session=_session(region), policy=policy)
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
        out.write(_human(findings_table(report, show_all=args.all)))
    return EXIT_FINDINGS if report.open_findings else EXIT_OK


# --- scan across accounts and regions -----------------------------------------------------


def run_fleet_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``frontguard scan`` over accounts (assumed role) x regions, in a bounded pool."""
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.adapters.organizations import (
        Account,
        organization_accounts,
        parse_accounts,
    )
    from frontguard.fleet import default_session_factory, fleet_scan, targets_for

    if args.parallel < 1:
        raise ConfigurationError("--parallel must be at least 1")
    if args.enforce and (args.account or args.organization or args.ou):
        raise ConfigurationError(
            "across accounts frontguard scan only audits (the member role is read-only); each "
            "account's own frontguard stack enforces"
        )
    policy = load_policy(args.policy, enforce=args.enforce)
    caller = _session(args.region[0] if args.region else None)
    regions: list[str] = list(dict.fromkeys(args.region or [caller.region_name]))
    assume = True
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
        accounts = [Account(sts.get_caller_identity()["Account"])]
        assume = False
    targets = targets_for(accounts, regions, assume=assume)
    report = fleet_scan(
        targets,
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
    from frontguard.engine.scan import SEVERITY
    from frontguard.model import Outcome

    quiet = {Outcome.COMPLIANT, Outcome.VERIFIED}
    rows: list[list[str]] = []
    for result in report.results:
        account, region = result.target.account.id, result.target.region
        if result.report is None:
            rows.append([account, region, "-", "-", "-", "failed", _shorten(result.error or "")])
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
                _shorten(i.reason, 60),
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
    lines += ["", "Totals by account:"]
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


# --- revert -------------------------------------------------------------------------------


def run_revert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.engine.revert import Scope, render, revert
    from frontguard.runtime import ClusterConnector

    if args.object:
        try:
            scope = Scope.parse_object(args.cluster, args.object)
        except ValueError as error:
            raise ConfigurationError(str(error)) from error
        if args.namespace and args.namespace != scope.namespace:
            raise ConfigurationError("--namespace and --object name different namespaces")
    else:
        scope = Scope(args.cluster, namespace=args.namespace)
    session = _session(args.region)
    connector = ClusterConnector(
        session.client("eks", config=CLIENT_CONFIG), session.client("sts", config=CLIENT_CONFIG)
    )
    kube = connector(args.cluster)
    ec2 = session.client("ec2", config=CLIENT_CONFIG)
    elbv2 = session.client("elbv2", config=CLIENT_CONFIG)
    result = revert(kube, ec2, elbv2, scope, apply=args.apply)
    out.write(_human(render(result, applied=args.apply)))
    if not args.apply and (result.patches or result.config_patches or result.security_groups):
        err.write("dry run: nothing changed; add --apply to do it\n")
    return EXIT_OK


# --- doctor -------------------------------------------------------------------------------

DOCTOR_SERVICES = (
    "cloudformation",
    "cloudtrail",
    "events",
    "sns",
    "cloudwatch",
    "lambda",
    "sqs",
    "ssm",
    "eks",
    "sts",
    "ec2",  # frontguard's prefix lists, for born-protected clusters
    "dynamodb",  # the state table's resource policy (channels)
)


def run_doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.doctor import checks, report
    from frontguard.runtime import ClusterConnector

    session = _session(args.region)
    clients = {name: session.client(name, config=CLIENT_CONFIG) for name in DOCTOR_SERVICES}  # type: ignore[call-overload]
    account = clients["sts"].get_caller_identity()["Account"]
    region = str(session.region_name)
    stack = args.stack or f"Frontguard-{account}-{region}"
    deployment = checks.discover(clients["cloudformation"], stack, region=region, account=account)
    connector = ClusterConnector(clients["eks"], clients["sts"])
    found = checks.run_all(
        clients=clients,
        connect=connector,
        deployment=deployment,
        publish=not args.no_publish,
        born_protected=_born_protected(
            clients["ec2"], clients["eks"], args, _creation_records(session, stack)
        ),
    )
    if args.output == "json":
        out.write(json.dumps({"stack": stack, **report.summary(found)}, indent=2) + "\n")
    else:
        out.write(f"frontguard doctor: stack {stack} in {account} {region}\n\n")
        out.write("\n".join(report.table(found)) + "\n")
    return EXIT_OK if report.healthy(found) else EXIT_ERROR


STACK_READER_SERVICES = ("cloudformation", "sts", "dynamodb")


def _creation_records(session: boto3.Session, stack: str | None) -> StateTable:
    """The deployed stack's state table, whose creation records prove frontguard's prefix
    lists (a tag proves nothing: security review r2, R2-2). Read with the caller's own
    credentials (dynamodb:GetItem on the table)."""
    from botocore.exceptions import ClientError

    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.adapters.state import StateTable

    # CLI-only clients, named in a tuple like the doctor's: the Lambda asset does not carry
    # CloudFormation's model (infra/bundling.py BOTOCORE_SERVICES).
    clients = {name: session.client(name, config=CLIENT_CONFIG) for name in STACK_READER_SERVICES}  # type: ignore[call-overload]
    cloudformation = clients["cloudformation"]
    name = stack or (
        f"Frontguard-{clients['sts'].get_caller_identity()['Account']}-{session.region_name}"
    )
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        raise ConfigurationError(
            f"cannot read stack {name} ({error.response['Error'].get('Code')}): frontguard's "
            "prefix lists are proven by its state table; pass --stack"
        ) from error
    outputs = {o["OutputKey"]: o["OutputValue"] for s in stacks for o in s.get("Outputs", [])}
    table = outputs.get("StateTableName")
    if not table:
        raise ConfigurationError(
            f"stack {name} has no StateTableName output: redeploy it with this version"
        )
    return StateTable(clients["dynamodb"], table)


def _born_protected(
    ec2: Any, eks_client: Any, args: argparse.Namespace, records: StateTable
) -> Callable[[Policy, str], Expected]:
    """For the doctor: a born-protected cluster's expected objects, exactly what `frontguard
    render born-protected` prints for it with the same --namespace and --other-class and the
    Kubernetes version DescribeCluster reports (the doctor never imports the rendering:
    .importlinter), and frontguard's prefix lists (read once)."""
    import functools

    from frontguard import render
    from frontguard.adapters import eks, prefix_lists
    from frontguard.controller.class_fields import PREFIX_LIST_FIELDS
    from frontguard.doctor.born import Expected
    from frontguard.render_services import parse_kubernetes_version

    owned = functools.cache(lambda: prefix_lists.owned(ec2, records).lists)

    def expect(policy: Policy, cluster: str) -> Expected:
        version = parse_kubernetes_version(eks.kubernetes_version(eks_client, cluster))
        objects = render.born_protected(
            policy,
            cluster,
            owned(),
            namespace=args.namespace,
            other_classes=args.other_class or (),
            kubernetes_version=version,
        )
        return Expected(
            objects=objects,
            owned_prefix_lists=frozenset(pl.id for pl in owned().values()),
            prefix_list_fields=PREFIX_LIST_FIELDS,
        )

    return expect


# --- canary -------------------------------------------------------------------------------

EXIT_INTERRUPTED = 130
CANARY_SERVICES = (
    "eks",
    "sts",
    "elbv2",
    "ec2",
    "resourcegroupstaggingapi",
    "sqs",
    "cloudformation",
)


def run_canary(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One canary run with the caller's credentials (docs/canary.md): exit 0 when every stage
    passed, 1 when one failed, 130 when interrupted (after the clean-up)."""
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.canary import report as canary_report
    from frontguard.canary.owners import Kind
    from frontguard.canary.probe import Canary, CanaryClients, CanarySettings
    from frontguard.runtime import ClusterConnector

    session = _session(args.region)
    clients = {name: session.client(name, config=CLIENT_CONFIG) for name in CANARY_SERVICES}  # type: ignore[call-overload]
    queue_url = args.alerts_queue or _canary_queue(clients, args.stack, str(session.region_name))
    canary = Canary(
        CanarySettings(
            cluster=args.cluster,
            kind=Kind(args.kind),
            namespace=args.namespace,
            internet_facing=args.internet_facing,
            timeout_seconds=args.timeout,
            poll_seconds=args.poll,
            ingress_class=args.ingress_class,
            gateway_class=args.gateway_class,
        ),
        CanaryClients(
            kube=ClusterConnector(clients["eks"], clients["sts"])(args.cluster),
            elbv2=clients["elbv2"],
            ec2=clients["ec2"],
            tagging=clients["resourcegroupstaggingapi"],
            sqs=clients["sqs"],
            alerts_queue_url=queue_url,
        ),
        progress=_waiting(err),
    )
    interrupted = False
    try:
        canary.run()
    except KeyboardInterrupt:
        interrupted = True  # run() cleaned up on its way out
    err.write("\r\033[K" if err.isatty() else "")
    report = canary.report
    if args.output == "json":
        out.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.write("\n".join(canary_report.table(report)) + "\n")
    if interrupted:
        err.write("frontguard: interrupted; the canary's objects were deleted\n")
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok else EXIT_ERROR


def _canary_queue(clients: dict[str, Any], stack: str | None, region: str) -> str | None:
    """The deployed stack's canary subscription (output CanaryAlertsQueueUrl), if any."""
    from botocore.exceptions import ClientError

    name = stack or f"Frontguard-{clients['sts'].get_caller_identity()['Account']}-{region}"
    try:
        stacks = clients["cloudformation"].describe_stacks(StackName=name)["Stacks"]
    except ClientError:
        return None
    outputs = {o["OutputKey"]: o["OutputValue"] for s in stacks for o in s.get("Outputs", [])}
    return outputs.get("CanaryAlertsQueueUrl")


def _waiting(err: TextIO) -> Callable[[str, float], None]:
    """One progress line while the canary waits: rewritten in place on a terminal, one line
    every 30 s otherwise (CI logs)."""
    last = [-30.0]

    def show(what: str, seconds: float) -> None:
        if err.isatty():
            err.write(f"\r\033[Kcanary: waiting for {what} ({seconds:.0f} s)")
        elif seconds - last[0] >= 30:
            last[0] = seconds
            err.write(f"canary: waiting for {what} ({seconds:.0f} s)\n")
        err.flush()

    return show


# --- render -------------------------------------------------------------------------------


def run_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the born-protected objects of one cluster as YAML (reads frontguard's prefix
    lists; writes nothing anywhere)."""
    import yaml

    from frontguard import render
    from frontguard.adapters import eks, prefix_lists
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.render_services import parse_kubernetes_version, version_note

    policy = load_policy(args.policy, enforce=False)
    session = _session(args.region)
    if args.kubernetes_version:
        version, source = parse_kubernetes_version(args.kubernetes_version), "--kubernetes-version"
    else:
        found = eks.kubernetes_version(session.client("eks", config=CLIENT_CONFIG), args.cluster)
        version, source = parse_kubernetes_version(found), "DescribeCluster"
    ec2 = session.client("ec2", config=CLIENT_CONFIG)
    objects = render.born_protected(
        policy,
        args.cluster,
        prefix_lists.owned(ec2, _creation_records(session, args.stack)).lists,
        deny=args.deny,
        namespace=args.namespace,
        other_classes=args.other_class or (),
        kubernetes_version=version,
    )
    out.write(
        f"# frontguard render born-protected --cluster {args.cluster}: apply with your GitOps "
        f"(validationActions {'Deny' if args.deny else 'Warn'}); see docs/born-protected.md\n"
        f"# {version_note(version, source)}\n"
    )
    out.write(yaml.safe_dump_all(objects, sort_keys=False))
    return EXIT_OK


# --- entry point --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontguard",
        description="Keep AWS Load Balancer Controller load balancers behind policy "
        "security groups.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    scan.add_argument(
        "--policy",
        metavar="FILE",
        help="policy document (JSON); default: audit, sources = the load balancer's VPC",
    )
    scan.add_argument("--output", choices=("table", "json"), default="table")
    scan.add_argument("--all", action="store_true", help="table: list compliant LBs too")
    scan.set_defaults(run=run_scan)

    revert = commands.add_parser(
        "revert",
        help="undo frontguard's work on a cluster (dry run unless --apply)",
        description="Restore the annotations frontguard replaced (frontguard.io/replaced) so "
        "the controller brings back its default SG, then delete frontguard's SGs that nothing "
        "uses any more. Dry run unless --apply.",
    )
    revert.add_argument("--cluster", required=True, metavar="NAME")
    revert.add_argument("--namespace", metavar="NS", help="only objects in this namespace")
    revert.add_argument(
        "--object",
        metavar="KIND/NS/NAME",
        help="only this object (service/ns/name or ingress/ns/name; its IngressGroup entirely)",
    )
    revert.add_argument("--region", help="AWS region (default: your AWS configuration)")
    revert.add_argument("--apply", action="store_true", help="make the changes")
    revert.set_defaults(run=run_revert)

    doctor = commands.add_parser(
        "doctor",
        help="check that a deployment really works (exit code 1 on any failure)",
        description="Check the deployed stack with your own credentials: CloudTrail, the "
        "EventBridge rules (against real CloudTrail records), alert delivery, the functions, "
        "each cluster's access and controller, and in clusters the policy lists in "
        "born_protected the objects `render born-protected` prints. Each failure says what "
        "to fix. Sends one test alert and sets one alarm to ALARM and back (skip with "
        "--no-publish).",
    )
    doctor.add_argument("--stack", help="stack name (default: Frontguard-<account>-<region>)")
    doctor.add_argument("--region", help="AWS region (default: your AWS configuration)")
    doctor.add_argument("--output", choices=("table", "json"), default="table")
    doctor.add_argument(
        "--no-publish", action="store_true", help="no test alert, no alarm state change"
    )
    doctor.add_argument(
        "--namespace",
        default="frontguard-system",
        help="born-protected clusters: the --namespace given to `render born-protected`",
    )
    doctor.add_argument(
        "--other-class",
        action="append",
        metavar="NAME",
        help="born-protected clusters: each --other-class given to `render born-protected`",
    )
    doctor.set_defaults(run=run_doctor)

    render_cmd = commands.add_parser(
        "render",
        help="print in-cluster objects for a platform team to apply (nothing is written)",
        description="born-protected: the IngressClass + IngressClassParams, the GatewayClass-"
        "level LoadBalancerConfiguration, a ValidatingAdmissionPolicy and (Kubernetes >= 1.36) "
        "a MutatingAdmissionPolicy for Services that make load balancers born at policy width, "
        "referencing frontguard's prefix lists.",
    )
    render_cmd.add_argument("what", choices=("born-protected",))
    render_cmd.add_argument("--cluster", required=True, metavar="NAME")
    render_cmd.add_argument("--policy", metavar="FILE", help="policy document (JSON)")
    render_cmd.add_argument("--region", help="AWS region (default: your AWS configuration)")
    render_cmd.add_argument(
        "--stack",
        help="the deployed stack whose state table proves frontguard's prefix lists (default: "
        "Frontguard-<account>-<region>)",
    )
    render_cmd.add_argument(
        "--deny", action="store_true", help="the admission policy denies (default: Warn)"
    )
    render_cmd.add_argument(
        "--namespace",
        default="frontguard-system",
        help="namespace of the GatewayClass-level LoadBalancerConfiguration",
    )
    render_cmd.add_argument(
        "--kubernetes-version",
        metavar="X.Y",
        help="the cluster's Kubernetes version (default: EKS DescribeCluster); from 1.36 the "
        "output includes the MutatingAdmissionPolicy for Services",
    )
    render_cmd.add_argument(
        "--other-class",
        action="append",
        metavar="NAME",
        help="an IngressClass of another controller the admission policy lets through",
    )
    render_cmd.set_defaults(run=run_render)

    _add_canary_parser(commands)
    return parser


def _add_canary_parser(commands: Any) -> None:
    canary = commands.add_parser(
        "canary",
        help="measure the real exposure of a new load balancer in a cluster (exit code 1 on "
        "failure)",
        description="Create a throw-away owner (labelled frontguard.io/canary, pointing at no "
        "workload), wait for the controller's load balancer, measure how long it was open "
        "before frontguard's SG was on it and which path acted, read frontguard's alert and "
        "verification, then delete the owner and wait for the controller to delete the load "
        "balancer. Nothing is left behind, also on failure or Ctrl-C; an earlier run's "
        "leftovers are removed first. See docs/canary.md.",
    )
    canary.add_argument("--cluster", required=True, metavar="NAME")
    canary.add_argument("--namespace", default="frontguard-canary", metavar="NS")
    canary.add_argument("--kind", choices=("ingress", "service", "gateway"), default="ingress")
    canary.add_argument(
        "--internet-facing", action="store_true", help="internet-facing (default: internal)"
    )
    canary.add_argument(
        "--timeout", type=float, default=600, metavar="SECONDS", help="wall time (default 600)"
    )
    canary.add_argument("--poll", type=float, default=5, metavar="SECONDS", help=argparse.SUPPRESS)
    canary.add_argument("--ingress-class", default="alb", metavar="NAME")
    canary.add_argument("--gateway-class", default="alb", metavar="NAME")
    canary.add_argument("--stack", help="stack name (default: Frontguard-<account>-<region>)")
    canary.add_argument(
        "--alerts-queue",
        metavar="URL",
        help="the queue subscribed to the alert topic (default: the stack's canary queue)",
    )
    canary.add_argument("--region", help="AWS region (default: your AWS configuration)")
    canary.add_argument("--output", choices=("table", "json"), default="table")
    canary.set_defaults(run=run_canary)


def _configure_logging(verbose: bool) -> None:
    root = logging.getLogger()
    if root.handlers:  # embedded (tests, another tool): leave its logging alone
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("frontguard").setLevel(logging.INFO if verbose else logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError

    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
    try:
        return run(args, sys.stdout, sys.stderr)
    except FrontguardError as error:
        sys.stderr.write(f"frontguard: error: {error}\n")
    except BotoCoreError as error:  # no credentials, no endpoint, ...
        sys.stderr.write(f"frontguard: error: AWS: {error}\n")
    except KeyboardInterrupt:
        sys.stderr.write("frontguard: interrupted\n")
    return EXIT_ERROR
