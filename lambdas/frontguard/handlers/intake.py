"""Intake of EventBridge events: CloudTrail ``CreateLoadBalancer`` calls (DESIGN.md) and the
controller's ``CreateSecurityGroup`` of a managed SG (the earliest signal of a new LB).

Parsing happens here, at the edge; the result is either the load balancer to remediate, the
managed SG that announces one, a reason to ignore the event (info log, no alert), or
:class:`InvalidEventError` naming what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frontguard import tags as t
from frontguard.errors import InvalidEventError

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
ELB_EVENT_SOURCE = "elasticloadbalancing.amazonaws.com"
EC2_EVENT_SOURCE = "ec2.amazonaws.com"
ELBV2_API_VERSION = "2015-12-01"
MAX_EVENT_BYTES = 256 * 1024  # EventBridge's own limit: anything larger is not a real event


@dataclass(frozen=True)
class NewLoadBalancer:
    arn: str
    account: str
    region: str
    event_id: str
    cluster_hint: str | None  # from the request's tags; the LB's own tags are re-read
    # Who created it, from CloudTrail's userIdentity.arn (written by AWS, not the caller:
    # https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html)
    caller_arn: str = ""


@dataclass(frozen=True)
class ManagedSecurityGroupCreated:
    """The controller's ``CreateSecurityGroup`` of its own managed (world-open) frontend SG.

    The controller creates it first in the reconcile that then creates the load balancer
    (LBC:pkg/deploy/stack_deployer.go: the SG synthesizer runs before the load balancer's),
    with the stack's tags in the request (LBC:pkg/deploy/ec2/security_group_manager.go
    ``Create``, ``TagSpecifications``).
    """

    cluster: str
    prefix: str  # the controller's tag prefix: ingress.k8s.aws, service.k8s.aws, gateway.…
    stack: str  # the value of ``<prefix>/stack``: ns/name, or an IngressGroup's name
    group_id: str | None  # None when the call failed (fail-closed: the Deny refused it)
    group_name: str
    vpc_id: str
    account: str
    region: str
    event_id: str
    error_code: str | None = None
    # Who made the call, from CloudTrail's userIdentity (written by AWS, not the caller): the
    # role an assumed-role session was issued by, as (account, role name); None otherwise.
    caller_role: tuple[str, str] | None = None
    caller_arn: str = ""

    @property
    def stack_tag(self) -> str:
        return f"{self.prefix}/stack"

    def describe(self) -> str:
        return f"{self.stack_tag}={self.stack} in cluster {self.cluster}"


@dataclass(frozen=True)
class Ignored:
    reason: str


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping or mapping[key] in (None, ""):
        raise InvalidEventError(f"event is missing {where}{key}")
    return mapping[key]


def parse_event(event: Any) -> NewLoadBalancer | ManagedSecurityGroupCreated | Ignored:
    """The event path's intake: EC2 ``CreateSecurityGroup`` or ELBv2 ``CreateLoadBalancer``."""
    detail = event.get("detail") if isinstance(event, Mapping) else None
    if isinstance(detail, Mapping) and detail.get("eventSource") == EC2_EVENT_SOURCE:
        return parse_create_security_group(event)
    return parse_create_load_balancer(event)


def _security_group_request_tags(request: Mapping[str, Any]) -> dict[str, str]:
    """Tags of the ``security-group`` tag specification. CloudTrail records EC2 requests with
    the EC2 query API's wire names, so ``TagSpecifications`` appears as
    ``tagSpecificationSet.items[].{resourceType, tags[].{key, value}}``: the AWS-published
    EventBridge schema of ``aws.ec2`` CloudTrail events types these sets as ``items`` of
    ``{key, value}``
    (https://docs.aws.amazon.com/cdk/api/v2/dotnet/api/Amazon.CDK.Mixins.Preview.AWS.EC2.Events.InstanceEvents.AWSAPICallViaCloudTrail.ITagSet.html).
    No AWS page with a whole ``CreateSecurityGroup`` record was found: anything else is read as
    no tags (ignored, never guessed)."""
    spec_set = request.get("tagSpecificationSet")
    items = spec_set.get("items") if isinstance(spec_set, Mapping) else None
    tags: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or item.get("resourceType") != "security-group":
            continue
        listed = item.get("tags")
        for tag in listed if isinstance(listed, list) else []:
            if isinstance(tag, Mapping) and isinstance(tag.get("key"), str):
                tags[tag["key"]] = str(tag.get("value", ""))
    return tags


