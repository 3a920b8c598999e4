"""EC2 adapter for frontguard's security groups: find, prove, create, converge, delete
(the load balancers and the network around them: adapters/network.py).

Every function takes its boto3 client as an argument and raises frontguard's errors.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.model import PATH_MTU_ICMP, LoadBalancer, OwnerRef, PermissionRule
from frontguard.untrusted import escape

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef, TagTypeDef

# One botocore configuration for every client: adaptive retries share the account's rate
# limits politely with the controller and everything else.
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="frontguard",
)
RULE_DESCRIPTION = "frontguard: admitted by policy"
SG_DESCRIPTION = "frontguard frontend SG"


# --- frontguard's security group ----------------------------------------------------------


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str
    tags: Mapping[str, str]
    rules: frozenset[PermissionRule]
    # Inbound permissions that are neither single-port TCP/UDP rules nor path-MTU ICMP rules
    # (someone added them by hand).
    foreign_permissions: tuple[Mapping[str, Any], ...] = field(default=())
    description: str = ""
    # Set on a pre-load-balancer SG frontguard had to create under another name: the SG (or
    # the name) that took its own (security review r2, R2-8).
    squatter: str | None = None

    @property
    def managed_by_frontguard(self) -> bool:
        return self.tags.get(t.MANAGED_BY_TAG) == t.MANAGED_BY_VALUE


def parse_security_group(raw: Mapping[str, Any]) -> SecurityGroup:
    rules: set[PermissionRule] = set()
    foreign: list[Mapping[str, Any]] = []
    for permission in raw.get("IpPermissions", []):
        protocol = permission.get("IpProtocol")
        from_port, to_port = permission.get("FromPort"), permission.get("ToPort")
        path_mtu = PATH_MTU_ICMP.get(str(protocol)) == (from_port, to_port)
        single_port = protocol in ("tcp", "udp") and from_port is not None and from_port == to_port
        if not (single_port or path_mtu):
            foreign.append(permission)  # any other ICMP too: frontguard plans none
            continue
        assert protocol is not None and from_port is not None
        sources = [
            *(r["CidrIp"] for r in permission.get("IpRanges", [])),
            *(r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])),
            *(p["PrefixListId"] for p in permission.get("PrefixListIds", [])),
            *(g["GroupId"] for g in permission.get("UserIdGroupPairs", [])),
        ]
        rules.update(PermissionRule(protocol, int(from_port), source) for source in sources)
    return SecurityGroup(
        id=raw["GroupId"],
        name=raw.get("GroupName", ""),
        vpc_id=raw.get("VpcId", ""),
        tags={tag["Key"]: tag.get("Value", "") for tag in raw.get("Tags", [])},
        rules=frozenset(rules),
        foreign_permissions=tuple(foreign),
        description=raw.get("Description", ""),
    )


def security_group_name(lb: LoadBalancer) -> str:
    """Deterministic: concurrent remediations of one LB collide on the name, not duplicate."""
    return security_group_name_for(lb.arn)


def security_group_name_for(lb_arn: str) -> str:
    """frontguard's SG name for a load balancer, from its ARN alone (which ends in
    ``loadbalancer/<type>/<name>/<id>``, https://docs.aws.amazon.com/service-authorization/latest/reference/list_elasticloadbalancingv2.html#elasticloadbalancingv2-resources-for-iam-policies)."""
    parts = lb_arn.split("/")
    name = parts[-2] if len(parts) >= 3 else ""
    digest = hashlib.sha256(lb_arn.encode()).hexdigest()[:10]
    return f"frontguard-{name[:32]}-{digest}"


def ownership_problem(
    group: SecurityGroup, lb_arn: str | None = None, vpc_id: str | None = None
) -> str | None:
    """Why ``group`` is *not* frontguard's own SG (``None`` when it is).

    Tags prove nothing: anyone with ``ec2:CreateTags`` can put frontguard's tags on any SG.
    An SG's name, VPC and description are fixed when it is created
    (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html: "you can't
    change the name or description of a security group after you create it"), and frontguard
    derives the name from the load balancer's ARN: a foreign SG cannot acquire them later.
    Asked about no load balancer in particular (``revert``), a pre-load-balancer SG is proven
    as such (:func:`pre_lb_ownership_problem`).
    """
    if lb_arn is None and is_pre_lb(group) and t.LOAD_BALANCER_TAG not in group.tags:
        return pre_lb_ownership_problem(group, None, vpc_id)
    arn = group.tags.get(t.LOAD_BALANCER_TAG) or ""
    if lb_arn is not None and arn != lb_arn:
        return f"its {t.LOAD_BALANCER_TAG} tag names another load balancer"
    if not arn:
        return f"it has no {t.LOAD_BALANCER_TAG} tag"
    return _creation_problem(group, security_group_name_for(arn), SG_DESCRIPTION, vpc_id)


