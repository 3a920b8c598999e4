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
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.adapters.kube import CORE, NETWORKING
from frontguard.adapters.remediation_queue import (
    SQS_BATCH,
    RemediationRequest,
    RemediationSink,
)
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
from frontguard.controller.security_groups import (
    annotation_keys,
    backend_sg_name,
    is_id,
    named_security_groups,
)
from frontguard.engine import exemptions, plan, prefix_lists
from frontguard.engine.decision import Engine, Prefetched
from frontguard.engine.owner import ClusterObjects, Owner, read_classes, resolve_owner
from frontguard.engine.pre_lb import BLOCKED_KEY_PREFIX
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.engine.remediation_alerts import impostor_alert
from frontguard.errors import FrontguardError, NotFoundError, RetryableError
from frontguard.model import (
    PATH_MTU_ICMP,
    Listener,
    LoadBalancer,
    Outcome,
    OwnerKind,
    OwnerRef,
    classify,
)
from frontguard.policy import VPC_SOURCE, Mode, Policy, is_glob
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
    Outcome.REMEDIATION_QUEUED,
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
        Outcome.REMEDIATION_QUEUED,
    }
)
DIGEST_ITEMS = 25  # authorised exemptions listed in the digest
# The scan reads no CloudTrail: who changed an AWS resource it cannot say (engine/accounting.py).
SCAN_PROVENANCE: Final = {"detected_by": "scan", "actor": "unknown"}


def severity(outcome: Outcome | str) -> int:
    try:
        return SEVERITY.index(Outcome(outcome))
    except ValueError:
        return len(SEVERITY)


@dataclass(frozen=True)
class ScanItem:
    load_balancer_arn: str
    name: str
    cluster: str | None
    owner: str | None
    outcome: Outcome
    reason: str
    security_group_id: str | None = None
    # What the engine's alert would have said (planned rules, the fix), for the digest.
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False)
    drift: bool = False  # frontguard had set this LB up before
    # The LB's creation, from the bulk read: the digest's exposure figures (engine/digest.py).
    created: datetime | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "load_balancer_arn": self.load_balancer_arn,
            "name": self.name,
            "cluster": self.cluster,
            "owner": self.owner,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "security_group_id": self.security_group_id,
            **({"drift": True} if self.drift else {}),
            **dict(self.detail),
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
    # Every load balancer in the region, the controller's or not (what still exists).
    load_balancer_arns: frozenset[str] = frozenset()
    prefix_lists: dict[str, Any] | None = None  # born-protected clusters: the lists' sync
    #: False when the time budget ran out; ``resume_at`` is the last (cluster, ARN) done.
    complete: bool = True
    resume_at: tuple[str, str] | None = None
    queued: int = 0  # remediation requests sent to the queue

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
            key=lambda i: (severity(i.outcome), i.cluster or "", i.name),
        )


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
    # The controller's own frontend SGs ("ManagedLBSecurityGroup"), by SG ID.
    managed: dict[str, aws.SecurityGroup] = field(default_factory=dict)
    # By load balancer ARN: SGs carrying frontguard's tags that are not frontguard's.
    impostors: dict[str, list[tuple[aws.SecurityGroup, str]]] = field(default_factory=dict)
    # frontguard's pre-load-balancer SGs (fail-closed mode), proven by name and description,
    # by (cluster, stack marker): the VPC is checked against the LB that carries one.
    pre_lb: dict[tuple[str, str], aws.SecurityGroup] = field(default_factory=dict)

    def own(self, lb: LoadBalancer) -> aws.SecurityGroup | None:
        """frontguard's SG for ``lb``, as the engine recognises it (adapters/aws.py
        split_ownership): keyed by its ARN, else the pre-load-balancer SG of its own cluster
        and stack that it carries, in its VPC. From bulk data: no call."""
        if (ours := self.ours.get(lb.arn)) is not None:
            return ours
        key = aws.PreLoadBalancerKey.of_tags(lb.tags)
        pre = self.pre_lb.get((key.cluster, key.marker)) if key is not None else None
        if pre is None or pre.id not in lb.security_groups or pre.vpc_id != lb.vpc_id:
            return None
        return pre

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