def parse_create_security_group(event: Any) -> ManagedSecurityGroupCreated | Ignored:
    """A CloudTrail ``CreateSecurityGroup``: the controller's managed SG, or ignored (no AWS
    call is needed to tell: the request carries the controller's tags)."""
    detail = _detail(event)
    if isinstance(detail, Ignored):
        return detail
    if detail.get("eventSource") != EC2_EVENT_SOURCE:
        return Ignored(f"eventSource {detail.get('eventSource')!r} is not EC2")
    if detail.get("eventName") != "CreateSecurityGroup":
        return Ignored(f"eventName {detail.get('eventName')!r} is not CreateSecurityGroup")
    request = detail.get("requestParameters") or {}
    if not isinstance(request, Mapping):
        raise InvalidEventError("event detail.requestParameters is not an object")
    tags = _security_group_request_tags(request)
    prefix = next(
        (p for p in t.MANAGED_SG_PREFIXES if tags.get(f"{p}/resource") == t.MANAGED_LB_SG), None
    )
    if prefix is None:
        return Ignored(
            "security group was created without the controller's "
            f"<prefix>/resource={t.MANAGED_LB_SG} tag: not a managed load balancer SG"
        )
    cluster = tags.get(t.CLUSTER_TAG)
    stack = tags.get(f"{prefix}/stack")
    if not cluster or not stack:
        return Ignored(
            f"managed SG without its {t.CLUSTER_TAG} or {prefix}/stack tag: "
            "not the controller's request"
        )
    error_code = str(detail["errorCode"]) if detail.get("errorCode") else None
    group_id: str | None = None
    if error_code is None:
        response = _require(detail, "responseElements", "detail.")
        group_id = _require(response, "groupId", "detail.responseElements.")
        if not isinstance(group_id, str) or not group_id.startswith("sg-"):
            raise InvalidEventError(f"groupId {group_id!r} is not a security group ID")
    return ManagedSecurityGroupCreated(
        cluster=cluster,
        prefix=prefix,
        stack=stack,
        group_id=group_id,
        group_name=str(request.get("groupName") or ""),
        vpc_id=str(request.get("vpcId") or ""),
        account=str(event.get("account") or detail.get("recipientAccountId") or ""),
        region=str(event.get("region") or detail.get("awsRegion") or ""),
        event_id=str(detail.get("eventID") or event.get("id") or ""),
        error_code=error_code,
        caller_role=_caller_role(detail),
        caller_arn=str(_mapping(detail.get("userIdentity")).get("arn") or ""),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _caller_role(detail: Mapping[str, Any]) -> tuple[str, str] | None:
    """(account, role name) of the role that issued the caller's session: CloudTrail's
    ``userIdentity.sessionContext.sessionIssuer`` of an ``AssumedRole`` identity
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html);
    ``None`` for any other identity (an IAM user, root, a federated user)."""
    identity = _mapping(detail.get("userIdentity"))
    issuer = _mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer"))
    if identity.get("type") != "AssumedRole" or issuer.get("type") != "Role":
        return None
    account, name = issuer.get("accountId"), issuer.get("userName")
    if not isinstance(account, str) or not isinstance(name, str) or not account or not name:
        return None
    return account, name


def _detail(event: Any) -> Mapping[str, Any] | Ignored:
    """The CloudTrail record of an EventBridge event, after the checks every event gets."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event is a {type(event).__name__}, not a JSON object")
    size = len(json.dumps(event, default=str).encode())
    if size > MAX_EVENT_BYTES:
        raise InvalidEventError(f"event is {size} bytes, more than EventBridge's {MAX_EVENT_BYTES}")
    detail_type = _require(event, "detail-type", "")
    if detail_type != CLOUDTRAIL_DETAIL_TYPE:
        return Ignored(f"detail-type {detail_type!r} is not a CloudTrail API call")
    detail = _require(event, "detail", "")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("event detail is not an object")
    return detail


def parse_create_load_balancer(event: Any) -> NewLoadBalancer | Ignored:
    detail = _detail(event)
    if isinstance(detail, Ignored):
        return detail
    if detail.get("eventSource") != ELB_EVENT_SOURCE:
        return Ignored(f"eventSource {detail.get('eventSource')!r} is not Elastic Load Balancing")
    if detail.get("eventName") != "CreateLoadBalancer":
        return Ignored(f"eventName {detail.get('eventName')!r} is not CreateLoadBalancer")
    if detail.get("errorCode"):
        return Ignored(f"the call failed ({detail['errorCode']}): no load balancer was created")
    if detail.get("apiVersion") != ELBV2_API_VERSION:
        return Ignored("Classic Load Balancer (apiVersion is not 2015-12-01)")

    request = detail.get("requestParameters") or {}
    if not isinstance(request, Mapping):
        raise InvalidEventError("event detail.requestParameters is not an object")
    listed = request.get("tags")
    request_tags = {
        str(tag.get("key")): str(tag.get("value", ""))
        for tag in (listed if isinstance(listed, list) else [])
        if isinstance(tag, Mapping)
    }
    cluster_tag = next(
        (key for key in (t.CLUSTER_TAG, t.AUTO_MODE_CLUSTER_TAG) if key in request_tags), None
    )
    # The controller tags a load balancer in the CreateLoadBalancer call itself
    # (LBC:pkg/deploy/elbv2/load_balancer_manager.go Create), so a request without its cluster
    # tag (no tags at all included: a console-made LB) is not the controller's: no AWS call.
    if cluster_tag is None:
        return Ignored(
            f"load balancer was created without the {t.CLUSTER_TAG} tag "
            f"(nor EKS Auto Mode's {t.AUTO_MODE_CLUSTER_TAG})"
        )

    response = _require(detail, "responseElements", "detail.")
    load_balancers = _require(response, "loadBalancers", "detail.responseElements.")
    if not isinstance(load_balancers, list) or not load_balancers:
        raise InvalidEventError("event has no detail.responseElements.loadBalancers[0]")
    arn = _require(
        load_balancers[0], "loadBalancerArn", "detail.responseElements.loadBalancers[0]."
    )
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise InvalidEventError(f"loadBalancerArn {arn!r} is not an ARN")
    return NewLoadBalancer(
        arn=arn,
        account=str(event.get("account") or detail.get("recipientAccountId") or ""),
        region=str(event.get("region") or detail.get("awsRegion") or ""),
        event_id=str(detail.get("eventID") or event.get("id") or ""),
        cluster_hint=request_tags.get(cluster_tag) if cluster_tag else None,
        caller_arn=str(_mapping(detail.get("userIdentity")).get("arn") or ""),
    )