def _creation_problem(
    group: SecurityGroup, name: str, description: str, vpc_id: str | None
) -> str | None:
    """What of the facts fixed at an SG's creation (name, description, VPC) is not what
    frontguard gives its own; ``None`` when all are."""
    if group.name != name:
        return f"its name {escape(group.name, 80)} is not {name}, the one frontguard gives it"
    if not group.description.startswith(description):
        return "its description is not frontguard's"
    if vpc_id is not None and group.vpc_id != vpc_id:
        return f"it is in VPC {group.vpc_id}, not the load balancer's ({vpc_id})"
    return None


# --- fail-closed mode: frontguard's SG before its load balancer exists ---------------------

PRE_LB_DESCRIPTION = f"{SG_DESCRIPTION} before its load balancer"
_STACK_KEYS = (
    t.INGRESS_STACK_TAG,
    t.SERVICE_STACK_TAG,
    t.GATEWAY_ALB_STACK_TAG,
    t.GATEWAY_NLB_STACK_TAG,
)


@dataclass(frozen=True)
class PreLoadBalancerKey:
    """What a pre-load-balancer SG stands for: the controller's cluster and stack tags of the
    load balancer it will be born with (fail-closed mode: no load balancer ARN exists yet)."""

    cluster: str
    stack_tag: str  # the controller's stack tag key, e.g. ``ingress.k8s.aws/stack``
    stack: str

    @classmethod
    def of_tags(cls, tags: Mapping[str, str]) -> PreLoadBalancerKey | None:
        """The key of a load balancer from its controller tags (the first stack key it has)."""
        cluster = tags.get(t.CLUSTER_TAG)
        for key in _STACK_KEYS:
            if cluster and key in tags:
                return cls(cluster, key, tags[key])
        return None

    @property
    def marker(self) -> str:
        """The value of frontguard's ``frontguard.io/stack`` tag (tag values hold 256)."""
        return f"{self.stack_tag}={self.stack}"[:256]

    def describe(self) -> str:
        return f"{self.cluster}/{self.stack_tag}={self.stack}"


# The random suffix of a pre-load-balancer SG whose plain name was squatted (hex digits).
SQUAT_SUFFIX_HEX = 8


def pre_lb_security_group_name(key: PreLoadBalancerKey) -> str:
    """frontguard's pre-load-balancer SG name, from the cluster and the stack tag alone:
    deterministic, so a second refused event (or a concurrent one) finds or collides with the
    first one's SG instead of making another."""
    digest = hashlib.sha256(
        "\0".join((key.cluster, key.stack_tag, key.stack)).encode()
    ).hexdigest()[:16]
    return f"frontguard-prelb-{digest}"


def pre_lb_ownership_problem(
    group: SecurityGroup, key: PreLoadBalancerKey | None = None, vpc_id: str | None = None
) -> str | None:
    """Why ``group`` is not frontguard's pre-load-balancer SG for ``key`` (``None``: it is).
    Proven as :func:`ownership_problem` proves the others: the name derived from the key, and
    the description and VPC (fixed at creation); the tags only say where to look."""
    cluster = group.tags.get(t.FG_CLUSTER_TAG) or ""
    stack_tag, _, stack = (group.tags.get(t.STACK_TAG) or "").partition("=")
    claimed = PreLoadBalancerKey(cluster, stack_tag, stack)
    if key is not None and (claimed.marker != key.marker or cluster != key.cluster):
        return "its tags name another stack"
    name = pre_lb_security_group_name(key or claimed)
    if re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{{SQUAT_SUFFIX_HEX}}}", group.name):
        # The name frontguard takes when the plain one is squatted (R2-8): the same facts
        # fixed at creation prove it, no weaker than the plain name.
        name = group.name
    return _creation_problem(group, name, PRE_LB_DESCRIPTION, vpc_id)


def is_pre_lb(group: SecurityGroup) -> bool:
    """Tagged as a pre-load-balancer SG (proven only by :func:`pre_lb_ownership_problem`)."""
    return group.managed_by_frontguard and t.STACK_TAG in group.tags


