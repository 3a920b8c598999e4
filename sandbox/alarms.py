"""CloudWatch alarm actions and their history, which moto 5.2.5 does not emulate.

When an alarm enters ALARM (or OK) with actions enabled, CloudWatch runs the state's actions
and records each in the alarm's history (``HistoryItemType`` ``Action``): "Successfully
executed action <arn>" or "Failed to execute action <arn>. Received error: ..."
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html,
https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger). Here an SNS
action publishes the alarm notification to the topic when the topic exists; moto enforces no
topic policy, so a refusing policy is not emulated (tests/infra asserts the policy instead).
"""

from __future__ import annotations

import datetime
import functools
import json
import threading
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.sns.models import sns_backends

_lock = threading.Lock()
#: (account, region, alarm) -> history items, newest first.
HISTORY: dict[tuple[str, str, str], list[dict[str, Any]]] = {}


def reset() -> None:
    with _lock:
        HISTORY.clear()


def _run_actions(backend: CloudWatchBackend, alarm: Any, state: str) -> None:
    actions = alarm.alarm_actions if state == "ALARM" else alarm.ok_actions if state == "OK" else []
    if not getattr(alarm, "actions_enabled", True):
        return
    topics = sns_backends[backend.account_id][backend.region_name].topics
    for arn in actions or []:
        topic = topics.get(arn)
        if topic is not None:
            topic.publish(
                json.dumps({"AlarmName": alarm.name, "NewStateValue": state}),
                subject=f'{state}: "{alarm.name}" in {backend.region_name}',
            )
            summary = f"Successfully executed action {arn}"
        else:
            summary = f"Failed to execute action {arn}. Received error: Topic does not exist"
        item = {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": datetime.datetime.now(datetime.UTC),
            "HistoryItemType": "Action",
            "HistorySummary": summary,
            "HistoryData": json.dumps({"actionState": "Succeeded" if topic else "Failed"}),
        }
        with _lock:
            HISTORY.setdefault((backend.account_id, backend.region_name, alarm.name), []).insert(
                0, item
            )


def _set_alarm_state(original: Any) -> Any:
    @functools.wraps(original)
    def set_state(
        self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        before = self.alarms[alarm_name].state_value if alarm_name in self.alarms else None
        original(self, alarm_name, reason, reason_data, state_value)
        if before != state_value:
            _run_actions(self, self.alarms[alarm_name], state_value)

    return set_state


def _describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    name = self._get_param("AlarmName")
    kind = self._get_param("HistoryItemType")
    limit = int(self._get_param("MaxRecords") or 100)
    backend = self.cloudwatch_backend
    with _lock:
        items = list(HISTORY.get((backend.account_id, backend.region_name, name), []))
    items = [i for i in items if kind in (None, i["HistoryItemType"])]
    return ActionResult({"AlarmHistoryItems": items[:limit]})


def install() -> None:
    """Patch moto's CloudWatch (once per process)."""
    with _lock:
        if getattr(CloudWatchResponse, "describe_alarm_history", None) is _describe_alarm_history:
            return
        CloudWatchBackend.set_alarm_state = _set_alarm_state(CloudWatchBackend.set_alarm_state)  # type: ignore[method-assign]
        CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]