# frontguard's SGs, the controller's backend SG and its managed frontend SGs, in one
# paginated read: the ``tag-value`` filter matches a value under any key, and the keys are
# checked below (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/
# API_DescribeSecurityGroups.html: "tag-value - The value of a tag assigned to the resource.
# This filter is independent of the tag-key filter."). At steady state the managed SGs are
# gone (the SG annotation replaces them and the controller deletes them), and on the first
# scan frontguard has none yet: either way the pages are ⌈(LBs + backend SGs) / 1000⌉.
_SG_TAG_VALUES = [t.MANAGED_BY_VALUE, t.BACKEND_SG, t.MANAGED_LB_SG]
# Where the LBC says "ManagedLBSecurityGroup" (pkg/deploy/tracking/provider.go).
_MANAGED_SG_KEYS = (t.INGRESS_RESOURCE_TAG, t.SERVICE_RESOURCE_TAG)
SG_PAGE = 1000


def _read_bulk(ec2: EC2Client, need_vpcs: bool) -> _Bulk:
    ours: dict[str, aws.SecurityGroup] = {}
    impostors: dict[str, list[tuple[aws.SecurityGroup, str]]] = {}
    backend: set[str] = set()
    managed: dict[str, aws.SecurityGroup] = {}
    pre_lb: dict[tuple[str, str], aws.SecurityGroup] = {}
    try:
        for page in ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": "tag-value", "Values": _SG_TAG_VALUES}],
            PaginationConfig={"PageSize": SG_PAGE},
        ):
            for raw in page["SecurityGroups"]:
                group = aws.parse_security_group(raw)
                if aws.is_pre_lb(group) and t.LOAD_BALANCER_TAG not in group.tags:
                    _index_pre_lb(group, pre_lb, impostors)
                elif group.managed_by_frontguard:
                    arn = group.tags.get(t.LOAD_BALANCER_TAG)
                    if not arn:
                        continue
                    # Tags prove nothing: only the name derived from the ARN and frontguard's
                    # description (fixed at creation) make it frontguard's
                    # (adapters/aws.py ownership_problem).
                    if (problem := aws.ownership_problem(group, arn)) is not None:
                        impostors.setdefault(arn, []).append((group, problem))
                    elif arn not in ours or group.id < ours[arn].id:
                        ours[arn] = group
                elif group.tags.get(
                    t.CONTROLLER_RESOURCE_TAG
                ) == t.BACKEND_SG and group.name == backend_sg_name(
                    group.tags.get(t.CLUSTER_TAG, "")
                ):
                    backend.add(group.id)  # by the controller's own name, not the tag alone
                elif any(group.tags.get(key) == t.MANAGED_LB_SG for key in _MANAGED_SG_KEYS):
                    managed[group.id] = group
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
    return _Bulk(ours, backend, vpcs, impostors=impostors, managed=managed, pre_lb=pre_lb)


def _index_pre_lb(
    group: aws.SecurityGroup,
    pre_lb: dict[tuple[str, str], aws.SecurityGroup],
    impostors: dict[str, list[tuple[aws.SecurityGroup, str]]],
) -> None:
    """A pre-load-balancer SG goes to ``pre_lb`` when proven frontguard's, else to the
    impostors under the blocked stack it claims (alerted ``conflict``, never deleted)."""
    cluster = group.tags.get(t.FG_CLUSTER_TAG, "")
    marker = group.tags.get(t.STACK_TAG, "")
    if (problem := aws.pre_lb_ownership_problem(group)) is not None:
        impostors.setdefault(f"{BLOCKED_KEY_PREFIX}{cluster}/{marker}", []).append((group, problem))
    elif (cluster, marker) not in pre_lb or group.id < pre_lb[(cluster, marker)].id:
        pre_lb[(cluster, marker)] = group


