"""Intake of EventBridge events: CloudTrail ``CreateLoadBalancer`` calls (DESIGN.md) and the
controller's ``CreateSecurityGroup`` of a managed SG (the earliest signal of a new LB).

Parsing happens here, at the edge: the fields read are first checked against their shapes
(handlers/shapes.py); the result is either the load balancer to remediate, the managed SG that
announces one, a reason to ignore the event (info log, no alert), or
:class:`InvalidEventError` naming the field that is missing or of the wrong type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frontguard import tags as t
from frontguard.errors import InvalidEventError
from frontguard.handlers.shapes import (
    CloudTrailRecord,
    CreateLoadBalancerRequest,
    CreateLoadBalancerResponse,
    CreateSecurityGroupRequest,
    CreateSecurityGroupResponse,
    EventBridgeEvent,
    RequestTag,
    conform,
)

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


def _required(value: str | None, field: str) -> str:
    if not value:
        raise InvalidEventError(f"event is missing {field}", field=field)
    return value


def _tags(tags: list[RequestTag] | None) -> dict[str, str]:
    return {tag.key: tag.value or "" for tag in tags or []}


def parse_event(event: Any) -> NewLoadBalancer | ManagedSecurityGroupCreated | Ignored:
    """The event path's intake: EC2 ``CreateSecurityGroup`` or ELBv2 ``CreateLoadBalancer``."""
    detail = event.get("detail") if isinstance(event, Mapping) else None
    if isinstance(detail, Mapping) and detail.get("eventSource") == EC2_EVENT_SOURCE:
        return parse_create_security_group(event)
    return parse_create_load_balancer(event)


def _security_group_request_tags(request: CreateSecurityGroupRequest) -> dict[str, str]:
    """Tags of the ``security-group`` tag specification. CloudTrail records EC2 requests with
    the EC2 query API's wire names, so ``TagSpecifications`` appears as
    ``tagSpecificationSet.items[].{resourceType, tags[].{key, value}}``: the AWS-published
    EventBridge schema of ``aws.ec2`` CloudTrail events types these sets as ``items`` of
    ``{key, value}``
    (https://docs.aws.amazon.com/cdk/api/v2/dotnet/api/Amazon.CDK.Mixins.Preview.AWS.EC2.Events.InstanceEvents.AWSAPICallViaCloudTrail.ITagSet.html).
    No AWS page with a whole ``CreateSecurityGroup`` record was found: a missing set is read
    as no tags (ignored, never guessed); a set of another shape is malformed (shapes.py)."""
    spec_set = request.tagSpecificationSet
    tags: dict[str, str] = {}
    for item in (spec_set.items if spec_set is not None else None) or []:
        if item.resourceType == "security-group":
            tags.update(_tags(item.tags))
    return tags


def parse_create_security_group(event: Any) -> ManagedSecurityGroupCreated | Ignored:
    """A CloudTrail ``CreateSecurityGroup``: the controller's managed SG, or ignored (no AWS
    call is needed to tell: the request carries the controller's tags)."""
    checked = _call(event, EC2_EVENT_SOURCE, "CreateSecurityGroup", "EC2")
    if isinstance(checked, Ignored):
        return checked
    envelope, detail = checked
    request = conform(
        CreateSecurityGroupRequest,
        detail.requestParameters or {},
        "detail.requestParameters",
    )
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
    group_id: str | None = None
    if detail.errorCode is None:
        response = conform(
            CreateSecurityGroupResponse,
            _required_object(detail.responseElements, "detail.responseElements"),
            "detail.responseElements",
        )
        group_id = _required(response.groupId, "detail.responseElements.groupId")
        if not group_id.startswith("sg-"):
            raise InvalidEventError(
                f"groupId {group_id!r} is not a security group ID",
                field="detail.responseElements.groupId",
            )
    return ManagedSecurityGroupCreated(
        cluster=cluster,
        prefix=prefix,
        stack=stack,
        group_id=group_id,
        group_name=request.groupName or "",
        vpc_id=request.vpcId or "",
        account=envelope.account or detail.recipientAccountId or "",
        region=envelope.region or detail.awsRegion or "",
        event_id=detail.eventID or envelope.id or "",
        error_code=detail.errorCode or None,
        caller_role=_caller_role(detail),
        caller_arn=_caller_arn(detail),
    )


