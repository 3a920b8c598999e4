"""Durable state in DynamoDB: alert dedupe and loop detection.

DynamoDB rather than tags: tags would need ``CreateTags`` on existing resources (frontguard
tags only at creation), load balancers may vanish with their tags, and a conditional write
gives exactly-once alerting across concurrent invocations. Items expire through the table's
TTL attribute ``expires_at``. Table: partition key ``pk`` (S), sort key ``sk`` (S).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from frontguard.adapters import findings
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.alerts import Alert, AlertSink

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)


class StateTable:
    def __init__(
        self, dynamodb: DynamoDBClient, table: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def claim(self, pk: str, sk: str, ttl_seconds: float) -> bool:
        """True once per ``ttl_seconds`` for a key: the caller may act (e.g. alert)."""
        now = self._clock()
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": pk},
                    "sk": {"S": sk},
                    "claimed_at": {"N": str(int(now))},
                    "expires_at": {"N": str(int(now + ttl_seconds))},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise translate(error, f"claim {pk}/{sk}") from error
        return True

    def now(self) -> float:
        return self._clock()

    def first_seen(self, pk: str, ttl_seconds: float = 30 * 86400) -> float:
        """When ``pk`` was first recorded (recording it now if it never was)."""
        now = self._clock()
        try:
            item = self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": "first-seen"}},
                UpdateExpression="SET first_seen = if_not_exists(first_seen, :now), "
                "expires_at = :expires",
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":expires": {"N": str(int(now + ttl_seconds))},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            raise translate(error, f"record {pk}") from error
        return float(item["first_seen"]["N"])

    def record_event(self, pk: str, window_seconds: float) -> int:
        """Append now to a key's history; return how many entries fall within the window."""
        now = self._clock()
        try:
            item = self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": "history"}},
                UpdateExpression="SET stamps = list_append(if_not_exists(stamps, :empty), :now), "
                "expires_at = :expires",
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":now": {"L": [{"N": str(now)}]},
                    ":expires": {"N": str(int(now + window_seconds))},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            raise translate(error, f"record {pk}") from error
        stamps = [Decimal(s["N"]) for s in item.get("stamps", {}).get("L", [])]
        return sum(1 for s in stamps if float(s) >= now - window_seconds)


class DedupedAlerts:
    """Publishes each (load balancer, outcome) finding at most once per period."""

    def __init__(self, sink: AlertSink, state: StateTable, period_seconds: float) -> None:
        self._sink = sink
        self._state = state
        self._period = period_seconds
        self.suppressed: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        # The key the scheduled scan's digest reads too (adapters/findings.py): a finding
        # alerted here is not "new" in the next digest, and the reverse.
        key = findings.alert_key(alert.load_balancer_arn, alert.outcome.value)
        if self._state.claim(findings.PARTITION, key, self._period):
            self._sink.publish(alert)
            return
        self.suppressed.append(alert)
        logger.info(
            "alert suppressed: already sent within the period",
            extra={"load_balancer_arn": alert.load_balancer_arn, "outcome": alert.outcome.value},
        )