def listeners_from_controller_sg(
    lb: LoadBalancer, owner: OwnerRef, managed: Mapping[str, aws.SecurityGroup]
) -> tuple[Listener, ...] | None:
    """The LB's listen ports as its controller-managed SG states them, or ``None`` (ask AWS).

    The controller writes one rule per listen port × inbound source into the managed SG of an
    Ingress stack (pkg/ingress/model_build_managed_sg.go,
    buildManagedSecurityGroupIngressPermissions: ``tcp`` per port of listenPortConfigByPort)
    and of a Service (pkg/service/model_build_managed_sg.go: the Service port's own protocol,
    so ``udp`` for UDP ports and both for a TCP_UDP listener), and keeps those rules in step
    with the listeners it deploys from the same model. A port the managed SG has no rule for
    admits no one today (e.g. only IPv6 sources on an IPv4 LB), so planning without it never
    narrows what works. ICMP rules (path-MTU discovery) are not listeners and are skipped.

    Cases where the scan still spends the per-LB ``DescribeListeners`` (``None``):
    - the LB carries no managed SG (someone set the SG annotation already, an SG-less NLB,
      or frontguard's own SG), or more than one;
    - the SG's cluster or stack tags are not the LB's;
    - a frontend NLB: it copies the ALB's SGs when its own annotation is absent
      (DESIGN.md), so the shared SG would state the ALB's ports, not the NLB's;
    - Gateways and EKS Auto Mode: their managed SGs are built elsewhere
      (pkg/gateway/model/model_build_security_group.go) and are not read here.
    """
    if owner.frontend_nlb or owner.auto_mode:
        return None
    if owner.kind not in (OwnerKind.SERVICE, OwnerKind.INGRESS, OwnerKind.INGRESS_GROUP):
        return None
    found = [managed[g] for g in lb.security_groups if g in managed]
    if len(found) != 1:
        return None
    group = found[0]
    if group.tags.get(t.CLUSTER_TAG) != lb.cluster:
        return None
    stack_keys = [k for k in (t.INGRESS_STACK_TAG, t.SERVICE_STACK_TAG) if k in lb.tags]
    if not stack_keys or any(group.tags.get(k) != lb.tags[k] for k in stack_keys):
        return None
    protocols: dict[int, set[str]] = {}
    for rule in group.rules:
        if rule.protocol in PATH_MTU_ICMP:
            continue  # path-MTU ICMP (model.PATH_MTU_ICMP) is not a listener
        protocols.setdefault(rule.port, set()).add(rule.protocol)
    if not protocols:
        return None
    return tuple(
        Listener(port, "TCP_UDP" if kinds == {"tcp", "udp"} else kinds.pop().upper())
        for port, kinds in sorted(protocols.items())
    )


def _compliant_at_a_glance(engine: Engine, lb: LoadBalancer, owner: Owner, bulk: _Bulk) -> bool:
    """The cheap check from bulk data; ``False`` means "ask the engine", not "non-compliant".

    Per port, as the engine plans: the owner's restriction for that port (controller rules)
    narrows the policy's sources. Ports come from frontguard's SG itself (no per-LB
    DescribeListeners at steady state)."""
    policy = engine.policy
    if owner.ref.frontend_nlb and owner.members and frontend_nlb_shares_alb_sgs(owner.members):
        # It carries the ALB's SGs (engine/decide.py _inherits_alb_sgs).
        frontguard_ids = {g.id for g in bulk.ours.values()}
        governing = frontguard_ids | set(policy.approved_security_groups)
        carried = set(lb.security_groups)
        return bool(carried & governing) and carried <= governing | bulk.backend_groups
    ours = bulk.own(lb)
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
    # ICMP rules are judged like any other (issue 26): planned only as the path-MTU rule from
    # the planned sources when the owner asks for it, so a world-open ICMP rule, or one the
    # owner did not ask for, makes the SG differ from the plan.
    listeners = {
        Listener(port, "UDP" if protocol == "udp" else "TCP")
        for protocol, port in {
            (r.protocol, r.port)
            for r in ours.rules
            if r.source != ours.id and r.protocol not in PATH_MTU_ICMP
        }
    }
    expected = plan.plan_rules(
        listeners, allowed, owner.restrictions, path_mtu=owner.path_mtu
    ).rules
    if not owner.ref.frontend_nlb and owner.members and frontend_nlb_shares_alb_sgs(owner.members):
        expected |= plan.frontend_nlb_rules(
            listeners, frontend_nlb_health_check_ports(owner.members), ours.id
        )
    return expected == ours.rules


