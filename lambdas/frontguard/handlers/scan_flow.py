"""The scan handler's flow: a scheduled full scan, or a targeted check after a drift event."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.aws import CLIENT_CONFIG
from frontguard.adapters.aws_errors import translate
from frontguard.adapters.securityhub import Observation
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.engine.scan import ScanItem, ScanReport, scan
from frontguard.errors import InvalidEventError, NotFoundError
from frontguard.model import classify
from frontguard.runtime import Runtime

logger = logging.getLogger(__name__)

DIGEST_PERIOD_SECONDS = 24 * 3600
SG_EVENTS = frozenset({"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"})


def run_scan(runtime: Runtime) -> ScanReport:
    findings = runtime.findings
    if findings is None:
        report = scan(runtime.engine)
    else:
        # Per-LB outcomes are collected during the scan and written in batches at the end,
        # with the findings of load balancers that no longer exist archived.
        with findings.deferred():
            report = scan(runtime.engine)
        findings.sync([observation(item) for item in report.items], report.load_balancer_arns)
    publish_digest(runtime, report)
    return report


def observation(item: ScanItem) -> Observation:
    return Observation(
        item.load_balancer_arn,
        item.outcome,
        item.cluster,
        item.owner,
        item.reason,
        None,
        item.security_group_id,
    )


def publish_digest(runtime: Runtime, report: ScanReport) -> bool:
    """One SNS digest when findings are open, at most once a day when state is kept."""
    topic = runtime.settings.alert_topic_arn
    findings = report.open_findings
    if not findings or not topic:
        return False
    state = runtime.engine.state
    if state is not None and not state.claim("digest", "daily", DIGEST_PERIOD_SECONDS):
        logger.info("digest already sent today", extra={"open_findings": len(findings)})
        return False
    body = report.digest(account=runtime.account, region=runtime.region)
    subject = f"frontguard: {len(findings)} open findings in {runtime.account} {runtime.region}"
    message = json.dumps(
        {"default": json.dumps(body, indent=2, default=str), "email": digest_text(body)}
    )
    try:
        runtime.session.client("sns", config=CLIENT_CONFIG).publish(
            TopicArn=topic, Subject=subject[:100], MessageStructure="json", Message=message
        )
    except ClientError as error:
        raise translate(error, "publish scan digest") from error
    return True


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
        f"- [{item['outcome']}] {item['owner'] or item['name']} in {item['cluster']}: "
        f"{item['reason']}"
        for item in body["worst"]
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
    elif name in SG_EVENTS and request.get("groupId"):
        found = aws.describe_security_groups(engine.ec2, [str(request["groupId"])])
        group = found.get(str(request["groupId"]))
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
    result = remediate_load_balancer(engine, arn, load_balancer=lb, drift=True)
    return {"outcome": result.outcome.value, "reason": result.reason}
