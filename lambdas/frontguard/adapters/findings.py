"""What the scheduled scan remembers between runs, in the state table's ``finding`` partition.

One partition, so that one ``Query`` (paged at 1 MB) reads everything at the start of a run:

- ``<LB ARN>|<outcome>``: that finding was alerted, and must not be again before
  ``alerted_until``. The event path's per-LB alerts claim the same keys
  (:class:`frontguard.adapters.state.DedupedAlerts`), so a finding alerted on its own is not
  repeated as "new" by the next digest, and the reverse.
- ``run|<LB ARN>``: an open finding seen by an invocation of a run that ran out of time, kept
  until the run's last invocation publishes the digest (these are not alerts yet).
- ``~cursor``: where an unfinished run resumes, and its counts so far.

Writes go in ``BatchWriteItem`` calls of 25 (the API's maximum). BatchWriteItem has no
conditions, so the scan reads first and decides; it writes the alert records only after the
digest is published, so a failed publish leaves nothing that would suppress the next one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate
from frontguard.errors import RetryableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef

logger = logging.getLogger(__name__)

PARTITION = "finding"
CURSOR_KEY = "~cursor"
RUN_PREFIX = "run|"
# The changes an unfinished run's earlier invocations made or queued (the digest's list).
CHANGE_PREFIX = "change|"
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html:
# "up to 25 item put or delete operations".
WRITE_BATCH = 25
# How long an unfinished run's records and cursor live (the table's TTL deletes them).
RUN_TTL_SECONDS = 2 * 86400
REASON_LIMIT = 300
UNPROCESSED_RETRIES = 5


def alert_key(load_balancer_arn: str, outcome: str) -> str:
    return f"{load_balancer_arn}|{outcome}"


@dataclass(frozen=True)
class FindingRecord:
    load_balancer_arn: str
    outcome: str
    cluster: str | None = None
    name: str = ""
    owner: str | None = None
    reason: str = ""
    alerted_until: float = 0.0  # 0: not alerted (a pending record of an unfinished run)
    run_id: str = ""

    @property
    def key(self) -> str:
        return alert_key(self.load_balancer_arn, self.outcome)

    def as_dict(self) -> dict[str, Any]:
        return {
            "load_balancer_arn": self.load_balancer_arn,
            "name": self.name,
            "cluster": self.cluster,
            "owner": self.owner,
            "outcome": self.outcome,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ScanCursor:
    run_id: str
    resume_after: tuple[str, str]  # (cluster, LB ARN): the last one done
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # cluster, outcome
    invocations: int = 1
    queued: int = 0


@dataclass(frozen=True)
class PendingChange:
    """One change an earlier invocation of an unfinished run made or queued."""

    run_id: str
    entry: Mapping[str, Any]  # the digest's change entry (engine/digest.py change_entry)

    @property
    def key(self) -> str:
        return f"{CHANGE_PREFIX}{self.entry.get('load_balancer_arn', '')}"


@dataclass(frozen=True)
class StoredState:
    alerted: tuple[FindingRecord, ...] = ()
    pending: tuple[FindingRecord, ...] = ()
    cursor: ScanCursor | None = None
    changes: tuple[PendingChange, ...] = ()


def _s(value: str | None) -> dict[str, str]:
    return {"S": value or ""}


class FindingStore:
    def __init__(
        self, dynamodb: DynamoDBClient, table: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock
        self.calls = 0

    def now(self) -> float:
        return self._clock()

    # --- reading ------------------------------------------------------------------------------

    def read(self) -> StoredState:
        """Everything the partition holds: one Query (more pages only past 1 MB)."""
        alerted: list[FindingRecord] = []
        pending: list[FindingRecord] = []
        changes: list[PendingChange] = []
        cursor: ScanCursor | None = None
        try:
            pages = self._db.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": PARTITION}},
            )
            for page in pages:
                self.calls += 1
                for item in page.get("Items", []):
                    sk = item["sk"]["S"]
                    if sk == CURSOR_KEY:
                        cursor = _cursor(item)
                    elif sk.startswith(CHANGE_PREFIX):
                        if (change := _change(item)) is not None:
                            changes.append(change)
                    elif sk.startswith(RUN_PREFIX):
                        pending.append(_record(item, sk.removeprefix(RUN_PREFIX), "", pending=True))
                    elif "|" in sk:
                        arn, _, outcome = sk.rpartition("|")
                        alerted.append(_record(item, arn, outcome))
        except ClientError as error:
            raise translate(error, "read scan findings") from error
        return StoredState(tuple(alerted), tuple(pending), cursor, tuple(changes))

    # --- writing ------------------------------------------------------------------------------

    def alerted_item(self, record: FindingRecord, until: float) -> dict[str, Any]:
        """A finding the digest just alerted: not again before ``until`` (then TTL deletes it)."""
        return {
            **self._item(record, record.key),
            "alerted_until": {"N": str(int(until))},
            "expires_at": {"N": str(int(until))},
        }

    def pending_item(self, record: FindingRecord, run_id: str) -> dict[str, Any]:
        return {
            **self._item(record, RUN_PREFIX + record.load_balancer_arn),
            "outcome": _s(record.outcome),
            "run_id": _s(run_id),
            "expires_at": {"N": str(int(self._clock() + RUN_TTL_SECONDS))},
        }

    def change_item(self, change: PendingChange) -> dict[str, Any]:
        return {
            "pk": _s(PARTITION),
            "sk": _s(change.key),
            "run_id": _s(change.run_id),
            "entry": _s(json.dumps(change.entry, sort_keys=True, default=str)),
            "expires_at": {"N": str(int(self._clock() + RUN_TTL_SECONDS))},
        }

    def cursor_item(self, cursor: ScanCursor) -> dict[str, Any]:
        return {
            "pk": _s(PARTITION),
            "sk": _s(CURSOR_KEY),
            "run_id": _s(cursor.run_id),
            "resume_cluster": _s(cursor.resume_after[0]),
            "resume_arn": _s(cursor.resume_after[1]),
            "counts": _s(json.dumps(cursor.counts, sort_keys=True)),
            "invocations": {"N": str(cursor.invocations)},
            "queued": {"N": str(cursor.queued)},
            "expires_at": {"N": str(int(self._clock() + RUN_TTL_SECONDS))},
        }

    def _item(self, record: FindingRecord, sk: str) -> dict[str, Any]:
        return {
            "pk": _s(PARTITION),
            "sk": _s(sk),
            "cluster": _s(record.cluster),
            "name": _s(record.name),
            "owner": _s(record.owner),
            "reason": _s(record.reason[:REASON_LIMIT]),
            "written_at": {"N": str(int(self._clock()))},
        }

    def write(
        self,
        puts: Sequence[Mapping[str, Any]] = (),
        deletes: Sequence[str] = (),
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """Puts and deletes (sort keys) in batches of 25; returns the calls made."""
        requests: list[WriteRequestTypeDef] = [
            {"PutRequest": {"Item": dict(item)}} for item in puts
        ]
        requests += [
            {"DeleteRequest": {"Key": {"pk": _s(PARTITION), "sk": _s(sk)}}} for sk in deletes
        ]
        made = 0
        for start in range(0, len(requests), WRITE_BATCH):
            batch = requests[start : start + WRITE_BATCH]
            for attempt in range(UNPROCESSED_RETRIES + 1):
                try:
                    answer = self._db.batch_write_item(RequestItems={self._table: batch})
                except ClientError as error:
                    raise translate(error, "write scan findings") from error
                made += 1
                batch = cast(
                    "list[WriteRequestTypeDef]",
                    list(answer.get("UnprocessedItems", {}).get(self._table, [])),
                )
                if not batch:
                    break
                if attempt == UNPROCESSED_RETRIES:
                    raise RetryableError(f"{len(batch)} finding records were not written")
                # Unprocessed items mean throttling: back off as the API reference advises.
                sleep(0.05 * 2**attempt)
        self.calls += made
        return made


def _text(item: Mapping[str, Any], key: str) -> str:
    return str(item.get(key, {}).get("S", ""))


def _number(item: Mapping[str, Any], key: str) -> float:
    return float(item.get(key, {}).get("N", "0"))


# What the digest reads of a saved change entry (engine/digest.py change_entry).
_CHANGE_FIELDS = ("load_balancer_arn", "outcome", "change", "actor", "detected_by")


def _change(item: Mapping[str, Any]) -> PendingChange | None:
    """A saved change entry, or ``None`` (logged) when it is not of the shape frontguard
    writes: never half an entry in a digest."""
    try:
        entry = json.loads(_text(item, "entry") or "null")
    except ValueError:
        entry = None
    if (
        not isinstance(entry, dict)
        or not all(isinstance(entry.get(key), str) for key in _CHANGE_FIELDS)
        or not isinstance(entry.get("was_open"), list)
    ):
        logger.warning("saved scan change unreadable: left out", extra={"key": _text(item, "sk")})
        return None
    return PendingChange(_text(item, "run_id"), entry)


def _record(
    item: Mapping[str, Any], arn: str, outcome: str, *, pending: bool = False
) -> FindingRecord:
    return FindingRecord(
        load_balancer_arn=arn,
        outcome=outcome or _text(item, "outcome"),
        cluster=_text(item, "cluster") or None,
        name=_text(item, "name"),
        owner=_text(item, "owner") or None,
        reason=_text(item, "reason"),
        # The event path's claims carry only ``expires_at``: the end of their alert period.
        alerted_until=0.0
        if pending
        else _number(item, "alerted_until") or _number(item, "expires_at"),
        run_id=_text(item, "run_id"),
    )


def _cursor(item: Mapping[str, Any]) -> ScanCursor:
    try:
        counts = json.loads(_text(item, "counts") or "{}")
    except ValueError:
        counts = {}
    return ScanCursor(
        run_id=_text(item, "run_id"),
        resume_after=(_text(item, "resume_cluster"), _text(item, "resume_arn")),
        counts=counts,
        invocations=int(_number(item, "invocations")),
        queued=int(_number(item, "queued")),
    )