def _previously_remediated(objects: Iterable[KubeObject], ours: aws.SecurityGroup | None) -> bool:
    return ours is not None or any(t.REPLACED_ANNOTATION in annotations_of(o) for o in objects)


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
    load_balancers = list(aws.iter_load_balancers(engine.elbv2))
    existing_arns = {lb.arn for lb in load_balancers}
    report.load_balancer_arns = frozenset(existing_arns)
    by_cluster = _select(load_balancers, policy, clusters, resume_after, report)

    need_vpcs = VPC_SOURCE in policy.default_sources or any(
        VPC_SOURCE in rule.sources for rule in policy.rules
    )
    bulk = _read_bulk(engine.ec2, need_vpcs)
    bulk.check_vpcs(load_balancers)
    report.policy_warnings = _policy_warnings(engine)
    owned_lists = _sync_prefix_lists(engine, by_cluster, bulk, report)
    collected = _Collected()
    fan_out = remediations is not None and policy.mode is Mode.ENFORCE
    # The engine decides with what the scan read, and reports to the collector. With a queue,
    # it decides as in audit mode (no change) and the queue's consumer applies.
    deciding = replace(
        engine,
        alerts=collected,
        policy=policy.model_copy(update={"mode": Mode.AUDIT}) if fan_out else policy,
    )
    fanout = _Fanout(remediations) if remediations is not None and fan_out else None
    total = sum(len(v) for v in by_cluster.values())
    done = 0
    report.resume_at = resume_after
    try:
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
                if time_left is not None and time_left() < reserve_seconds:
                    report.complete = False
                    logger.warning(
                        "scan out of time: the next invocation resumes here",
                        extra={"cluster": cluster, "load_balancer_arn": lb.arn, "done": done},
                    )
                    return _finish(report, started, clock)
                item = _scan_one(
                    deciding,
                    lb,
                    owner,
                    view=view,
                    bulk=bulk,
                    cluster=cluster,
                    owned=owned_lists,
                )
                item = _with_alert(item, collected.take(lb.arn))
                if item.outcome is Outcome.DRIFT and deciding.policy.mode is Mode.AUDIT:
                    # Decided, not applied (a foreign SG next to frontguard's): a finding.
                    item = replace(item, outcome=Outcome.AUDIT_FINDING)
                if fanout is not None and _needs_change(item, owner, policy):
                    fanout.add(
                        RemediationRequest(
                            load_balancer_arn=lb.arn,
                            cluster=cluster,
                            drift=item.drift,
                        )
                    )
                    item = replace(
                        item,
                        outcome=Outcome.REMEDIATION_QUEUED,
                        reason="world-open or off-plan: repair queued",
                    )
                report.items.append(item)
                report.resume_at = (cluster, lb.arn)
                done += 1
                if progress is not None:
                    progress(done, total)
    finally:
        if fanout is not None:
            fanout.flush()
            report.queued += fanout.sent

    report.complete = True
    report.resume_at = None
    _report_impostors(engine, bulk, report)
    _clean_up(engine, bulk, existing_arns, report)
    _clean_up_pre_lb(engine, bulk, {g for lb in load_balancers for g in lb.security_groups}, report)
    return _finish(report, started, clock)


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
            ours = bulk.own(lb)  # none for a frontend NLB carrying the ALB's SG
            return _item(lb, ref, Outcome.COMPLIANT, "compliant", ours.id if ours else None)
    drift = _previously_remediated(owner.objects if owner else (), bulk.own(lb))
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


def _clean_up(engine: Engine, bulk: _Bulk, existing_arns: set[str], report: ScanReport) -> None:
    """Delete frontguard SGs whose load balancer is gone, after a grace period."""
    for arn, group in sorted(bulk.ours.items()):
        if arn in existing_arns:
            continue
        _delete_orphan(
            engine, group, {"security_group_id": group.id, "load_balancer_arn": arn}, report
        )


def _clean_up_pre_lb(engine: Engine, bulk: _Bulk, attached: set[str], report: ScanReport) -> None:
    """Delete frontguard's pre-load-balancer SGs (fail-closed mode) that no load balancer of
    the region lists (the scan read every LB's SecurityGroups already: no extra call), after
    the same grace period: the controller may still be about to create the LB with it, and
    its grace restarts nothing (first seen unattached). Only proven ones are in
    ``bulk.pre_lb``: impostors are never deleted."""
    for (cluster, marker), group in sorted(bulk.pre_lb.items()):
        if group.id in attached:
            continue
        _delete_orphan(
            engine,
            group,
            {"security_group_id": group.id, "cluster": cluster, "stack": marker},
            report,
        )


def _delete_orphan(
    engine: Engine, group: aws.SecurityGroup, context: dict[str, str], report: ScanReport
) -> None:
    grace = engine.policy.cleanup_grace_hours * 3600
    if engine.policy.mode is Mode.AUDIT or engine.state is None:
        report.kept_orphans.append(group.id)
        logger.info("orphaned frontguard SG kept (audit mode or no state)", extra=context)
        return
    first_seen = engine.state.first_seen(f"orphan#{group.id}")
    if engine.state.now() - first_seen < grace:
        report.kept_orphans.append(group.id)
        return
    try:
        engine.ec2.delete_security_group(GroupId=group.id)
    except ClientError as error:
        if error_code(error) in ("DependencyViolation", "InvalidGroup.InUse"):
            report.kept_orphans.append(group.id)
            logger.info("orphaned frontguard SG still referenced: kept", extra=context)
            return
        if error_code(error) == "InvalidGroup.NotFound":
            return
        # Access denied or a persistent fault: keep it, report it, finish the scan.
        report.kept_orphans.append(group.id)
        logger.warning(
            "orphaned frontguard SG could not be deleted",
            extra={**context, "problem": str(translate(error, "delete SG"))},
        )
        return
    report.cleaned_up.append(group.id)
    logger.info("orphaned frontguard SG deleted", extra=context)
