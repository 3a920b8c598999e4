"""Which of frontguard's SGs a revert deletes: only SGs proven frontguard's (name,
description and VPC, not tags), in scope by their owner tag, that no load balancer, annotation
or configuration uses once the restores are in. One still attached is kept until the
controller has reconciled; one carrying frontguard's tags that is not frontguard's is never
deleted. Reads only."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from frontguard import tags as t
from frontguard.adapters import aws, network
from frontguard.engine.revert.model import STILL_ATTACHED, RevertPlan, Scope, SgAction, SgRevert
from frontguard.errors import NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


def frontguard_groups(
    ec2: EC2Client, cluster: str
) -> tuple[dict[str, aws.SecurityGroup], list[tuple[aws.SecurityGroup, str]]]:
    """The cluster's SGs tagged frontguard's: those proven frontguard's by ``id``, and the
    impostors with their problem. Tags prove nothing (anyone may tag an SG): only an SG whose
    name, description and VPC are frontguard's is frontguard's to delete."""
    tagged = [
        g
        for g in aws.iter_frontguard_security_groups(ec2)
        if g.tags.get(t.FG_CLUSTER_TAG) == cluster
    ]
    ours = {g.id: g for g in tagged if aws.ownership_problem(g) is None}
    impostors = [(g, problem) for g in tagged if (problem := aws.ownership_problem(g)) is not None]
    return ours, impostors


def sg_reverts(
    elbv2: ElasticLoadBalancingv2Client,
    plan: RevertPlan,
    ours: Mapping[str, aws.SecurityGroup],
    impostors: Iterable[tuple[aws.SecurityGroup, str]],
    named: Mapping[str, str],
) -> list[SgRevert]:
    """The decision for each SG in the plan's scope (``named``: what still names an SG once
    the restores are in)."""
    covers = _owner_in_scope(plan.scope, plan)
    decisions = [
        _sg_decision(elbv2, sg, named)
        for sg in sorted(ours.values(), key=lambda g: g.id)
        if covers(sg.tags.get(t.OWNER_TAG) or "")
    ]
    return [*decisions, *_impostor_decisions(impostors, covers)]


def _owner_in_scope(scope: Scope, result: RevertPlan) -> Callable[[str], bool]:
    """Whether the scope covers a frontguard SG, by its owner tag."""
    if scope.namespace is None and scope.kind is None:
        return lambda owner: True
    owners = set()
    for obj in result.objects:
        owners.add(obj.ref)
        owners.add(f"{obj.ref} (frontend NLB)")
        if obj.group is not None:
            owners.add(f"ingress-group/{obj.group}")
    # A Gateway's name is not in its configuration's: the namespace's reverted configurations
    # bring in the namespace's Gateway SGs.
    gateways = f"gateway/{scope.namespace}/" if result.config_patches else None
    return lambda owner: owner in owners or (gateways is not None and owner.startswith(gateways))


def _impostor_decisions(
    impostors: Iterable[tuple[aws.SecurityGroup, str]], covers: Callable[[str], bool]
) -> list[SgRevert]:
    return [
        SgRevert(
            sg.id,
            sg.tags.get(t.LOAD_BALANCER_TAG),
            sg.tags.get(t.OWNER_TAG),
            SgAction.KEPT,
            f"carries frontguard's tags but is not frontguard's ({problem}): never deleted",
        )
        for sg, problem in sorted(impostors, key=lambda pair: pair[0].id)
        if covers(sg.tags.get(t.OWNER_TAG) or "")
    ]


def _sg_decision(
    elbv2: ElasticLoadBalancingv2Client, group: aws.SecurityGroup, named: Mapping[str, str]
) -> SgRevert:
    arn = group.tags.get(t.LOAD_BALANCER_TAG)
    owner = group.tags.get(t.OWNER_TAG)

    def decision(action: SgAction, reason: str) -> SgRevert:
        return SgRevert(group.id, arn, owner, action, reason)

    if group.id in named:
        return decision(SgAction.KEPT, f"still named by {named[group.id]}")
    if not arn and aws.is_pre_lb(group):
        # Fail-closed mode's SG: which LB carries it is not in its tags; the scan deletes it
        # once no load balancer lists it (engine/scan.py _clean_up_pre_lb).
        return decision(SgAction.KEPT, "pre-load-balancer SG: the scan deletes it once unused")
    if arn:
        try:
            lb = network.describe_load_balancer(elbv2, arn)
        except NotFoundError:
            lb = None
        if lb is not None and group.id in lb.security_groups:
            return decision(SgAction.KEPT, STILL_ATTACHED)
        if lb is not None and (problem := aws.ownership_problem(group, arn, lb.vpc_id)):
            return decision(
                SgAction.KEPT,
                f"carries frontguard's tags but is not frontguard's ({problem}): never deleted",
            )
    return decision(SgAction.DELETE, "no load balancer and no annotation uses it")
