"""The scan across accounts and regions: the same engine per account and region, in a bounded
pool of threads, one account's failure never stopping the others.

Each account is reached by assuming a role of the same name in it (the read-only scan role
that the member StackSet deploys, or any role the caller names); each (account, region) gets
its own boto3 session and runtime, exactly what ``frontguard scan`` builds for one region.
Credentials are obtained once per account and shared by its regions; a refusal (access denied,
role missing) is recorded once and reported on every row of that account.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError

from frontguard.adapters.kube import preload
from frontguard.adapters.organizations import (
    Account,
    Credentials,
    assume_role,
    check_role_name,
    role_arn,
)
from frontguard.errors import FrontguardError

if TYPE_CHECKING:
    import boto3

    from frontguard.engine.scan import ScanReport
    from frontguard.policy import Policy
    from frontguard.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_PARALLEL = 8
# (credentials or None for the caller's own, region) -> a session for that account and region.
SessionFactory = Callable[["Credentials | None", str], "boto3.Session"]


@dataclass(frozen=True)
class Target:
    account: Account
    region: str
    assume: bool = True  # False: the caller's own account, with the caller's credentials


@dataclass
class TargetResult:
    target: Target
    report: ScanReport | None = None
    error: str | None = None
    kube_calls: dict[str, int] = field(default_factory=dict)  # by HTTP method

    @property
    def failed(self) -> bool:
        return self.report is None


@dataclass
class FleetReport:
    results: list[TargetResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[TargetResult]:
        return [r for r in self.results if r.failed]

    @property
    def open_findings(self) -> int:
        return sum(len(r.report.open_findings) for r in self.results if r.report is not None)

    def totals(self) -> dict[str, dict[str, Any]]:
        """Per account: name, regions scanned and failed, load balancers, findings by outcome."""
        totals: dict[str, dict[str, Any]] = {}
        for result in self.results:
            account = result.target.account
            row = totals.setdefault(
                account.id,
                {
                    "name": account.name,
                    "regions": 0,
                    "failed_regions": 0,
                    "load_balancers": 0,
                    "open_findings": 0,
                    "by_outcome": Counter(),
                },
            )
            row["regions"] += 1
            if result.report is None:
                row["failed_regions"] += 1
                continue
            row["load_balancers"] += len(result.report.items)
            row["open_findings"] += len(result.report.open_findings)
            row["by_outcome"].update(result.report.by_outcome())
        for row in totals.values():
            row["by_outcome"] = dict(sorted(row["by_outcome"].items()))
        return dict(sorted(totals.items()))


class _Credentials:
    """Credentials per account, assumed once even when its regions run in parallel."""

    def __init__(self, sts: Any, role: str, partition: str) -> None:
        self._sts = sts
        self._role = role
        self._partition = partition
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._found: dict[str, Credentials | FrontguardError] = {}

    def __call__(self, account: str) -> Credentials:
        with self._lock:
            lock = self._locks.setdefault(account, threading.Lock())
        with lock:
            if account not in self._found:
                try:
                    arn = role_arn(account, self._role, self._partition)
                    self._found[account] = assume_role(self._sts, arn)
                except FrontguardError as error:
                    self._found[account] = error
            found = self._found[account]
        if isinstance(found, FrontguardError):
            raise found
        return found


def _check_account(target: Target, answered: str) -> None:
    if target.assume and answered != target.account.id:
        raise FrontguardError(f"the role answered for account {answered}, not {target.account.id}")


def targets_for(
    accounts: Sequence[Account], regions: Sequence[str], *, assume: bool = True
) -> list[Target]:
    return [Target(account, region, assume) for account in accounts for region in regions]


def fleet_scan(
    targets: Sequence[Target],
    *,
    policy: Policy,
    role: str,
    sts: Any,
    session_factory: SessionFactory,
    clusters: Collection[str] | None = None,
    parallel: int = DEFAULT_PARALLEL,
    partition: str = "aws",
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FleetReport:
    """Scan every target with at most ``parallel`` at a time (1: one after the other)."""
    from frontguard.settings import Settings

    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    if any(target.assume for target in targets):
        check_role_name(role)  # a bad name is the caller's error, before any AssumeRole
    started = clock()
    credentials = _Credentials(sts, role, partition)
    settings = Settings(
        policy_json=None,
        policy_parameter=None,
        alert_topic_arn=None,
        verify_queue_url=None,
        state_table=None,
    )
    done = 0
    done_lock = threading.Lock()

    def run(target: Target) -> TargetResult:
        nonlocal done
        result = _scan_target(
            target,
            lambda: session_factory(
                credentials(target.account.id) if target.assume else None, target.region
            ),
            settings,
            policy,
            clusters,
        )
        with done_lock:
            done += 1
            if progress is not None:
                progress(done, len(targets))
        return result

    preload()  # before any worker thread reaches a cluster
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="frontguard-scan") as pool:
        results = list(pool.map(run, targets))
    return FleetReport(results, clock() - started)


def _scan_target(
    target: Target,
    session: Callable[[], Any],
    settings: Settings,
    policy: Policy,
    clusters: Collection[str] | None,
) -> TargetResult:
    """One account-region's scan, or its error row: the per-target boundary."""
    from frontguard.alerts import CollectedAlerts
    from frontguard.engine.scan import scan
    from frontguard.runtime import build_runtime

    context = {"account": target.account.id, "region": target.region}
    try:
        runtime = build_runtime(settings, session=session(), policy=policy)
        _check_account(target, runtime.account)
        runtime.engine.alerts = CollectedAlerts()
        report = scan(runtime.engine, clusters=clusters)
        return TargetResult(target, report=report, kube_calls=runtime.connector.calls())
    except (FrontguardError, BotoCoreError) as error:
        logger.warning("account/region not scanned", extra={**context, "problem": str(error)})
        return TargetResult(target, error=str(error))
    except Exception as error:  # the per-target boundary: one account's
        # surprise (a bug, an unexpected answer) is its own error row, counted in the exit
        # code, never the end of the other accounts' results.
        logger.exception(
            "account/region scan failed unexpectedly",
            extra={**context, "problem": repr(error)},
        )
        return TargetResult(target, error=f"unexpected error: {error!r}")


@functools.cache
def _shared_loader() -> Any:
    """One botocore data loader for every session: each new session would otherwise parse
    the service models' JSON again (about 0.3 s of CPU per account-region; the loader caches
    what it has read)."""
    from botocore.loaders import create_loader

    return create_loader()


def default_session_factory(credentials: Credentials | None, region: str) -> boto3.Session:
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    if credentials is None:
        return boto3.Session(botocore_session=core, region_name=region)
    return boto3.Session(
        botocore_session=core,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=region,
    )