def lookup_pre_lb_security_group(
    ec2: EC2Client, key: PreLoadBalancerKey, vpc_id: str | None
) -> Lookup:
    """frontguard's pre-load-balancer SG for ``key`` and the look-alikes (tags only)."""
    try:
        groups = ec2.describe_security_groups(
            Filters=[
                {"Name": f"tag:{t.STACK_TAG}", "Values": [key.marker]},
                {"Name": f"tag:{t.MANAGED_BY_TAG}", "Values": [t.MANAGED_BY_VALUE]},
            ]
        )["SecurityGroups"]
    except ClientError as error:
        raise translate(error, f"find frontguard's pre-LB SG for {key.describe()}") from error
    ours: SecurityGroup | None = None
    impostors: list[tuple[SecurityGroup, str]] = []
    for group in (parse_security_group(g) for g in sorted(groups, key=lambda g: g["GroupId"])):
        problem = pre_lb_ownership_problem(group, key, vpc_id)
        if problem is not None:
            impostors.append((group, problem))
        elif ours is None:
            ours = group
    return Lookup(ours, tuple(impostors))


def create_pre_lb_security_group(
    ec2: EC2Client,
    key: PreLoadBalancerKey,
    *,
    vpc_id: str,
    owner: OwnerRef,
    suffix: str | None = None,
) -> SecurityGroup:
    """Create frontguard's SG for a load balancer that does not exist yet, with frontguard's
    own tags only (never the controller's stack tags: DESIGN.md). ``suffix``: the name is
    squatted; take ``<name>-<suffix>`` (random) instead."""
    name = pre_lb_security_group_name(key) + (f"-{suffix}" if suffix else "")
    tag_list: list[TagTypeDef] = [
        {"Key": "Name", "Value": name},
        {"Key": t.MANAGED_BY_TAG, "Value": t.MANAGED_BY_VALUE},
        {"Key": t.STACK_TAG, "Value": key.marker},
        {"Key": t.FG_CLUSTER_TAG, "Value": key.cluster},
        {"Key": t.OWNER_TAG, "Value": owner.describe()[:255]},
    ]
    try:
        created = ec2.create_security_group(
            GroupName=name,
            Description=f"{PRE_LB_DESCRIPTION} ({key.stack_tag}={key.stack})"[:255],
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list}],
        )
    except ClientError as error:
        if error_code(error) == "InvalidGroup.Duplicate":
            # A concurrent reaction made it a moment ago: use it once proven. Someone else's
            # SG holding the name is not frontguard's (security review r2, R2-8): name it.
            existing = lookup_pre_lb_security_group(ec2, key, vpc_id).group
            if existing is not None:
                return existing
            if suffix is not None:
                raise translate(error, f"create SG {name}") from error
            # Squatted (R2-8): protection goes on under a name nobody can predict; the caller
            # names the squatter in a conflict alert.
            group = create_pre_lb_security_group(
                ec2,
                key,
                vpc_id=vpc_id,
                owner=owner,
                suffix=secrets.token_hex(SQUAT_SUFFIX_HEX // 2),
            )
            return replace(group, squatter=_holder_of(ec2, name, vpc_id) or name)
        raise translate(error, f"create SG {name}") from error
    return SecurityGroup(
        id=created["GroupId"],
        name=name,
        vpc_id=vpc_id,
        tags={tag["Key"]: tag["Value"] for tag in tag_list},
        rules=frozenset(),
        description=PRE_LB_DESCRIPTION,
    )


def _holder_of(ec2: EC2Client, name: str, vpc_id: str) -> str | None:
    try:
        found = ec2.describe_security_groups(
            Filters=[
                {"Name": "group-name", "Values": [name]},
                {"Name": "vpc-id", "Values": [vpc_id]},
            ]
        )["SecurityGroups"]
    except ClientError:
        return None
    return str(found[0]["GroupId"]) if found else None


@dataclass(frozen=True)
class Lookup:
    """frontguard's SG for one load balancer, and the SGs that carry its tags but are not it."""

    group: SecurityGroup | None
    impostors: tuple[tuple[SecurityGroup, str], ...] = ()  # (SG, why it is not frontguard's)


def find_security_group(
    ec2: EC2Client,
    lb_arn: str,
    vpc_id: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    attached: Sequence[str] = (),
) -> SecurityGroup | None:
    """frontguard's SG for this load balancer: tagged for it *and* proven by its name,
    description and VPC (:func:`ownership_problem`); with the LB's ``tags`` and ``attached``
    SGs, also the pre-load-balancer SG it was born with (:func:`split_ownership`)."""
    return lookup_security_group(ec2, lb_arn, vpc_id, tags=tags, attached=attached).group


def lookup_security_group(
    ec2: EC2Client,
    lb_arn: str,
    vpc_id: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    attached: Sequence[str] = (),
) -> Lookup:
    """Every SG tagged as frontguard's for ``lb_arn`` (and, given the LB's ``tags``, for its
    stack before it existed: one call either way, the ``tag-value`` filter matching the value
    under any key and the keys checked in :func:`split_ownership`:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html),
    split into frontguard's own and the impostors (never converged, attached or deleted)."""
    key = PreLoadBalancerKey.of_tags(tags) if tags is not None else None
    filters: list[Any] = [
        {"Name": f"tag:{t.LOAD_BALANCER_TAG}", "Values": [lb_arn]},
        {"Name": f"tag:{t.MANAGED_BY_TAG}", "Values": [t.MANAGED_BY_VALUE]},
    ]
    if key is not None:
        filters[0] = {"Name": "tag-value", "Values": [lb_arn, key.marker]}
    try:
        groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    except ClientError as error:
        raise translate(error, f"find frontguard SG for {lb_arn}") from error
    return split_ownership(
        (parse_security_group(g) for g in sorted(groups, key=lambda g: g["GroupId"])),
        lb_arn,
        vpc_id,
        pre_lb=key,
        attached=attached,
    )


def split_ownership(
    groups: Iterable[SecurityGroup],
    lb_arn: str,
    vpc_id: str | None = None,
    *,
    pre_lb: PreLoadBalancerKey | None = None,
    attached: Sequence[str] = (),
) -> Lookup:
    """The one recognition rule: frontguard's SG for ``lb_arn`` is the one keyed by its ARN;
    without one, the pre-load-balancer SG of its own cluster and stack (fail-closed mode)
    when the load balancer carries it and it is proven for the LB's stack and VPC. Anything
    else tagged so is an impostor."""
    ours: SecurityGroup | None = None
    pre: SecurityGroup | None = None
    impostors: list[tuple[SecurityGroup, str]] = []
    for group in groups:
        if pre_lb is not None and group.tags.get(t.STACK_TAG) == pre_lb.marker:
            if group.tags.get(t.FG_CLUSTER_TAG) != pre_lb.cluster:
                continue  # the same stack name in another cluster: not this LB's
            if t.LOAD_BALANCER_TAG in group.tags:
                impostors.append((group, "it carries both frontguard's stack and LB tags"))
            elif (problem := pre_lb_ownership_problem(group, pre_lb, vpc_id)) is not None:
                impostors.append((group, problem))
            elif pre is None and group.id in attached:
                pre = group
            continue
        problem = ownership_problem(group, lb_arn, vpc_id)
        if problem is not None:
            impostors.append((group, problem))
        elif ours is None:
            ours = group
    return Lookup(ours or pre, tuple(impostors))


def describe_security_groups(ec2: EC2Client, group_ids: Sequence[str]) -> dict[str, SecurityGroup]:
    """The named SGs that still exist, in one call (a ``group-id`` filter, unlike ``GroupIds``,
    leaves missing ones out of the result instead of failing the whole call)."""
    if not group_ids:
        return {}
    try:
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "group-id", "Values": list(group_ids)}]
        )["SecurityGroups"]
    except ClientError as error:
        raise translate(error, f"describe SGs {', '.join(group_ids)}") from error
    return {g["GroupId"]: parse_security_group(g) for g in groups}


