"""What frontguard reads about load balancers and the network around them: ELBv2 load
balancers, their tags and listeners; VPC CIDRs, prefix lists and PrivateLink services.

Every function takes its boto3 client as an argument and raises frontguard's errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import error_code, translate
from frontguard.errors import NotFoundError
from frontguard.model import Listener, LoadBalancer

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

DESCRIBE_TAGS_BATCH = 20
DESCRIBE_LB_PAGE = 400


def _load_balancer(raw: Mapping[str, Any], tags: Mapping[str, str]) -> LoadBalancer:
    return LoadBalancer(
        arn=raw["LoadBalancerArn"],
        name=raw["LoadBalancerName"],
        type=raw.get("Type", "application"),
        scheme=raw.get("Scheme", "internet-facing"),
        vpc_id=raw.get("VpcId", ""),
        security_groups=tuple(raw.get("SecurityGroups") or ()),
        tags=dict(tags),
        dns_name=str(raw.get("DNSName") or ""),
        created=raw.get("CreatedTime"),
    )


def describe_load_balancer(elbv2: ElasticLoadBalancingv2Client, arn: str) -> LoadBalancer:
    """The load balancer and its tags; :class:`NotFoundError` when it is not (yet) listed."""
    try:
        found = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
        if not found:
            raise NotFoundError(f"load balancer {arn} is not listed")
        descriptions = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    except ClientError as error:
        raise translate(error, f"describe load balancer {arn}") from error
    tags = {tag["Key"]: tag.get("Value", "") for d in descriptions for tag in d.get("Tags", [])}
    return _load_balancer(found[0], tags)


def iter_load_balancers(elbv2: ElasticLoadBalancingv2Client) -> Iterator[LoadBalancer]:
    """Every ELBv2 load balancer in the region with its tags: pages of 400, tags by 20."""
    try:
        paginator = elbv2.get_paginator("describe_load_balancers")
        for page in paginator.paginate(PaginationConfig={"PageSize": DESCRIBE_LB_PAGE}):
            raws = page["LoadBalancers"]
            tags = tags_of(elbv2, [raw["LoadBalancerArn"] for raw in raws])
            for raw in raws:
                yield _load_balancer(raw, tags.get(raw["LoadBalancerArn"], {}))
    except ClientError as error:
        raise translate(error, "list load balancers") from error


def list_load_balancer_entries(elbv2: ElasticLoadBalancingv2Client) -> list[Mapping[str, Any]]:
    """Every load balancer's DescribeLoadBalancers entry (its SG set included), no tags: one
    call per 400 (the sweep reads tags for the changed ones only)."""
    try:
        paginator = elbv2.get_paginator("describe_load_balancers")
        return [
            raw
            for page in paginator.paginate(PaginationConfig={"PageSize": DESCRIBE_LB_PAGE})
            for raw in page["LoadBalancers"]
        ]
    except ClientError as error:
        raise translate(error, "list load balancers") from error


def tags_of(elbv2: ElasticLoadBalancingv2Client, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    """Tags by load balancer ARN, in DescribeTags batches of 20."""
    found: dict[str, dict[str, str]] = {}
    try:
        for start in range(0, len(arns), DESCRIBE_TAGS_BATCH):
            batch = list(arns[start : start + DESCRIBE_TAGS_BATCH])
            for description in elbv2.describe_tags(ResourceArns=batch)["TagDescriptions"]:
                found[description["ResourceArn"]] = {
                    tag["Key"]: tag.get("Value", "") for tag in description.get("Tags", [])
                }
    except ClientError as error:
        raise translate(error, "read load balancers' tags") from error
    return found


def load_balancer_of(raw: Mapping[str, Any], tags: Mapping[str, str]) -> LoadBalancer:
    """A DescribeLoadBalancers entry and its tags, as frontguard's model."""
    return _load_balancer(raw, tags)


def describe_listeners(elbv2: ElasticLoadBalancingv2Client, arn: str) -> list[Listener]:
    try:
        pages = elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn)
        return [
            Listener(int(listener["Port"]), listener["Protocol"])
            for page in pages
            for listener in page["Listeners"]
        ]
    except ClientError as error:
        raise translate(error, f"describe listeners of {arn}") from error


def load_balancer_of_listener(elbv2: ElasticLoadBalancingv2Client, listener_arn: str) -> str | None:
    """The ARN of the load balancer a listener belongs to (``None`` when it is gone)."""
    try:
        listeners = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"]
    except ClientError as error:
        if error_code(error) == "ListenerNotFound":
            return None
        raise translate(error, f"describe listener {listener_arn}") from error
    return listeners[0].get("LoadBalancerArn") if listeners else None


def vpc_cidrs(ec2: EC2Client, vpc_id: str) -> list[str]:
    try:
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    except ClientError as error:
        raise translate(error, f"describe VPC {vpc_id}") from error
    cidrs: list[str] = []
    for vpc in vpcs:
        for assoc in vpc.get("CidrBlockAssociationSet", []):
            if assoc.get("CidrBlockState", {}).get("State", "associated") == "associated":
                cidrs.append(assoc["CidrBlock"])
        for assoc6 in vpc.get("Ipv6CidrBlockAssociationSet", []):
            if assoc6.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated":
                cidrs.append(assoc6["Ipv6CidrBlock"])
    return cidrs


def missing_prefix_lists(ec2: EC2Client, ids: Iterable[str]) -> list[str]:
    """Which of ``ids`` name no managed prefix list visible to the account (a typo, or one
    deleted or no longer shared): a rule with it admits nothing, or fails to be created."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    try:
        pages = ec2.get_paginator("describe_managed_prefix_lists").paginate(
            Filters=[{"Name": "prefix-list-id", "Values": wanted}]
        )
        found = {p["PrefixListId"] for page in pages for p in page.get("PrefixLists", [])}
    except ClientError as error:
        raise translate(error, "describe managed prefix lists") from error
    return [i for i in wanted if i not in found]


def endpoint_services_by_load_balancer(ec2: EC2Client) -> dict[str, list[str]]:
    """NLB ARN → the VPC endpoint services (PrivateLink) it backs, for the whole region in
    one paged read (the API has no filter by load balancer)."""
    services: dict[str, list[str]] = {}
    try:
        pages = ec2.get_paginator("describe_vpc_endpoint_service_configurations").paginate()
        for page in pages:
            for config in page.get("ServiceConfigurations", []):
                for arn in config.get("NetworkLoadBalancerArns", []):
                    services.setdefault(arn, []).append(str(config.get("ServiceId", "")))
    except ClientError as error:
        raise translate(error, "describe VPC endpoint services") from error
    return services
