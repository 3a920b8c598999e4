# ruff: noqa: N815 - field names are the wire names (CloudTrail, SQS), read as they are sent
"""The shapes of what reaches frontguard's entry points, checked at the edge.

Each model names only the fields frontguard reads, with the JSON type it reads them as (other
fields pass through unchecked). :func:`conform` turns a validation failure into one
:class:`InvalidEventError` whose ``field`` is the path of the first wrong field, so the code
behind the edge never meets a string where it reads an object (no ``AttributeError``,
``TypeError`` or ``KeyError`` from deep in a flow; issue 22 item 3, security review R2-9).

CloudTrail fields as the CloudTrail record contents page documents them
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html):
``requestParameters`` and ``responseElements`` are objects or null, ``errorCode`` a string;
the EventBridge envelope as in "Amazon EventBridge events"
(https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html); the SQS
event a Lambda function receives as in "Using Lambda with Amazon SQS"
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html): ``Records[].messageId`` and
``body`` strings.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from frontguard.errors import InvalidEventError

S = TypeVar("S")
# How much of an input's own text (an id) a log line quotes.
ID_LIMIT = 128


class Shape(BaseModel):
    """Fields frontguard reads are typed; any other field passes unchecked."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


Object = dict[str, Any]


class EventBridgeEvent(Shape):
    detail_type: str = Field(alias="detail-type", min_length=1)
    id: str | None = None
    account: str | None = None
    region: str | None = None
    time: str | None = None
    detail: Any = None


class CloudTrailRecord(Shape):
    """The CloudTrail record in ``detail``: what every CloudTrail event path reads."""

    eventSource: str | None = None
    eventName: str | None = None
    eventID: str | None = None
    eventTime: str | None = None
    apiVersion: str | None = None
    errorCode: str | None = None
    recipientAccountId: str | None = None
    awsRegion: str | None = None
    userIdentity: Object | None = None
    requestParameters: Object | None = None
    responseElements: Object | None = None


class RequestTag(Shape):
    key: str
    value: str | None = None


# --- ELBv2 CreateLoadBalancer (DESIGN.md, CloudTrail) ------------------------------------


class CreateLoadBalancerRequest(Shape):
    tags: list[RequestTag] | None = None


class CreatedLoadBalancer(Shape):
    loadBalancerArn: str | None = None


class CreateLoadBalancerResponse(Shape):
    loadBalancers: list[CreatedLoadBalancer] | None = None


# --- EC2 CreateSecurityGroup (EC2 query API wire names: intake.py) ----------------------


class TagSpecification(Shape):
    resourceType: str | None = None
    tags: list[RequestTag] | None = None


class TagSpecificationSet(Shape):
    items: list[TagSpecification] | None = None


class CreateSecurityGroupRequest(Shape):
    groupName: str | None = None
    vpcId: str | None = None
    tagSpecificationSet: TagSpecificationSet | None = None


class CreateSecurityGroupResponse(Shape):
    groupId: str | None = None


# --- drift calls routed to the scan (scan_flow.handle_drift_event) ----------------------


class ModifySecurityGroupRules(Shape):
    GroupId: str | None = None


class ModifyManagedPrefixList(Shape):
    PrefixListId: str | None = None


class DriftRequest(Shape):
    """SetSecurityGroups/CreateListener (``loadBalancerArn``), ModifyListener
    (``listenerArn``), Authorize/RevokeSecurityGroupIngress (``groupId``),
    ModifySecurityGroupRules (``ModifySecurityGroupRulesRequest.GroupId``),
    ModifyManagedPrefixList (``prefixListId`` or ``ModifyManagedPrefixListRequest.PrefixListId``)."""

    loadBalancerArn: str | None = None
    listenerArn: str | None = None
    groupId: str | None = None
    prefixListId: str | None = None
    ModifySecurityGroupRulesRequest: ModifySecurityGroupRules | None = None
    ModifyManagedPrefixListRequest: ModifyManagedPrefixList | None = None


# --- SQS ------------------------------------------------------------------------------


class SqsRecord(Shape):
    messageId: str = Field(min_length=1)
    body: Any = None  # checked per record: a wrong body fails that record alone
    # Powertools' FIFO processor reads attributes.MessageGroupId before any record handler.
    attributes: Object = Field(default_factory=dict)


class SqsEvent(Shape):
    # Lambda never delivers an empty batch (and Powertools reads 0 of 0 as "all failed").
    Records: list[SqsRecord] = Field(min_length=1)


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(shape: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(shape)
    if adapter is None:
        adapter = _ADAPTERS[shape] = TypeAdapter(shape)
    return adapter


def conform(shape: type[S], data: object, where: str = "") -> S:
    """``data`` as ``shape`` (a model, or a dataclass such as a queue request), or one
    :class:`InvalidEventError` naming the first wrong field under ``where``."""
    try:
        value: S = _adapter(shape).validate_python(data)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in (where, *first["loc"]) if part != "")
        raise InvalidEventError(
            f"{field or 'input'}: {first['msg']}", field=field or where
        ) from error
    return value


def json_body(body: object) -> Any:
    """An SQS message body as JSON, or :class:`InvalidEventError` on ``body``."""
    if not isinstance(body, str):
        raise InvalidEventError("body: not a string", field="body")
    try:
        return json.loads(body)
    except ValueError as error:
        raise InvalidEventError("body: not JSON", field="body") from error


def input_id(value: object) -> str | None:
    """An event or message id for a log line: a short string, or None."""
    return value[:ID_LIMIT] if isinstance(value, str) and value else None