def resolve_security_group_names(
    ec2: EC2Client, names: Sequence[str], vpc_id: str
) -> dict[str, str]:
    """Name → ID for SGs named in an annotation, as the controller resolves them: the ``Name``
    tag (not the group name) within the load balancer's VPC (LBC:pkg/networking/
    security_group_resolver.go resolveViaName). Names that match nothing are left out."""
    if not names:
        return {}
    try:
        groups = ec2.describe_security_groups(
            Filters=[
                {"Name": "tag:Name", "Values": list(names)},
                {"Name": "vpc-id", "Values": [vpc_id]},
            ]
        )["SecurityGroups"]
    except ClientError as error:
        raise translate(error, f"resolve SG names {', '.join(names)}") from error
    resolved: dict[str, str] = {}
    for group in sorted(groups, key=lambda g: g["GroupId"]):
        for tag in group.get("Tags", []):
            if tag["Key"] == "Name" and tag.get("Value") in names:
                resolved.setdefault(tag["Value"], group["GroupId"])
    return resolved


def iter_frontguard_security_groups(ec2: EC2Client) -> Iterator[SecurityGroup]:
    """Every SG frontguard created in the region, in bulk pages."""
    try:
        pages = ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": f"tag:{t.MANAGED_BY_TAG}", "Values": [t.MANAGED_BY_VALUE]}],
            PaginationConfig={"PageSize": 1000},
        )
        for page in pages:
            yield from (parse_security_group(g) for g in page["SecurityGroups"])
    except ClientError as error:
        raise translate(error, "list frontguard SGs") from error


