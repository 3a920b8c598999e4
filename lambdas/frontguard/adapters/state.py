"""Durable state in DynamoDB: alert dedupe and loop detection.

DynamoDB rather than tags: tags would need ``CreateTags`` on existing resources (frontguard
tags only at creation), load balancers may vanish with their tags, and a conditional write
gives exactly-once alerting across concurrent invocations. Items expire through the table's
TTL attribute ``expires_at``. Table: partition key ``pk`` (S), sort key ``sk`` (S).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from frontguard.adapters import findings
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.alerts import Alert, AlertSink
from frontguard.errors import FrontguardError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)
# The sort key of blobs (the sweep's fingerprints); shards after the first add ``#NNNN``.
BLOB_SORT_KEY = "blob"


class StateTable:
    def __init__(
        self, dynamodb: DynamoDBClient, table: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def claim(
        self, pk: str, sk: str, ttl_seconds: float, period_seconds: float | None = None
    ) -> str | None:
        """A claim token, held for ``ttl_seconds``, for a key (the caller may act, e.g.
        alert); ``None`` while an earlier claim holds.

        An item whose expiry lies further ahead than ``period_seconds`` (default
        ``ttl_seconds``) from now was not written by this code (frontguard never claims
        longer than its period): it is not trusted to silence anything, and is claimed
        over."""
        now = self._clock()
        token = uuid.uuid4().hex
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": pk},
                    "sk": {"S": sk},
                    "token": {"S": token},
                    "claimed_at": {"N": str(int(now))},
                    "expires_at": {"N": str(int(now + ttl_seconds))},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now "
                "OR expires_at > :horizon",
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":horizon": {"N": str(int(now + max(ttl_seconds, period_seconds or 0)) + 1)},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise translate(error, f"claim {pk}/{sk}") from error
        return token

    def confirm(self, pk: str, sk: str, token: str, ttl_seconds: float) -> None:
        """Extend a claim this caller holds to ``ttl_seconds`` from now."""
        now = self._clock()
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression="SET expires_at = :expires",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={
                    ":expires": {"N": str(int(now + ttl_seconds))},
                    ":token": {"S": token},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return  # someone claimed over it meanwhile: theirs stands
            raise translate(error, f"confirm {pk}/{sk}") from error

    def release(self, pk: str, sk: str, token: str) -> None:
        """Give up a claim this caller holds (its action failed), so a retry may act: the
        claim is expired at once (an update, so the functions need no DeleteItem right)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression="SET expires_at = :released",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}, ":released": {"N": "0"}},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return
            raise translate(error, f"release {pk}/{sk}") from error

    def now(self) -> float:
        return self._clock()

    # -- one compressed value (the sweep's fingerprints) --------------------------------------

    def load_blobs(self, key: str) -> list[bytes]:
        """Every shard stored under ``key``, in order (one Query: more pages only past 1 MB)."""
        blobs: list[bytes] = []
        try:
            pages = self._db.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :blob)",
                ExpressionAttributeValues={":pk": {"S": key}, ":blob": {"S": BLOB_SORT_KEY}},
                ConsistentRead=True,
            )
            for page in pages:
                blobs += [bytes(item["blob"]["B"]) for item in page["Items"] if "blob" in item]
        except ClientError as error:
            raise translate(error, f"read {key}") from error
        return blobs

    def save_blobs(self, key: str, blobs: Sequence[bytes]) -> None:
        """One item per shard (DynamoDB holds 400 KB per item: the caller keeps each shard
        well below it)."""
        for index, blob in enumerate(blobs):
            sort_key = BLOB_SORT_KEY if index == 0 else f"{BLOB_SORT_KEY}#{index:04d}"
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={"pk": {"S": key}, "sk": {"S": sort_key}, "blob": {"B": blob}},
                )
            except ClientError as error:
                raise translate(error, f"write {key} ({sort_key})") from error

    # -- creation records: what frontguard made, by ID (tags prove nothing) -------------------

    def record_created(self, resource_id: str, key: str, written: str) -> None:
        """Record that frontguard created ``resource_id`` (a prefix list) for ``key`` with
        content ``written`` (a digest), right after the create call returned it. The first
        record stands: it is never overwritten."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"created#{resource_id}"},
                    "sk": {"S": "created"},
                    "key": {"S": key},
                    "written": {"S": written},
                    "created_at": {"N": str(int(self._clock()))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return
            raise translate(error, f"record {resource_id} as created") from error

    def record_written(self, resource_id: str, written: str) -> None:
        """What frontguard last wrote into a resource it created (a digest)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"created#{resource_id}"}, "sk": {"S": "created"}},
                UpdateExpression="SET written = :written",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":written": {"S": written}},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return  # not created by frontguard: nothing to record
            raise translate(error, f"record what was written to {resource_id}") from error

    def created(self, resource_id: str) -> tuple[str, str] | None:
        """(key, last written digest) of a resource frontguard created; ``None`` otherwise."""
        try:
            item = self._db.get_item(
                TableName=self._table,
                Key={"pk": {"S": f"created#{resource_id}"}, "sk": {"S": "created"}},
                ConsistentRead=True,
            ).get("Item")
        except ClientError as error:
            raise translate(error, f"read the creation record of {resource_id}") from error
        if not item or "key" not in item:
            return None
        return str(item["key"]["S"]), str(item.get("written", {}).get("S", ""))

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


#: How long a claim holds before its alert is confirmed published. Long enough to cover one
#: publish call (adaptive retries included); short, so that a process that dies mid-publish
#: (a Lambda timeout) delays the retried alert by at most this much rather than a period.
PUBLISH_LEASE_SECONDS = 60


class DedupedAlerts:
    """Publishes each (load balancer, outcome) finding at most once per period.

    The de-duplication record counts only a *published* alert: a short lease is claimed
    (exactly one of several concurrent invocations publishes), the alert is published, and only
    then is the record extended to the period. A failed publish releases the lease, so the
    retry sends the alert instead of taking it for a duplicate.
    """

    def __init__(self, sink: AlertSink, state: StateTable, period_seconds: float) -> None:
        self._sink = sink
        self._state = state
        self._period = period_seconds
        self.suppressed: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        # The key the scheduled scan's digest reads too (adapters/findings.py): a finding
        # alerted here is not "new" in the next digest, and the reverse.
        pk = findings.PARTITION
        sk = findings.alert_key(alert.load_balancer_arn, alert.outcome.value)
        token = self._state.claim(pk, sk, min(PUBLISH_LEASE_SECONDS, self._period), self._period)
        if token is None:
            self.suppressed.append(alert)
            logger.info(
                "alert suppressed: already sent within the period",
                extra={
                    "load_balancer_arn": alert.load_balancer_arn,
                    "outcome": alert.outcome.value,
                },
            )
            return
        try:
            self._sink.publish(alert)
        except BaseException:
            try:
                self._state.release(pk, sk, token)
            except FrontguardError as problem:  # the lease expires by itself
                logger.warning(
                    "alert claim not released",
                    extra={"load_balancer_arn": alert.load_balancer_arn, "problem": str(problem)},
                )
            raise
        self._state.confirm(pk, sk, token, self._period)
