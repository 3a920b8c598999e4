"""What the canary reads on AWS: the controller's load balancer for the canary's owner, and
whether it is behind an SG proven frontguard's (by the facts fixed at its creation, not by
tags) without the controller's world-open managed SG."""

from __future__ import annotations

from typing import Any

from frontguard import tags as t
from frontguard.adapters import aws, network, tagging
from frontguard.canary.owners import CanaryOwner
from frontguard.errors import NotFoundError
from frontguard.model import LoadBalancer

# The controller's resource tag on the load balancer itself (not a frontend NLB) and on its
# world-open managed SG (pkg/deploy/tracking/provider.go; DESIGN.md "Tags").
RESOURCE_SUFFIX = "/resource"


def find_load_balancer(
    tagging_client: tagging.TaggingClient, elbv2: Any, cluster: str, owner: CanaryOwner
) -> LoadBalancer | None:
    """The owner's load balancer, found by the controller's stack tags
    (https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html)."""
    found = tagging.load_balancers_of_stack(
        tagging_client, cluster=cluster, stack_tag=owner.stack_tag, stack=owner.stack
    )
    prefix = owner.stack_tag.split("/", 1)[0]
    for arn, tags in sorted(found.items()):
        if tags.get(f"{prefix}{RESOURCE_SUFFIX}", "LoadBalancer") == "LoadBalancer":
            try:
                return network.describe_load_balancer(elbv2, arn)
            except NotFoundError:
                continue
    return None


def frontguard_group_alone(elbv2: Any, ec2: Any, arn: str) -> aws.SecurityGroup | None:
    """frontguard's SG on the load balancer, once it no longer carries the controller's
    managed SG; ``None`` until then."""
    lb = network.describe_load_balancer(elbv2, arn)
    groups = aws.describe_security_groups(ec2, lb.security_groups)
    ours = [g for g in groups.values() if _proven_frontguard(g, lb)]
    if ours and not any(_controller_managed(g) for g in groups.values()):
        return ours[0]
    return None


def load_balancer_gone(elbv2: Any, arn: str) -> bool:
    try:
        network.describe_load_balancer(elbv2, arn)
    except NotFoundError:
        return True
    return False


def security_group_gone(ec2: Any, group_id: str) -> bool:
    return group_id not in aws.describe_security_groups(ec2, [group_id])


def _proven_frontguard(group: aws.SecurityGroup, lb: LoadBalancer) -> bool:
    if not group.managed_by_frontguard:
        return False
    arn = lb.arn if t.LOAD_BALANCER_TAG in group.tags else None
    return aws.ownership_problem(group, arn, lb.vpc_id) is None


def _controller_managed(group: aws.SecurityGroup) -> bool:
    return any(
        key.endswith(RESOURCE_SUFFIX) and value == t.MANAGED_LB_SG
        for key, value in group.tags.items()
    )