def create_security_group(
    ec2: EC2Client, lb: LoadBalancer, *, cluster: str, owner: OwnerRef
) -> SecurityGroup:
    """Create frontguard's SG for ``lb`` with its own tags only (never the controller's)."""
    name = security_group_name(lb)
    tag_list: list[TagTypeDef] = [
        {"Key": "Name", "Value": name},
        {"Key": t.MANAGED_BY_TAG, "Value": t.MANAGED_BY_VALUE},
        {"Key": t.LOAD_BALANCER_TAG, "Value": lb.arn},
        {"Key": t.FG_CLUSTER_TAG, "Value": cluster},
        {"Key": t.OWNER_TAG, "Value": owner.describe()[:255]},
    ]
    try:
        created = ec2.create_security_group(
            GroupName=name,
            Description=f"{SG_DESCRIPTION} for load balancer {lb.name}",
            VpcId=lb.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list}],
        )
    except ClientError as error:
        if error_code(error) == "InvalidGroup.Duplicate":
            # Another invocation created it a moment ago: use theirs.
            # Or someone took the name first: then it is not proven frontguard's, and the
            # error stands (the caller alerts).
            existing = find_security_group(ec2, lb.arn, lb.vpc_id)
            if existing is not None:
                return existing
        raise translate(error, f"create SG {name}") from error
    return SecurityGroup(
        id=created["GroupId"],
        name=name,
        vpc_id=lb.vpc_id,
        tags={tag["Key"]: tag["Value"] for tag in tag_list},
        rules=frozenset(),
    )


def _permissions(rules: Iterable[PermissionRule]) -> list[IpPermissionTypeDef]:
    permissions: list[IpPermissionTypeDef] = []
    for rule in sorted(rules):
        permission: IpPermissionTypeDef = {
            "IpProtocol": rule.protocol,
            "FromPort": rule.port,
            "ToPort": rule.to_port,
        }
        kind = rule.source_kind
        if kind == "ipv4":
            permission["IpRanges"] = [{"CidrIp": rule.source, "Description": RULE_DESCRIPTION}]
        elif kind == "ipv6":
            permission["Ipv6Ranges"] = [{"CidrIpv6": rule.source, "Description": RULE_DESCRIPTION}]
        elif kind == "prefix-list":
            permission["PrefixListIds"] = [
                {"PrefixListId": rule.source, "Description": RULE_DESCRIPTION}
            ]
        else:
            permission["UserIdGroupPairs"] = [
                {"GroupId": rule.source, "Description": RULE_DESCRIPTION}
            ]
        permissions.append(permission)
    return permissions


@dataclass(frozen=True)
class RuleChanges:
    added: frozenset[PermissionRule]
    removed: frozenset[PermissionRule]
    foreign_removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.foreign_removed)


def rule_changes(group: SecurityGroup, planned: frozenset[PermissionRule]) -> RuleChanges:
    return RuleChanges(
        added=planned - group.rules,
        removed=group.rules - planned,
        foreign_removed=len(group.foreign_permissions),
    )


def converge_rules(
    ec2: EC2Client, group: SecurityGroup, planned: frozenset[PermissionRule]
) -> RuleChanges:
    """Make the SG's inbound rules exactly the plan: revoke the extra, add the missing."""
    changes = rule_changes(group, planned)
    revoke: list[Any] = [*_permissions(changes.removed), *group.foreign_permissions]
    if revoke:
        _converge_call(ec2.revoke_security_group_ingress, group, revoke)
    if changes.added:
        _converge_call(ec2.authorize_security_group_ingress, group, _permissions(changes.added))
    return changes


# A concurrent invocation converging the same SG got there first: the rules are as planned.
_ALREADY_DONE = frozenset({"InvalidPermission.Duplicate", "InvalidPermission.NotFound"})


def _converge_call(call: Any, group: SecurityGroup, permissions: list[Any]) -> None:
    """One batch call; when another invocation already made part of it, one rule at a time."""
    try:
        call(GroupId=group.id, IpPermissions=permissions)
    except ClientError as error:
        if error_code(error) not in _ALREADY_DONE:
            raise translate(error, f"converge rules of {group.id}") from error
        for permission in permissions:
            try:
                call(GroupId=group.id, IpPermissions=[permission])
            except ClientError as single:
                if error_code(single) not in _ALREADY_DONE:
                    raise translate(single, f"converge rules of {group.id}") from single


def delete_security_group(ec2: EC2Client, group_id: str) -> None:
    try:
        ec2.delete_security_group(GroupId=group_id)
    except ClientError as error:
        raise translate(error, f"delete SG {group_id}") from error
