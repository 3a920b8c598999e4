"""The account-wide compliance scan: every controller-made load balancer, classified.

At steady state (everything compliant) the scan makes no per-load-balancer call: load
balancers come in pages of 400 with tags in batches of 20, frontguard's and the controller's
security groups together in pages of 1000, VPCs in one call, and each cluster's Services and Ingresses in one
list each. Only load balancers that fail the cheap check go through the engine, and even
then at the cost of a read: the engine is handed the cluster as listed (IngressClasses and
their params listed once per cluster), frontguard's SG and the VPCs from the
bulk reads, and the listener ports from the controller's own managed SG
(:func:`listeners_from_controller_sg`, which says when a per-LB read is still needed).

In enforce mode the scan decides and fans the repairs out to a queue (``remediations``);
its consumer, the remediation function, applies them one LB at a time. A repair of
something frontguard had set up before is ``drift``. Orphaned frontguard SGs are deleted
after a grace period. Per-LB alerts are collected into the report: the scheduled scan
publishes one digest (handlers/scan_flow.py), not one message per finding.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from frontguard.adapters import network
from frontguard.adapters.remediation_queue import (
    SQS_BATCH,
    RemediationRequest,
    RemediationSink,
)
from frontguard.alerts import Alert
from frontguard.engine import accounting, exemptions, prefix_lists
from frontguard.engine.decision import Engine, Prefetched
from frontguard.engine.owner import ClusterObjects, Owner, resolve_owner
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.engine.scan_bulk import (
    Bulk,
    compliant_at_a_glance,
    list_cluster,
    listeners_from_controller_sg,
    previously_remediated,
    read_bulk,
)
from frontguard.engine.scan_cleanup import clean_up, clean_up_pre_lb, report_impostors
from frontguard.engine.scan_report import (
    OPEN_FINDINGS,
    SEVERITY,
    ScanItem,
    ScanReport,
    severity,
)
from frontguard.errors import FrontguardError, NotFoundError, RetryableError
from frontguard.model import (
    LoadBalancer,
    Outcome,
    OwnerKind,
    OwnerRef,
    classify,
)
from frontguard.policy import VPC_SOURCE, Mode, Policy, is_glob
from frontguard.sources import Sources

logger = logging.getLogger(__name__)

__all__ = [
    "OPEN_FINDINGS",
    "SCAN_PROVENANCE",
    "SEVERITY",
    "ScanItem",
    "ScanReport",
    "listeners_from_controller_sg",
    "scan",
    "severity",
]

DIGEST_ITEMS = 25  # authorised exemptions listed in the digest
# The scan reads no CloudTrail: who changed an AWS resource it cannot say (engine/accounting.py).
SCAN_PROVENANCE: Final = accounting.provenance("scan")


class _Collected:
    """The engine's per-LB alerts during a scan: kept for the digest, never published."""

    def __init__(self) -> None:
        self._by_arn: dict[str, Alert] = {}

    def publish(self, alert: Alert) -> None:
        self._by_arn[alert.load_balancer_arn] = alert

    def take(self, arn: str) -> Alert | None:
        return self._by_arn.pop(arn, None)


class _Fanout:
    """Remediation requests, sent in batches (SQS takes 10 per ``SendMessageBatch``)."""

    def __init__(self, sink: RemediationSink) -> None:
        self._sink = sink
        self._pending: list[RemediationRequest] = []
        self.sent = 0

    def add(self, request: RemediationRequest) -> None:
        self._pending.append(request)
        if len(self._pending) >= SQS_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._sink.enqueue(self._pending)
            self.sent += len(self._pending)
            self._pending = []


