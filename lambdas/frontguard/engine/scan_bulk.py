"""What the scan reads once for the whole region, and the cheap check it makes from it.

Each cluster's Services and Ingresses in one list each; frontguard's, the controller's
backend and managed SGs in pages of 1,000; VPCs in one call; the listen ports from the
controller's own managed SG. :func:`compliant_at_a_glance` decides from these alone, so a
steady account costs no per-load-balancer call (engine/scan.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws, network
from frontguard.adapters.aws_errors import translate
from frontguard.adapters.kube import CORE, NETWORKING
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
from frontguard.engine import plan
from frontguard.engine.decision import Engine
from frontguard.engine.owner import ClusterObjects, Owner, read_classes
from frontguard.engine.pre_lb import BLOCKED_KEY_PREFIX
from frontguard.model import (
    PATH_MTU_ICMP,
    Listener,
    LoadBalancer,
    OwnerKind,
    OwnerRef,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


logger = logging.getLogger(__name__)


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
class Bulk:
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
            self.endpoint_services = network.endpoint_services_by_load_balancer(engine.ec2)
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


def read_bulk(ec2: EC2Client, need_vpcs: bool) -> Bulk:
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
                    index_pre_lb(group, pre_lb, impostors)
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
    return Bulk(ours, backend, vpcs, impostors=impostors, managed=managed, pre_lb=pre_lb)


def index_pre_lb(
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


def compliant_at_a_glance(engine: Engine, lb: LoadBalancer, owner: Owner, bulk: Bulk) -> bool:
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


def previously_remediated(objects: Iterable[KubeObject], ours: aws.SecurityGroup | None) -> bool:
    return ours is not None or any(t.REPLACED_ANNOTATION in annotations_of(o) for o in objects)
