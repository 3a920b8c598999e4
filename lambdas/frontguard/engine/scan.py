"""The account-wide compliance scan: every controller-made load balancer, classified.

At steady state (everything compliant) the scan makes no per-load-balancer call: load
balancers come in pages of 400 with tags in batches of 20, frontguard's and the controller's
backend security groups in bulk, VPCs in one call, and each cluster's Services and Ingresses
in one list each. Only load balancers that fail the cheap check go through the engine, which
reads what it needs and (in enforce mode) repairs them; a repair of something frontguard had
set up before is ``drift``. Orphaned frontguard SGs are deleted after a grace period.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.adapters.kube import CORE, NETWORKING
from frontguard.alerts import Alert
from frontguard.controller.ingress import (
    frontend_nlb_health_check_ports,
    frontend_nlb_shares_alb_sgs,
)
from frontguard.controller.objects import (
    AnnotationError,
    KubeObject,
    annotations_of,
)
from frontguard.controller.security_groups import annotation_keys, is_id, named_security_groups
from frontguard.engine import exemptions, plan, prefix_lists
from frontguard.engine.owner import ClusterObjects, Owner, read_classes, resolve_owner
from frontguard.engine.remediate import (
    Engine,
    Prefetched,
    impostor_alert,
    remediate_load_balancer,
)
from frontguard.errors import FrontguardError, NotFoundError, RetryableError
from frontguard.model import (
    Listener,
    LoadBalancer,
    Outcome,
    OwnerKind,
    OwnerRef,
    classify,
)
from frontguard.policy import VPC_SOURCE, Mode
from frontguard.sources import Sources

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger(__name__)

# Worst first: the order of the digest.
SEVERITY = (
    Outcome.ERROR,
    Outcome.CONFLICT,
    Outcome.EXEMPT_UNAPPROVED,
    Outcome.NEEDS_RECREATION,
    Outcome.VERIFICATION_FAILED,
    Outcome.BORN_OPEN,
    Outcome.DRIFT,
    Outcome.GITOPS_PENDING,
    Outcome.AUDIT_FINDING,
    Outcome.REMEDIATED,
    Outcome.NOT_CONTROLLER_HANDLED,
    Outcome.EXEMPT,
    Outcome.IGNORED,
    Outcome.COMPLIANT,
    Outcome.BORN_PROTECTED,
    Outcome.VERIFIED,
)
OPEN_FINDINGS = frozenset(
    {
        Outcome.ERROR,
        Outcome.CONFLICT,
        Outcome.EXEMPT_UNAPPROVED,
        Outcome.NEEDS_RECREATION,
        Outcome.GITOPS_PENDING,
        Outcome.AUDIT_FINDING,
        Outcome.BORN_OPEN,
    }
)
DIGEST_ITEMS = 25


@dataclass(frozen=True)
class ScanItem:
    load_balancer_arn: str
    name: str
    cluster: str | None
    owner: str | None
    outcome: Outcome
    reason: str
    security_group_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "load_balancer_arn": self.load_balancer_arn,
            "name": self.name,
            "cluster": self.cluster,
            "owner": self.owner,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "security_group_id": self.security_group_id,
        }


@dataclass
class ScanReport:
    mode: Mode
    items: list[ScanItem] = field(default_factory=list)
    cleaned_up: list[str] = field(default_factory=list)
    kept_orphans: list[str] = field(default_factory=list)
    # SGs carrying frontguard's tags that it did not create: left alone, alerted.
    impostors: list[str] = field(default_factory=list)
    # What the policy says that is valid but probably not meant (policy.Policy.warnings).
    policy_warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    prefix_lists: dict[str, Any] | None = None  # born-protected clusters: the lists' sync

    def by_outcome(self) -> Counter[str]:
        return Counter(item.outcome.value for item in self.items)

    def by_cluster(self) -> dict[str, Counter[str]]:
        clusters: dict[str, Counter[str]] = {}
        for item in self.items:
            clusters.setdefault(item.cluster or "-", Counter())[item.outcome.value] += 1
        return clusters

    @property
    def open_findings(self) -> list[ScanItem]:
        return sorted(
            (i for i in self.items if i.outcome in OPEN_FINDINGS),
            key=lambda i: (SEVERITY.index(i.outcome), i.cluster or "", i.name),
        )

    def digest(self, *, account: str, region: str) -> dict[str, Any]:
        findings = self.open_findings
        return {
            "outcome": "scan-digest",
            "account": account,
            "region": region,
            "mode": self.mode.value,
            "load_balancers": len(self.items),
            "open_findings": len(findings),
            "by_outcome": dict(self.by_outcome()),
            "by_cluster": {c: dict(v) for c, v in self.by_cluster().items()},
            "worst": [i.as_dict() for i in findings[:DIGEST_ITEMS]],
            "cleaned_up_security_groups": self.cleaned_up,
            "impostor_security_groups": self.impostors,
            "policy_warnings": self.policy_warnings,
            # Authorised exemptions, so that every opt-out stays in sight.
            "exempt": [i.as_dict() for i in self.items if i.outcome is Outcome.EXEMPT][
                :DIGEST_ITEMS
            ],
            "seconds": round(self.seconds, 1),
            **({"prefix_lists": self.prefix_lists} if self.prefix_lists is not None else {}),
        }


def list_cluster(engine: Engine, cluster: str, *, with_ingresses: bool) -> ClusterObjects:
    """One cluster's Services and Ingresses, listed once, with IngressClasses (and their
    params) only when some load balancer of the cluster is built from Ingresses."""
    kube = engine.kube(cluster)
    services = list(kube.list_paged(f"{CORE}/services"))
    ingresses = list(kube.list_paged(f"{NETWORKING}/ingresses"))
    classes = read_classes(kube) if with_ingresses else None
    return ClusterObjects.index(
        services, ingresses, classes, engine.policy.controller_flags(cluster)
    )


@dataclass
class _Bulk:
    """What the scan reads once for the whole region."""

    ours: dict[str, aws.SecurityGroup]  # by load balancer ARN: proven frontguard's own
    backend_groups: set[str]
    vpc_cidrs: dict[str, list[str]]
    endpoint_services: dict[str, list[str]] | None = None  # read once, when an NLB needs it
    # By load balancer ARN: SGs carrying frontguard's tags that are not frontguard's.
    impostors: dict[str, list[tuple[aws.SecurityGroup, str]]] = field(default_factory=dict)

    def check_vpcs(self, load_balancers: Iterable[LoadBalancer]) -> None:
        """frontguard's SG is in its load balancer's VPC; one elsewhere is an impostor."""
        for lb in load_balancers:
            group = self.ours.get(lb.arn)
            if group is not None and (problem := aws.ownership_problem(group, lb.arn, lb.vpc_id)):
                del self.ours[lb.arn]
                self.impostors.setdefault(lb.arn, []).append((group, problem))

    def endpoint_services_for(
        self, engine: Engine, lb: LoadBalancer
    ) -> dict[str, list[str]] | None:
        """PrivateLink services by NLB, read for the whole region the first time an NLB goes
        to the engine (never at steady state, where none does)."""
        if lb.type != "network" or engine.policy.privatelink != "alert":
            return None
        if self.endpoint_services is None:
            self.endpoint_services = aws.endpoint_services_by_load_balancer(engine.ec2)
        return self.endpoint_services


def _read_bulk(ec2: EC2Client, need_vpcs: bool) -> _Bulk:
    ours: dict[str, aws.SecurityGroup] = {}
    impostors: dict[str, list[tuple[aws.SecurityGroup, str]]] = {}
    for group in aws.iter_frontguard_security_groups(ec2):
        arn = group.tags.get(t.LOAD_BALANCER_TAG)
        if not arn:
            continue
        # Tags prove nothing: only the name derived from the ARN and frontguard's description
        # (fixed at creation) make it frontguard's (adapters/aws.py ownership_problem).
        if (problem := aws.ownership_problem(group, arn)) is not None:
            impostors.setdefault(arn, []).append((group, problem))
        elif arn not in ours or group.id < ours[arn].id:
            ours[arn] = group
    try:
        backend = {
            g["GroupId"]
            for page in ec2.get_paginator("describe_security_groups").paginate(
                Filters=[{"Name": f"tag:{t.CONTROLLER_RESOURCE_TAG}", "Values": [t.BACKEND_SG]}]
            )
            for g in page["SecurityGroups"]
        }
        vpcs = (
            {
                vpc["VpcId"]: [
                    *(a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])),
                    *(a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", [])),
                ]
                for page in ec2.get_paginator("describe_vpcs").paginate()
                for vpc in page["Vpcs"]
            }
            if need_vpcs
            else {}
        )
    except ClientError as error:
        raise translate(error, "bulk read of SGs and VPCs") from error
    return _Bulk(ours, backend, vpcs, impostors=impostors)


def _compliant_at_a_glance(engine: Engine, lb: LoadBalancer, owner: Owner, bulk: _Bulk) -> bool:
    """The cheap check from bulk data; ``False`` means "ask the engine", not "non-compliant".

    Per port, as the engine plans: the owner's restriction for that port (controller rules)
    narrows the policy's sources. Ports come from frontguard's SG itself (no per-LB
    DescribeListeners at steady state)."""
    policy = engine.policy
    if owner.ref.frontend_nlb and owner.members and frontend_nlb_shares_alb_sgs(owner.members):
        # It carries the ALB's SGs (engine/remediate.py _inherits_alb_sgs).
        frontguard_ids = {g.id for g in bulk.ours.values()}
        governing = frontguard_ids | set(policy.approved_security_groups)
        carried = set(lb.security_groups)
        return bool(carried & governing) and carried <= governing | bulk.backend_groups
    ours = bulk.ours.get(lb.arn)
    if ours is None or ours.foreign_permissions or ours.id not in lb.security_groups:
        return False
    if owner.problem is not None or owner.gateway is not None:
        return False
    allowed_on_lb = {ours.id} | set(policy.approved_security_groups) | bulk.backend_groups
    if not set(lb.security_groups) <= allowed_on_lb:
        return False  # e.g. the controller's world-open SG is back
    keys = annotation_keys(owner.ref)
    for obj in owner.objects:
        entries = named_security_groups(obj, keys.security_groups)
        if ours.id not in entries or not all(is_id(e) for e in entries):
            return False  # names are resolved by the engine
        try:
            if not plan.backend_rules_managed(obj, keys):
                return False
        except AnnotationError:
            return False
    allowed = plan.policy_sources(
        policy,
        lb=lb,
        owner=owner.ref,
        namespaces=owner.namespaces,
        vpc_cidrs=bulk.vpc_cidrs.get(lb.vpc_id, []),
    )
    listeners = {
        Listener(port, "UDP" if protocol == "udp" else "TCP")
        for protocol, port in {(r.protocol, r.port) for r in ours.rules if r.source != ours.id}
    }
    expected = plan.plan_rules(listeners, allowed, owner.restrictions).rules
    if not owner.ref.frontend_nlb and owner.members and frontend_nlb_shares_alb_sgs(owner.members):
        expected |= plan.frontend_nlb_rules(
            listeners, frontend_nlb_health_check_ports(owner.members), ours.id
        )
    return expected == ours.rules


def _previously_remediated(objects: Iterable[KubeObject], ours: aws.SecurityGroup | None) -> bool:
    return ours is not None or any(t.REPLACED_ANNOTATION in annotations_of(o) for o in objects)


def scan(
    engine: Engine,
    *,
    clusters: Collection[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ScanReport:
    """Classify (and in enforce mode repair) every controller-made LB in the region."""
    started = clock()
    policy = engine.policy
    report = ScanReport(policy.mode)
    load_balancers = list(aws.iter_load_balancers(engine.elbv2))
    existing_arns = {lb.arn for lb in load_balancers}

    by_cluster: dict[str, list[tuple[LoadBalancer, OwnerRef]]] = {}
    for lb in load_balancers:
        classification = classify(lb.tags)
        cluster = lb.cluster
        if classification.owner is None or cluster is None:
            continue  # not the controller's: not frontguard's business
        if not policy.selects_cluster(cluster) or (clusters and cluster not in clusters):
            continue
        if classification.owner.kind is OwnerKind.AUTO_MODE:  # legacy kind: never classified
            report.items.append(
                _item(lb, classification.owner, Outcome.IGNORED, classification.skip_reason or "")
            )
            continue
        by_cluster.setdefault(cluster, []).append((lb, classification.owner))

    need_vpcs = VPC_SOURCE in policy.default_sources or any(
        VPC_SOURCE in rule.sources for rule in policy.rules
    )
    bulk = _read_bulk(engine.ec2, need_vpcs)
    bulk.check_vpcs(load_balancers)
    report.policy_warnings = _policy_warnings(engine)
    owned_lists = _sync_prefix_lists(engine, by_cluster, bulk, report)
    total = sum(len(v) for v in by_cluster.values())
    done = 0
    for cluster, members in sorted(by_cluster.items()):
        try:
            view = list_cluster(
                engine,
                cluster,
                with_ingresses=any(
                    o.kind in (OwnerKind.INGRESS, OwnerKind.INGRESS_GROUP) for _, o in members
                ),
            )
        except (FrontguardError, KeyError, TypeError, AttributeError) as error:
            logger.warning(  # one line per cluster, not per LB
                "cluster unreachable", extra={"cluster": cluster, "problem": str(error)}
            )
            view = None
        for lb, owner in members:
            report.items.append(
                _scan_one(
                    engine, lb, owner, view=view, bulk=bulk, cluster=cluster, owned=owned_lists
                )
            )
            done += 1
            if progress is not None:
                progress(done, total)

    _report_impostors(engine, bulk, report)
    _clean_up(engine, bulk, existing_arns, report)
    report.seconds = clock() - started
    logger.info(
        "scan finished",
        extra={"by_outcome": dict(report.by_outcome()), "seconds": round(report.seconds, 2)},
    )
    return report


def _item(
    lb: LoadBalancer, owner: OwnerRef | None, outcome: Outcome, reason: str, sg: str | None = None
) -> ScanItem:
    return ScanItem(
        lb.arn, lb.name, lb.cluster, owner.describe() if owner else None, outcome, reason, sg
    )


def _scan_one(
    engine: Engine,
    lb: LoadBalancer,
    ref: OwnerRef,
    *,
    view: ClusterObjects | None,
    bulk: _Bulk,
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
    bulk: _Bulk,
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
        if owner.handled and _compliant_at_a_glance(engine, lb, owner, bulk):
            ours = bulk.ours.get(lb.arn)  # none for a frontend NLB carrying the ALB's SG
            return _item(lb, ref, Outcome.COMPLIANT, "compliant", ours.id if ours else None)
    result = remediate_load_balancer(
        engine,
        lb.arn,
        load_balancer=lb,
        drift=_previously_remediated(owner.objects if owner else (), bulk.ours.get(lb.arn)),
        prefetched=Prefetched(
            bulk.ours.get(lb.arn),
            bulk.vpc_cidrs,
            view,
            bulk.endpoint_services_for(engine, lb),
            tuple(bulk.impostors.get(lb.arn, ())),
            owned,
        ),
    )
    return _item(lb, ref, result.outcome, result.reason, result.security_group_id)


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
    missing = aws.missing_prefix_lists(engine.ec2, named)
    return [
        *policy.warnings(),
        *(
            f"prefix list {pl} named by the policy does not exist (or is not shared)"
            for pl in missing
        ),
    ]


def _report_impostors(engine: Engine, bulk: _Bulk, report: ScanReport) -> None:
    """SGs that carry frontguard's tags but are not frontguard's: never converged, attached or
    deleted; one ``conflict`` alert per load balancer ARN they name (deduplicated per period)."""
    for arn, found in sorted(bulk.impostors.items()):
        report.impostors.extend(group.id for group, _ in found)
        logger.warning(
            "SGs carry frontguard's tags but are not frontguard's",
            extra={"load_balancer_arn": arn, "security_group_ids": [g.id for g, _ in found]},
        )
        cluster = found[0][0].tags.get(t.FG_CLUSTER_TAG)
        engine.alerts.publish(impostor_alert(arn, cluster, None, found))


def _sync_prefix_lists(
    engine: Engine,
    by_cluster: Mapping[str, list[tuple[LoadBalancer, OwnerRef]]],
    bulk: _Bulk,
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
    try:
        synced = prefix_lists.sync(engine.ec2, engine.policy, engine.alerts, cluster_vpcs)
    except FrontguardError as error:
        logger.warning("prefix lists not synchronised", extra={"problem": str(error)})
        report.prefix_lists = {"error": str(error)}
        return None
    report.prefix_lists = synced.as_dict()
    return synced.entries


def _clean_up(engine: Engine, bulk: _Bulk, existing_arns: set[str], report: ScanReport) -> None:
    """Delete frontguard SGs whose load balancer is gone, after a grace period."""
    grace = engine.policy.cleanup_grace_hours * 3600
    for arn, group in sorted(bulk.ours.items()):
        if arn in existing_arns:
            continue
        context = {"security_group_id": group.id, "load_balancer_arn": arn}
        if engine.policy.mode is Mode.AUDIT or engine.state is None:
            report.kept_orphans.append(group.id)
            logger.info("orphaned frontguard SG kept (audit mode or no state)", extra=context)
            continue
        first_seen = engine.state.first_seen(f"orphan#{group.id}")
        if engine.state.now() - first_seen < grace:
            report.kept_orphans.append(group.id)
            continue
        try:
            engine.ec2.delete_security_group(GroupId=group.id)
        except ClientError as error:
            if error_code(error) in ("DependencyViolation", "InvalidGroup.InUse"):
                report.kept_orphans.append(group.id)
                logger.info("orphaned frontguard SG still referenced: kept", extra=context)
                continue
            if error_code(error) == "InvalidGroup.NotFound":
                continue
            # Access denied or a persistent fault: keep it, report it, finish the scan.
            report.kept_orphans.append(group.id)
            logger.warning(
                "orphaned frontguard SG could not be deleted",
                extra={**context, "problem": str(translate(error, "delete SG"))},
            )
            continue
        report.cleaned_up.append(group.id)
        logger.info("orphaned frontguard SG deleted", extra=context)
