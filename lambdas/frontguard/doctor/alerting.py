"""The doctor's alerting area: confirmed subscribers, alarms on the topic, and delivery (a
test alert, one alarm set to ALARM and back)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from frontguard.doctor.deployment import Client, Deployment, paged
from frontguard.doctor.report import Check, failed, passed, warned

AREA = "alerting"


def check_alerting(
    sns: Client, cloudwatch: Client, deployment: Deployment, *, publish: bool
) -> list[Check]:
    topic = deployment.topic_arn
    checks = _subscription_checks(sns, topic)
    alarms = [
        a
        for a in paged(cloudwatch, "describe_alarms", "MetricAlarms", AlarmTypes=["MetricAlarm"])
        if topic in a.get("AlarmActions", [])
    ]
    checks.append(_alarms_check(alarms))
    if not publish:
        checks.append(warned(AREA, "delivery", "skipped (--no-publish)"))
        return checks
    checks.append(_test_alert(sns, deployment))
    if alarms:
        checks.append(_alarm_delivery(cloudwatch, alarms[0]["AlarmName"]))
    return checks


def _subscription_checks(sns: Client, topic: str) -> list[Check]:
    """Someone receives the alerts, and no subscription waits for its confirmation."""
    checks: list[Check] = []
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions", [])
    pending = [s for s in subscriptions if s.get("SubscriptionArn") == "PendingConfirmation"]
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn") != "PendingConfirmation"]
    if pending:
        checks.append(
            failed(
                AREA,
                "subscriptions",
                f"{len(pending)} not confirmed: "
                + ", ".join(f"{s['Protocol']} {s.get('Endpoint', '')}" for s in pending),
                "click the link in the 'AWS Notification - Subscription Confirmation' e-mail",
            )
        )
    if not confirmed:
        checks.append(
            failed(
                AREA,
                "subscriptions",
                "no confirmed subscriber: nobody receives alerts",
                "set alerts.emails or alerts.slack in the configuration and redeploy",
            )
        )
    else:
        protocols = ", ".join(sorted({s["Protocol"] for s in confirmed}))
        checks.append(passed(AREA, "subscriptions", f"{len(confirmed)} confirmed ({protocols})"))
    return checks


def _alarms_check(alarms: list[dict[str, Any]]) -> Check:
    """Some alarm notifies the topic; one in ALARM is a warning."""
    if not alarms:
        return failed(AREA, "alarms", "no alarm notifies the topic", "redeploy the stack")
    firing = [a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"]
    if firing:
        return warned(
            AREA,
            "alarms",
            f"{len(firing)} of {len(alarms)} in ALARM: {', '.join(firing)}",
            "read the alarm's metric on the frontguard dashboard",
        )
    return passed(AREA, "alarms", f"{len(alarms)} alarms notify the topic")


def _test_alert(sns: Client, deployment: Deployment) -> Check:
    try:
        sns.publish(
            TopicArn=deployment.topic_arn,
            Subject="frontguard doctor: test alert",
            Message=f"frontguard doctor test alert for stack {deployment.stack}: no action needed.",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "AuthorizationError":
            raise
        # The topic refuses every publisher but frontguard's roles and its alarms (R2-7):
        # the alarm delivery test below is the end-to-end check.
        return passed(
            AREA, "test alert", "your principal may not publish (only frontguard's roles)"
        )
    return passed(AREA, "test alert", "published to the topic")


def _alarm_delivery(cloudwatch: Client, alarm: str) -> Check:
    """Set one alarm to ALARM and read its history: CloudWatch records whether the SNS action
    succeeded ("Failed to execute action" when the topic policy or key refuses it)."""
    area = AREA
    cloudwatch.set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="frontguard doctor: delivery test"
    )
    history = cloudwatch.describe_alarm_history(
        AlarmName=alarm, HistoryItemType="Action", MaxRecords=10
    ).get("AlarmHistoryItems", [])
    cloudwatch.set_alarm_state(
        AlarmName=alarm, StateValue="OK", StateReason="frontguard doctor: delivery test done"
    )
    summaries = [item.get("HistorySummary", "") for item in history]
    if any(s.startswith("Failed to execute action") for s in summaries):
        return failed(
            area,
            "alarm delivery",
            f"{alarm}: {summaries[0]}",
            "the topic policy must allow cloudwatch.amazonaws.com sns:Publish and the key "
            "kms:GenerateDataKey*/Decrypt (redeploy this version of the stack)",
        )
    if any(s.startswith("Successfully executed action") for s in summaries):
        return passed(area, "alarm delivery", f"{alarm}: the action reached the topic")
    return warned(
        area,
        "alarm delivery",
        f"{alarm}: no action history yet (CloudWatch records it within a minute)",
        "run the doctor again in a minute, or read `aws cloudwatch describe-alarm-history "
        f"--alarm-name {alarm} --history-item-type Action`",
    )
