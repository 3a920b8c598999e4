"""The canary's view of frontguard's alerts: drained from the canary's subscription to the
alert topic, matched to this run's load balancer or owner."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from frontguard.canary.owners import CanaryOwner

# The outcomes that say frontguard acted on (or judged) the load balancer, and its verdicts.
ACTED = ("remediated", "drift", "born-protected", "born-open", "audit-finding", "error", "conflict")
VERIFICATION = ("verified", "verification-failed")


class AlertInbox:
    """Every alert read so far; :meth:`latest` answers from them, :meth:`fresh` reads first."""

    def __init__(self, sqs: Any, queue_url: str | None, owner: CanaryOwner) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._owner = owner
        self._alerts: list[dict[str, Any]] = []

    @property
    def subscribed(self) -> bool:
        return self._sqs is not None and bool(self._url)

    def read(self) -> None:
        """Drain the canary's subscription queue (raw delivery: each body is one alert's
        ``sqs`` rendering, the JSON body); messages that are not alerts are dropped."""
        if not self.subscribed:
            return
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return
            for message in messages:
                alert = alert_body(str(message.get("Body", "")))
                if alert is not None:
                    self._alerts.append(alert)
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def fresh(self, arn: str, outcomes: tuple[str, ...]) -> dict[str, Any] | None:
        self.read()
        return self.latest(arn, outcomes)

    def latest(self, arn: str, outcomes: tuple[str, ...] | None) -> dict[str, Any] | None:
        """The latest alert about this run's load balancer or owner (a fail-closed reaction's
        alert names the owner before any load balancer exists)."""
        matching = [
            a
            for a in self._alerts
            if (a.get("load_balancer_arn") == arn or _names_owner(a, self._owner))
            and (outcomes is None or a.get("outcome") in outcomes)
        ]
        return matching[-1] if matching else None


def alert_body(body: str) -> dict[str, Any] | None:
    """An alert's JSON body from an SQS message: raw delivery (the body itself) or an SNS
    envelope (its ``Message``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
        return alert_body(str(data["Message"]))
    return data if isinstance(data, dict) and "outcome" in data else None


def _names_owner(alert: Mapping[str, Any], owner: CanaryOwner) -> bool:
    named = alert.get("owner")
    return (
        isinstance(named, Mapping)
        and named.get("namespace") == owner.namespace
        and named.get("name") == owner.name
    )


def path_of(alert: Mapping[str, Any]) -> str:
    """Which of frontguard's paths acted, as the alert says (``detected_by``)."""
    detected = alert.get("detected_by")
    if isinstance(detected, str) and detected:
        return detected
    return "unknown (the alert does not say)"
