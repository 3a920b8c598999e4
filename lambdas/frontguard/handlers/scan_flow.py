"""The scan handler's flow: a scheduled full scan, or a targeted check after a drift event."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.aws import CLIENT_CONFIG
from frontguard.adapters.aws_errors import translate
from frontguard.adapters.state import PUBLISH_LEASE_SECONDS
from frontguard.alerts import SUBJECT_LIMIT, budgeted, chatbot_notification, structured_message
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.engine.scan import ScanReport, scan
from frontguard.errors import InvalidEventError, NotFoundError
from frontguard.model import classify
from frontguard.runtime import Runtime
from frontguard.untrusted import escape

logger = logging.getLogger(__name__)

DIGEST_PERIOD_SECONDS = 24 * 3600
SG_EVENTS = frozenset({"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"})
# The controller adds listeners seconds after CreateLoadBalancer; while the LB is this young the
# events function (CreateLoadBalancer) owns it, and a drift check would race it.
NEW_LOAD_BALANCER = timedelta(minutes=5)


def _drift_group_id(name: object, request: Mapping[str, Any]) -> str | None:
    """The SG a drift call changed: ``groupId`` for Authorize/Revoke, the request's
    ``ModifySecurityGroupRulesRequest.GroupId`` for ModifySecurityGroupRules (its CloudTrail
    shape; https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySecurityGroupRules.html)."""
    if name in SG_EVENTS:
        group = request.get("groupId")
    elif name == "ModifySecurityGroupRules":
        inner = request.get("ModifySecurityGroupRulesRequest")
        group = inner.get("GroupId") if isinstance(inner, Mapping) else None
    else:
        return None
    return str(group) if group else None


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    text = event.get("time") or (event.get("detail") or {}).get("eventTime")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def run_scan(runtime: Runtime) -> ScanReport:
    report = scan(runtime.engine)
    publish_digest(runtime, report)
    return report


def publish_digest(runtime: Runtime, report: ScanReport) -> bool:
    """One SNS digest when findings are open, at most once a day when state is kept."""
    topic = runtime.settings.alert_topic_arn
    findings = report.open_findings
    if not findings or not topic:
        return False
    state = runtime.engine.state
    token = (
        state.claim("digest", "daily", PUBLISH_LEASE_SECONDS, DIGEST_PERIOD_SECONDS)
        if state is not None
        else None
    )
    if state is not None and token is None:
        logger.info("digest already sent today", extra={"open_findings": len(findings)})
        return False
    body = report.digest(account=runtime.account, region=runtime.region)
    subject = f"frontguard: {len(findings)} open findings in {runtime.account} {runtime.region}"
    message = budgeted(body, lambda candidate: _digest_message(candidate, subject, len(findings)))
    try:
        runtime.session.client("sns", config=CLIENT_CONFIG).publish(
            TopicArn=topic,
            Subject=subject[:SUBJECT_LIMIT],
            MessageStructure="json",
            Message=message,
        )
    except ClientError as error:
        if state is not None and token is not None:
            state.release("digest", "daily", token)  # not sent: the next run sends it
        raise translate(error, "publish scan digest") from error
    if state is not None and token is not None:
        state.confirm("digest", "daily", token, DIGEST_PERIOD_SECONDS)
    return True


def _digest_message(body: Mapping[str, Any], subject: str, findings: int) -> str:
    text = digest_text(body)
    return structured_message(
        json.dumps(body, indent=2, default=str),
        email=text,
        chatbot=chatbot_notification(
            title=subject,
            description=text,
            event_type="digest",
            summary=f"{findings} open findings",
        ),
    )


def digest_text(body: Mapping[str, Any]) -> str:
    """The digest for an email reader: counts, then the worst open findings first."""
    lines = [
        f"frontguard scan of account {body['account']} in {body['region']} "
        f"({body['mode']} mode): {body['open_findings']} open findings among "
        f"{body['load_balancers']} load balancers.",
        "",
        "By outcome: " + ", ".join(f"{k} {v}" for k, v in sorted(body["by_outcome"].items())),
        "",
        "Worst first:",
    ]
    lines.extend(
        # Reasons may quote what users wrote (an exemption's reason): escaped, one line each.
        f"- [{escape(item['outcome'], 40)}] {escape(item['owner'] or item['name'], 200)} in "
        f"{escape(item['cluster'], 100)}: {escape(item['reason'], 400)}"
        for item in body["worst"]
        if isinstance(item, Mapping)
    )
    lines += ["", "Each finding was alerted on its own once; this digest repeats what is open."]
    return "\n".join(lines)


def handle_drift_event(runtime: Runtime, event: Mapping[str, Any]) -> dict[str, str]:
    """Re-check the one load balancer a drift event (CloudTrail) is about."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("drift event has no detail")
    name = detail.get("eventName")
    request = detail.get("requestParameters") or {}
    engine = runtime.engine
    arn: str | None = None
    if name in ("SetSecurityGroups", "CreateListener"):
        arn = request.get("loadBalancerArn")
    elif name == "ModifyListener" and request.get("listenerArn"):
        arn = aws.load_balancer_of_listener(engine.elbv2, str(request["listenerArn"]))
    elif (group_id := _drift_group_id(name, request)) is not None:
        found = aws.describe_security_groups(engine.ec2, [group_id])
        group = found.get(group_id)
        if group is not None and group.managed_by_frontguard:
            arn = group.tags.get(t.LOAD_BALANCER_TAG)
    if not arn:
        return {"outcome": "ignored", "reason": f"{name}: not about a frontguard-guarded LB"}
    try:
        lb = aws.describe_load_balancer(engine.elbv2, arn)
    except NotFoundError:
        return {"outcome": "ignored", "reason": "load balancer no longer exists"}
    if classify(lb.tags).owner is None:
        return {"outcome": "ignored", "reason": "not created by the controller"}
    when = _event_time(event)
    if name == "CreateListener" and lb.created is not None and when is not None:
        created = lb.created if lb.created.tzinfo else lb.created.replace(tzinfo=UTC)
        if when - created < NEW_LOAD_BALANCER:
            return {"outcome": "ignored", "reason": "new load balancer: the events path has it"}
    result = remediate_load_balancer(engine, arn, load_balancer=lb, drift=True)
    return {"outcome": result.outcome.value, "reason": result.reason}