def scan(
    engine: Engine,
    *,
    clusters: Collection[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    remediations: RemediationSink | None = None,
    resume_after: tuple[str, str] | None = None,
    time_left: Callable[[], float] | None = None,
    reserve_seconds: float = 60.0,
) -> ScanReport:
    """Classify every controller-made LB in the region; in enforce mode, repair them.

    Per-LB alerts are collected into the report (the scheduled scan publishes one digest).
    ``remediations``: in enforce mode the scan only decides, and sends each LB that needs a
    change to this queue (the remediation function applies it); without one (the CLI) it
    applies inline. ``resume_after`` (cluster, ARN) skips what an earlier invocation of the
    same run did; ``time_left`` (seconds) stops the scan, resumable, when less than
    ``reserve_seconds`` remain.
    """
    started = clock()
    policy = engine.policy
    report = ScanReport(policy.mode)
    load_balancers = list(network.iter_load_balancers(engine.elbv2))
    existing_arns = {lb.arn for lb in load_balancers}
    report.load_balancer_arns = frozenset(existing_arns)
    by_cluster = _select(load_balancers, policy, clusters, resume_after, report)
    need_vpcs = VPC_SOURCE in policy.default_sources or any(
        VPC_SOURCE in rule.sources for rule in policy.rules
    )
    bulk = read_bulk(engine.ec2, need_vpcs)
    bulk.check_vpcs(load_balancers)
    report.policy_warnings = _policy_warnings(engine)
    judge = _Judge.of(
        engine, remediations, bulk, _sync_prefix_lists(engine, by_cluster, bulk, report)
    )
    report.resume_at = resume_after
    try:
        finished = _scan_clusters(
            engine,
            judge,
            by_cluster,
            report,
            progress=progress,
            out_of_time=lambda: time_left is not None and time_left() < reserve_seconds,
        )
    finally:
        report.queued += judge.flush()
    if not finished:
        return _finish(report, started, clock)
    report.complete = True
    report.resume_at = None
    report_impostors(engine, bulk, report)
    clean_up(engine, bulk, existing_arns, report)
    clean_up_pre_lb(engine, bulk, {g for lb in load_balancers for g in lb.security_groups}, report)
    return _finish(report, started, clock)


@dataclass
class _Judge:
    """Decides one load balancer with what the scan read. With a queue (enforce mode), the
    engine decides as in audit mode (no change) and the repair goes to the queue, whose
    consumer applies it; the engine's alerts go to ``collected``, for the digest."""

    deciding: Engine
    policy: Policy  # the real one (the deciding engine's may be audit)
    bulk: Bulk
    owned: Mapping[str, Sources] | None
    collected: _Collected
    fanout: _Fanout | None

    @classmethod
    def of(
        cls,
        engine: Engine,
        remediations: RemediationSink | None,
        bulk: Bulk,
        owned: Mapping[str, Sources] | None,
    ) -> _Judge:
        policy = engine.policy
        fan_out = remediations is not None and policy.mode is Mode.ENFORCE
        collected = _Collected()
        deciding = replace(
            engine,
            alerts=collected,
            policy=policy.model_copy(update={"mode": Mode.AUDIT}) if fan_out else policy,
        )
        fanout = _Fanout(remediations) if remediations is not None and fan_out else None
        return cls(deciding, policy, bulk, owned, collected, fanout)

    def item(
        self, lb: LoadBalancer, owner: OwnerRef, *, cluster: str, view: ClusterObjects | None
    ) -> ScanItem:
        item = _scan_one(
            self.deciding, lb, owner, view=view, bulk=self.bulk, cluster=cluster, owned=self.owned
        )
        item = _with_alert(item, self.collected.take(lb.arn))
        if self.fanout is None or not _needs_change(item, owner, self.policy):
            return item
        self.fanout.add(
            RemediationRequest(load_balancer_arn=lb.arn, cluster=cluster, drift=item.drift)
        )
        return replace(
            item,
            outcome=Outcome.REMEDIATION_QUEUED,
            reason="world-open or off-plan: repair queued",
        )

    def flush(self) -> int:
        """Send what is still pending; how many requests went to the queue."""
        if self.fanout is None:
            return 0
        self.fanout.flush()
        return self.fanout.sent


def _scan_clusters(
    engine: Engine,
    judge: _Judge,
    by_cluster: Mapping[str, list[tuple[LoadBalancer, OwnerRef]]],
    report: ScanReport,
    *,
    progress: Callable[[int, int], None] | None,
    out_of_time: Callable[[], bool],
) -> bool:
    """Judge every selected LB, cluster by cluster (each listed once); ``False`` when out of
    time (``report.resume_at`` says where the next invocation resumes)."""
    total = sum(len(v) for v in by_cluster.values())
    done = 0
    for cluster, members in sorted(by_cluster.items()):
        members.sort(key=lambda m: m[0].arn)
        view = _list_or_none(
            engine,
            cluster,
            with_ingresses=any(
                o.kind in (OwnerKind.INGRESS, OwnerKind.INGRESS_GROUP) for _, o in members
            ),
        )
        for lb, owner in members:
            if out_of_time():
                report.complete = False
                logger.warning(
                    "scan out of time: the next invocation resumes here",
                    extra={"cluster": cluster, "load_balancer_arn": lb.arn, "done": done},
                )
                return False
            report.items.append(judge.item(lb, owner, cluster=cluster, view=view))
            report.resume_at = (cluster, lb.arn)
            done += 1
            if progress is not None:
                progress(done, total)
    return True


def _select(
    load_balancers: Iterable[LoadBalancer],
    policy: Policy,
    clusters: Collection[str] | None,
    resume_after: tuple[str, str] | None,
    report: ScanReport,
) -> dict[str, list[tuple[LoadBalancer, OwnerRef]]]:
    """The controller's LBs in the selected clusters, by cluster, not yet done in this run."""
    by_cluster: dict[str, list[tuple[LoadBalancer, OwnerRef]]] = {}
    for lb in load_balancers:
        classification = classify(lb.tags)
        cluster = lb.cluster
        if classification.owner is None or cluster is None:
            continue  # not the controller's: not frontguard's business
        if not policy.selects_cluster(cluster) or (clusters and cluster not in clusters):
            continue
        if resume_after is not None and (cluster, lb.arn) <= resume_after:
            continue  # done by an earlier invocation of this run
        if classification.owner.kind is OwnerKind.AUTO_MODE:  # legacy kind: never classified
            report.items.append(
                _item(lb, classification.owner, Outcome.IGNORED, classification.skip_reason or "")
            )
            continue
        by_cluster.setdefault(cluster, []).append((lb, classification.owner))
    return by_cluster


def _finish(report: ScanReport, started: float, clock: Callable[[], float]) -> ScanReport:
    report.seconds = clock() - started
    logger.info(
        "scan finished" if report.complete else "scan paused",
        extra={
            "by_outcome": dict(report.by_outcome()),
            "queued": report.queued,
            "seconds": round(report.seconds, 2),
        },
    )
    return report


def _list_or_none(engine: Engine, cluster: str, *, with_ingresses: bool) -> ClusterObjects | None:
    try:
        return list_cluster(engine, cluster, with_ingresses=with_ingresses)
    except (FrontguardError, KeyError, TypeError, AttributeError) as error:
        logger.warning(  # one line per cluster, not per LB
            "cluster unreachable", extra={"cluster": cluster, "problem": str(error)}
        )
        return None


def _needs_change(item: ScanItem, owner: OwnerRef, policy: Policy) -> bool:
    """The dry run found something to apply (and the policy lets frontguard apply it)."""
    if item.outcome not in (Outcome.AUDIT_FINDING, Outcome.BORN_OPEN):
        return False
    return not (owner.auto_mode and not policy.remediate_auto_mode)


def _with_alert(item: ScanItem, alert: Alert | None) -> ScanItem:
    if alert is None:
        return item
    detail = {k: v for k, v in alert.data.items() if v not in (None, "", [], {})}
    if alert.fix:
        detail["fix"] = alert.fix
    return replace(item, detail=detail)


def _item(
    lb: LoadBalancer,
    owner: OwnerRef | None,
    outcome: Outcome,
    reason: str,
    sg: str | None = None,
    *,
    drift: bool = False,
) -> ScanItem:
    return ScanItem(
        lb.arn,
        lb.name,
        lb.cluster,
        owner.describe() if owner else None,
        outcome,
        reason,
        sg,
        drift=drift,
        created=lb.created,
    )


def _scan_one(
    engine: Engine,
    lb: LoadBalancer,
    ref: OwnerRef,
    *,
    view: ClusterObjects | None,
    bulk: Bulk,
    cluster: str,
    owned: Mapping[str, Sources] | None = None,
) -> ScanItem:
    if view is None:
        return _item(lb, ref, Outcome.ERROR, f"cluster {cluster} unreachable")
    try:
        return _scan_checked(engine, lb, ref, view=view, bulk=bulk, cluster=cluster, owned=owned)
    except RetryableError as error:
        return _item(lb, ref, Outcome.ERROR, f"will retry next scan: {error}")
    except FrontguardError as error:
        return _item(lb, ref, Outcome.ERROR, str(error))
    except Exception as error:  # one load balancer's failure never ends the scan
        # Recorded, not swallowed: logged with its traceback and reported as an open finding.
        logger.exception(
            "scan of one load balancer failed",
            extra={"load_balancer_arn": lb.arn, "cluster": cluster, "owner": ref.describe()},
        )
        return _item(
            lb, ref, Outcome.ERROR, f"unexpected failure ({type(error).__name__}); see the logs"
        )


def _scan_checked(
    engine: Engine,
    lb: LoadBalancer,
    ref: OwnerRef,
    *,
    view: ClusterObjects,
    bulk: Bulk,
    cluster: str,
    owned: Mapping[str, Sources] | None = None,
) -> ScanItem:
    owner: Owner | None = None
    if ref.kind is not OwnerKind.GATEWAY and not ref.auto_mode:
        # From the listed objects: no Kubernetes call.
        with contextlib.suppress(NotFoundError):
            owner = resolve_owner(
                engine.kube(cluster), ref, engine.policy.controller_flags(cluster), listed=view
            )
    if owner is not None:
        if exempt := exemptions.decide(owner.objects, ref, cluster, engine.policy):
            if exempt.outcome is Outcome.EXEMPT_UNAPPROVED:
                engine.alerts.publish(
                    Alert(
                        Outcome.EXEMPT_UNAPPROVED,
                        lb.arn,
                        cluster,
                        ref,
                        exempt.reason,
                        fix=exemptions.UNAPPROVED_FIX,
                    )
                )
            return _item(lb, ref, exempt.outcome, exempt.reason)
        if owner.handled and compliant_at_a_glance(engine, lb, owner, bulk):
            ours = bulk.own(lb)  # none for a frontend NLB carrying the ALB's SG
            return _item(lb, ref, Outcome.COMPLIANT, "compliant", ours.id if ours else None)
    drift = previously_remediated(owner.objects if owner else (), bulk.own(lb))
    result = remediate_load_balancer(
        engine,
        lb.arn,
        load_balancer=lb,
        drift=drift,
        provenance=SCAN_PROVENANCE,
        prefetched=Prefetched(
            bulk.own(lb),
            bulk.vpc_cidrs,
            view,
            bulk.endpoint_services_for(engine, lb),
            tuple(bulk.impostors.get(lb.arn, ())),
            listeners=listeners_from_controller_sg(lb, ref, bulk.managed),
            prefix_lists=owned,
        ),
    )
    return _item(lb, ref, result.outcome, result.reason, result.security_group_id, drift=drift)


def _policy_warnings(engine: Engine) -> list[str]:
    """The policy's own warnings, and the prefix lists it names that do not exist (one call,
    only when the policy names prefix lists)."""
    policy = engine.policy
    named = {
        source
        for sources in [policy.default_sources, *(rule.sources for rule in policy.rules)]
        for source in sources
        if source.startswith("pl-")
    }
    missing = network.missing_prefix_lists(engine.ec2, named)
    return [
        *policy.warnings(),
        *(
            f"prefix list {pl} named by the policy does not exist (or is not shared)"
            for pl in missing
        ),
    ]


def _sync_prefix_lists(
    engine: Engine,
    by_cluster: Mapping[str, list[tuple[LoadBalancer, OwnerRef]]],
    bulk: Bulk,
    report: ScanReport,
) -> dict[str, Sources] | None:
    """Keep frontguard's prefix lists equal to the policy (only when some cluster is born
    protected: otherwise no call). An AWS error is reported and the scan goes on."""
    if not engine.policy.born_protected:
        return None
    cluster_vpcs = {
        cluster: bulk.vpc_cidrs.get(members[0][0].vpc_id, [])
        for cluster, members in by_cluster.items()
        if engine.policy.born_protected_cluster(cluster)
    }
    for name in engine.policy.born_protected:
        if name in cluster_vpcs or is_glob(name) or not engine.policy.selects_cluster(name):
            continue
        # A born-protected cluster without load balancers yet, the usual start: the platform
        # applies the rendered classes before any Ingress, and `frontguard render` needs the
        # cluster's `vpc` list. Its VPC from DescribeCluster (granted on the configured
        # clusters); a glob cannot be listed (no eks:ListClusters): such clusters get their
        # lists with their first load balancer.
        try:
            vpc_id = engine.kube(name).vpc_id
        except FrontguardError as error:
            logger.warning(
                "born-protected cluster not described",
                extra={"cluster": name, "problem": str(error)},
            )
            continue
        cluster_vpcs[name] = bulk.vpc_cidrs.get(vpc_id, []) if vpc_id else []
    if engine.state is None:
        # frontguard's lists are proven by their creation records (the state table): a run
        # without it (the CLI) neither creates nor trusts any.
        report.prefix_lists = {"skipped": "no state table: prefix lists are the deployment's"}
        return None
    try:
        synced = prefix_lists.sync(
            engine.ec2, engine.state, engine.policy, engine.alerts, cluster_vpcs
        )
    except FrontguardError as error:
        logger.warning("prefix lists not synchronised", extra={"problem": str(error)})
        report.prefix_lists = {"error": str(error)}
        return None
    report.prefix_lists = synced.as_dict()
    return synced.entries