def _required_object(value: dict[str, Any] | None, field: str) -> dict[str, Any]:
    if not value:
        raise InvalidEventError(f"event is missing {field}", field=field)
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _caller_arn(detail: CloudTrailRecord) -> str:
    arn = _mapping(detail.userIdentity).get("arn")
    return arn if isinstance(arn, str) else ""


def _caller_role(detail: CloudTrailRecord) -> tuple[str, str] | None:
    """(account, role name) of the role that issued the caller's session: CloudTrail's
    ``userIdentity.sessionContext.sessionIssuer`` of an ``AssumedRole`` identity
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html);
    ``None`` for any other identity (an IAM user, root, a federated user) or a shape AWS does
    not write (read as untrusted, never guessed)."""
    identity = _mapping(detail.userIdentity)
    issuer = _mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer"))
    if identity.get("type") != "AssumedRole" or issuer.get("type") != "Role":
        return None
    account, name = issuer.get("accountId"), issuer.get("userName")
    if not isinstance(account, str) or not isinstance(name, str) or not account or not name:
        return None
    return account, name


def _detail(event: Any) -> tuple[EventBridgeEvent, CloudTrailRecord] | Ignored:
    """The CloudTrail record of an EventBridge event, after the checks every event gets."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event is a {type(event).__name__}, not a JSON object")
    size = len(json.dumps(event, default=str).encode())
    if size > MAX_EVENT_BYTES:
        raise InvalidEventError(f"event is {size} bytes, more than EventBridge's {MAX_EVENT_BYTES}")
    if "detail-type" not in event:
        raise InvalidEventError("event is missing detail-type", field="detail-type")
    envelope = conform(EventBridgeEvent, event)
    if envelope.detail_type != CLOUDTRAIL_DETAIL_TYPE:
        return Ignored(f"detail-type {envelope.detail_type!r} is not a CloudTrail API call")
    if envelope.detail is None:
        raise InvalidEventError("event is missing detail", field="detail")
    return envelope, conform(CloudTrailRecord, envelope.detail, "detail")


def _call(
    event: Any, source: str, name: str, service: str
) -> tuple[EventBridgeEvent, CloudTrailRecord] | Ignored:
    """The CloudTrail record of one API call (``source``'s ``name``), or why it is ignored."""
    checked = _detail(event)
    if isinstance(checked, Ignored):
        return checked
    detail = checked[1]
    if detail.eventSource != source:
        return Ignored(f"eventSource {detail.eventSource!r} is not {service}")
    if detail.eventName != name:
        return Ignored(f"eventName {detail.eventName!r} is not {name}")
    return checked


def parse_create_load_balancer(event: Any) -> NewLoadBalancer | Ignored:
    checked = _call(event, ELB_EVENT_SOURCE, "CreateLoadBalancer", "Elastic Load Balancing")
    if isinstance(checked, Ignored):
        return checked
    envelope, detail = checked
    if detail.errorCode:
        return Ignored(f"the call failed ({detail.errorCode}): no load balancer was created")
    if detail.apiVersion != ELBV2_API_VERSION:
        return Ignored("Classic Load Balancer (apiVersion is not 2015-12-01)")

    request = conform(
        CreateLoadBalancerRequest, detail.requestParameters or {}, "detail.requestParameters"
    )
    request_tags = _tags(request.tags)
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

    response = conform(
        CreateLoadBalancerResponse,
        _required_object(detail.responseElements, "detail.responseElements"),
        "detail.responseElements",
    )
    if not response.loadBalancers:
        raise InvalidEventError(
            "event has no detail.responseElements.loadBalancers[0]",
            field="detail.responseElements.loadBalancers",
        )
    arn = _required(
        response.loadBalancers[0].loadBalancerArn,
        "detail.responseElements.loadBalancers.0.loadBalancerArn",
    )
    if not arn.startswith("arn:"):
        raise InvalidEventError(
            f"loadBalancerArn {arn!r} is not an ARN",
            field="detail.responseElements.loadBalancers.0.loadBalancerArn",
        )
    return NewLoadBalancer(
        arn=arn,
        account=envelope.account or detail.recipientAccountId or "",
        region=envelope.region or detail.awsRegion or "",
        event_id=detail.eventID or envelope.id or "",
        cluster_hint=request_tags.get(cluster_tag),
        caller_arn=_caller_arn(detail),
    )
