"""The account-wide compliance scan: every controller-made load balancer, classified.

At steady state (everything compliant) the scan makes no per-load-balancer call: load
balancers come in pages of 400 with tags in batches of 20, frontguard's and the controller's
backend security groups in bulk, VPCs in one call, and each cluster's Services and Ingresses
in one list each. Only load balancers that fail the cheap check go through the engine, which
reads what it needs and (in enforce mode) repairs them; a repair of something frontguard had
set up before is ``drift``. Orphaned frontguard SGs are deleted after a grace period.
"""

from __future__ import annotations

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
from frontguard.adapters.kube import CORE, NETWORKING, KubeObject
from frontguard.engine import plan
from frontguard.engine.remediate import Engine, Prefetched, remediate_load_balancer
from frontguard.errors import FrontguardError, RetryableError
from frontguard.model import (
    LoadBalancer,
    Outcome,
    OwnerKind,
    OwnerRef,
    PermissionRule,
    classify,
)
from frontguard.policy import VPC_SOURCE, Mode

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger(__name__)

# Worst first: the order of the digest.
SEVERITY = (
    Outcome.ERROR,
    Outcome.CONFLICT,
    Outcome.NEEDS_RECREATION,
    Outcome.VERIFICATION_FAILED,
    Outcome.DRIFT,
    Outcome.GITOPS_PENDING,
    Outcome.AUDIT_FINDING,
    Outcome.REMEDIATED,
    Outcome.NOT_CONTROLLER_HANDLED,
    Outcome.EXEMPT,
    Outcome.IGNORED,
    Outcome.COMPLIANT,
    Outcome.VERIFIED,
)
OPEN_FINDINGS = frozenset(
    {
        Outcome.ERROR,
        Outcome.CONFLICT,
        Outcome.NEEDS_RECREATION,
        Outcome.GITOPS_PENDING,
        Outcome.AUDIT_FINDING,
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
    seconds: float = 0.0
    # Every load balancer in the region, the controller's or not (what still exists).
    load_balancer_arns: frozenset[str] = frozenset()

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
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class ClusterView:
    """One cluster's Services and Ingresses, listed once."""

    services: Mapping[tuple[str, str], KubeObject]
    ingresses: Mapping[tuple[str, str], KubeObject]
    groups: Mapping[str, list[KubeObject]]


def _key(obj: KubeObject) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


def list_cluster(engine: Engine, cluster: str) -> ClusterView:
    kube = engine.kube(cluster)
    services = {_key(s): s for s in kube.list_paged(f"{CORE}/services")}
    ingresses = {_key(i): i for i in kube.list_paged(f"{NETWORKING}/ingresses")}
    groups: dict[str, list[KubeObject]] = {}
    for ingress in ingresses.values():
        group = plan.annotations_of(ingress).get(t.INGRESS_GROUP_ANNOTATION)
        if group:
            groups.setdefault(group, []).append(ingress)
    return ClusterView(services, ingresses, groups)


def _owner_objects(view: ClusterView, owner: OwnerRef) -> list[KubeObject]:
    if owner.kind is OwnerKind.SERVICE:
        found = view.services.get((owner.namespace or "", owner.name or ""))
        return [found] if found else []
    if owner.kind is OwnerKind.INGRESS:
        found = view.ingresses.get((owner.namespace or "", owner.name or ""))
        return [found] if found else []
    if owner.kind is OwnerKind.INGRESS_GROUP:
        return list(view.groups.get(owner.group or "", []))
    # Gateways: no bulk view; the engine reads the Gateway and its configurations.
    return []


@dataclass
class _Bulk:
    """What the scan reads once for the whole region."""

    ours: dict[str, aws.SecurityGroup]  # by load balancer ARN
    backend_groups: set[str]
    vpc_cidrs: dict[str, list[str]]


def _read_bulk(ec2: EC2Client, need_vpcs: bool) -> _Bulk:
    ours: dict[str, aws.SecurityGroup] = {}
    for group in aws.iter_frontguard_security_groups(ec2):
        arn = group.tags.get(t.LOAD_BALANCER_TAG)
        if arn:
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
    return _Bulk(ours, backend, vpcs)


def _compliant_at_a_glance(
    engine: Engine,
    lb: LoadBalancer,
    owner: OwnerRef,
    objects: list[KubeObject],
    bulk: _Bulk,
) -> bool:
    """The cheap check from bulk data; ``False`` means "ask the engine", not "non-compliant"."""
    policy = engine.policy
    ours = bulk.ours.get(lb.arn)
    if ours is None or ours.foreign_permissions or ours.id not in lb.security_groups:
        return False
    allowed_on_lb = {ours.id} | set(policy.approved_security_groups) | bulk.backend_groups
    if not set(lb.security_groups) <= allowed_on_lb:
        return False  # e.g. the controller's world-open SG is back
    for obj in objects:
        sg_key, backend_key = plan.annotation_keys(owner)
        annotations = plan.annotations_of(obj)
        if ours.id not in plan.split_list(annotations.get(sg_key)):
            return False
        if annotations.get(backend_key) != "true":
            return False
    # Ports come from the SG itself (no per-LB DescribeListeners at steady state).
    listeners = {(r.protocol, r.port) for r in ours.rules}
    namespace = objects[0].get("metadata", {}).get("namespace", "")
    if owner.kind is OwnerKind.SERVICE:
        restriction = plan.service_restriction(objects[0])
    else:
        restriction = plan.group_restriction([plan.ingress_restriction(o, None) for o in objects])
    sources = plan.plan_sources(
        lb=lb,
        owner=owner,
        namespace=namespace,
        policy=policy,
        vpc_cidrs=bulk.vpc_cidrs.get(lb.vpc_id, []),
        restriction=restriction,
        listeners=[],
    ).effective.allowed
    planned = frozenset(
        PermissionRule(protocol, port, source)
        for protocol, port in listeners
        for source in sources.as_strings()
    )
    return planned == ours.rules


def _previously_remediated(objects: Iterable[KubeObject], ours: aws.SecurityGroup | None) -> bool:
    return ours is not None or any(t.REPLACED_ANNOTATION in plan.annotations_of(o) for o in objects)


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
    report.load_balancer_arns = frozenset(existing_arns)

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
    total = sum(len(v) for v in by_cluster.values())
    done = 0
    for cluster, members in sorted(by_cluster.items()):
        try:
            view = list_cluster(engine, cluster)
        except FrontguardError as error:
            logger.warning(  # one line per cluster, not per LB
                "cluster unreachable", extra={"cluster": cluster, "problem": str(error)}
            )
            view = None
        for lb, owner in members:
            report.items.append(_scan_one(engine, lb, owner, view=view, bulk=bulk, cluster=cluster))
            done += 1
            if progress is not None:
                progress(done, total)

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
    owner: OwnerRef,
    *,
    view: ClusterView | None,
    bulk: _Bulk,
    cluster: str,
) -> ScanItem:
    objects = _owner_objects(view, owner) if view is not None else []
    if view is None:
        return _item(lb, owner, Outcome.ERROR, f"cluster {cluster} unreachable")
    if objects and (reason := plan.exempt_reason(objects, engine.policy)) is not None:
        return _item(lb, owner, Outcome.EXEMPT, reason)
    if objects and _compliant_at_a_glance(engine, lb, owner, objects, bulk):
        ours = bulk.ours[lb.arn]
        return _item(lb, owner, Outcome.COMPLIANT, "compliant", ours.id)
    try:
        result = remediate_load_balancer(
            engine,
            lb.arn,
            load_balancer=lb,
            drift=_previously_remediated(objects, bulk.ours.get(lb.arn)),
            prefetched=Prefetched(bulk.ours.get(lb.arn), bulk.vpc_cidrs),
        )
    except RetryableError as error:
        return _item(lb, owner, Outcome.ERROR, f"will retry next scan: {error}")
    except FrontguardError as error:
        return _item(lb, owner, Outcome.ERROR, str(error))
    return _item(lb, owner, result.outcome, result.reason, result.security_group_id)


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
