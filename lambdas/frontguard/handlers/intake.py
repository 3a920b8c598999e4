"""Intake of EventBridge events: CloudTrail ``CreateLoadBalancer`` calls (DESIGN.md).

Parsing happens here, at the edge; the result is either the load balancer to remediate, a
reason to ignore the event (info log, no alert), or :class:`InvalidEventError` naming what
is missing.
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
ELBV2_API_VERSION = "2015-12-01"
MAX_EVENT_BYTES = 256 * 1024  # EventBridge's own limit: anything larger is not a real event


@dataclass(frozen=True)
class NewLoadBalancer:
    arn: str
    account: str
    region: str
    event_id: str
    cluster_hint: str | None  # from the request's tags; the LB's own tags are re-read


@dataclass(frozen=True)
class Ignored:
    reason: str


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping or mapping[key] in (None, ""):
        raise InvalidEventError(f"event is missing {where}{key}")
    return mapping[key]


def parse_create_load_balancer(event: Any) -> NewLoadBalancer | Ignored:
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
    if detail.get("eventSource") != ELB_EVENT_SOURCE:
        return Ignored(f"eventSource {detail.get('eventSource')!r} is not Elastic Load Balancing")
    if detail.get("eventName") != "CreateLoadBalancer":
        return Ignored(f"eventName {detail.get('eventName')!r} is not CreateLoadBalancer")
    if detail.get("errorCode"):
        return Ignored(f"the call failed ({detail['errorCode']}): no load balancer was created")
    if detail.get("apiVersion") != ELBV2_API_VERSION:
        return Ignored("Classic Load Balancer (apiVersion is not 2015-12-01)")

    request = detail.get("requestParameters") or {}
    request_tags = {
        str(tag.get("key")): str(tag.get("value", ""))
        for tag in (request.get("tags") or [])
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
    )
