"""The doctor's CloudTrail area: a trail delivers this region's management write events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from frontguard.doctor.deployment import Client
from frontguard.doctor.report import Check, failed, passed


def check_cloudtrail(cloudtrail: Client, region: str) -> list[Check]:
    """A trail that logs and delivers management (write) events of this region: EventBridge
    only sees "AWS API Call via CloudTrail" events when one does.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html"""
    area = "cloudtrail"
    fix = (
        "create a trail for this region (or a multi-region trail) that logs management write "
        "events and start logging: `aws cloudtrail create-trail ... --is-multi-region-trail` "
        "then `aws cloudtrail start-logging`"
    )
    trails = cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", [])
    covering = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == region]
    reasons = []
    for trail in covering:
        arn = trail["TrailARN"]
        if not cloudtrail.get_trail_status(Name=arn).get("IsLogging"):
            reasons.append(f"{trail['Name']} is not logging")
            continue
        if _logs_management_writes(cloudtrail.get_event_selectors(TrailName=arn)):
            return [passed(area, "trail", f"{trail['Name']} logs management events here")]
        reasons.append(f"{trail['Name']} does not log management write events")
    detail = "; ".join(reasons) or f"no trail covers {region}"
    return [failed(area, "trail", detail, fix)]


def _logs_management_writes(selectors: Mapping[str, Any]) -> bool:
    advanced = selectors.get("AdvancedEventSelectors") or []
    if advanced:
        for selector in advanced:
            fields = {f["Field"]: f for f in selector.get("FieldSelectors", [])}
            category = fields.get("eventCategory", {}).get("Equals", [])
            read_only = fields.get("readOnly", {}).get("Equals", ["false"])
            if "Management" in category and "false" in read_only:
                return True
        return False
    basic = selectors.get("EventSelectors")
    if basic is None:
        return True  # a trail without selectors logs all management events (AWS's default)
    return any(
        s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") != "ReadOnly"
        for s in basic
    )
