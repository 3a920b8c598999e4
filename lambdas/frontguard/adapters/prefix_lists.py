"""Customer-managed prefix lists frontguard owns: read, create, modify (EC2 API).

Every function takes its EC2 client and raises frontguard's errors. Lists are found by
frontguard's tags and proven frontguard's by the record frontguard wrote when it created them
(:class:`CreationRecords`, the state table): anyone who may tag a prefix list can copy the
tags (security review r2, R2-2), and nothing else fixed at a list's creation (its name,
entries, MaxEntries all change) tells frontguard's apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters.aws_errors import translate
from frontguard.sources import Sources

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ENTRY_DESCRIPTION = "frontguard: policy source"


@dataclass(frozen=True)
class PrefixList:
    id: str
    name: str
    key: str  # frontguard.io/prefix-list tag: which policy rule (and cluster, family) it holds
    address_family: str
    max_entries: int
    version: int
    entries: tuple[str, ...]
    arn: str = ""
    owner_id: str = ""


def _entries(ec2: EC2Client, prefix_list_id: str) -> tuple[str, ...]:
    pages = ec2.get_paginator("get_managed_prefix_list_entries").paginate(
        PrefixListId=prefix_list_id
    )
    return tuple(sorted(e["Cidr"] for page in pages for e in page.get("Entries", [])))


class CreationRecords(Protocol):
    """What frontguard recorded creating (adapters/state.py StateTable)."""

    def record_created(self, resource_id: str, key: str, written: str) -> None: ...

    def record_written(self, resource_id: str, written: str) -> None: ...

    def created(self, resource_id: str) -> tuple[str, str] | None: ...


@dataclass(frozen=True)
class OwnedLists:
    """frontguard's lists by key, and the look-alikes: lists carrying its tags that it did not
    create (never modified, referenced or rendered)."""

    lists: dict[str, PrefixList] = field(default_factory=dict)
    look_alikes: tuple[PrefixList, ...] = ()
    written: dict[str, str] = field(default_factory=dict)  # list ID → digest frontguard wrote


def owned(ec2: EC2Client, records: CreationRecords) -> OwnedLists:
    """frontguard's prefix lists by key, proven by their creation record: one
    DescribeManagedPrefixLists (tag filter), and per tagged list one GetItem and one
    GetManagedPrefixListEntries."""
    lists: dict[str, PrefixList] = {}
    written: dict[str, str] = {}
    look_alikes: list[PrefixList] = []
    for candidate in _tagged(ec2):
        record = records.created(candidate.id)
        if record is not None and record[0] == candidate.key:
            lists[candidate.key] = candidate
            written[candidate.id] = record[1]
        else:
            look_alikes.append(candidate)
    return OwnedLists(lists, tuple(look_alikes), written)


def entries_digest(entries: Sequence[str]) -> str:
    """What frontguard records of the entries it writes into a list."""
    return hashlib.sha256(",".join(sorted(entries)).encode()).hexdigest()


def _tagged(ec2: EC2Client) -> list[PrefixList]:
    """Every live list carrying frontguard's tags (whoever made it)."""
    found: list[PrefixList] = []
    try:
        pages = ec2.get_paginator("describe_managed_prefix_lists").paginate(
            Filters=[{"Name": f"tag:{t.MANAGED_BY_TAG}", "Values": [t.MANAGED_BY_VALUE]}]
        )
        for page in pages:
            for raw in page["PrefixLists"]:
                tags = {tag["Key"]: tag.get("Value", "") for tag in raw.get("Tags", [])}
                key = tags.get(t.PREFIX_LIST_TAG)
                if not key or raw.get("State", "").startswith("delete"):
                    continue
                found.append(
                    PrefixList(
                        id=raw["PrefixListId"],
                        name=raw.get("PrefixListName", ""),
                        key=key,
                        address_family=raw.get("AddressFamily", "IPv4"),
                        max_entries=int(raw.get("MaxEntries") or 0),
                        version=int(raw.get("Version") or 0),
                        entries=_entries(ec2, raw["PrefixListId"]),
                        arn=raw.get("PrefixListArn", ""),
                        owner_id=raw.get("OwnerId", ""),
                    )
                )
    except ClientError as error:
        raise translate(error, "list frontguard's prefix lists") from error
    return found


def owned_entries(ec2: EC2Client, records: CreationRecords) -> dict[str, Sources]:
    """Prefix-list ID → the CIDRs it holds, for every list frontguard created."""
    return {pl.id: Sources.of(pl.entries) for pl in owned(ec2, records).lists.values()}


def create(
    ec2: EC2Client,
    records: CreationRecords,
    *,
    key: str,
    name: str,
    cluster: str,
    address_family: str,
    max_entries: int,
    entries: Sequence[str],
) -> str:
    """Create one list with frontguard's tags (in the request: tag-on-create)."""
    try:
        created = ec2.create_managed_prefix_list(
            PrefixListName=name,
            AddressFamily=address_family,
            MaxEntries=max_entries,
            Entries=[{"Cidr": c, "Description": ENTRY_DESCRIPTION} for c in entries],
            TagSpecifications=[
                {
                    "ResourceType": "prefix-list",
                    "Tags": [
                        {"Key": t.MANAGED_BY_TAG, "Value": t.MANAGED_BY_VALUE},
                        {"Key": t.PREFIX_LIST_TAG, "Value": key},
                        {"Key": t.FG_CLUSTER_TAG, "Value": cluster},
                    ],
                }
            ],
        )
    except ClientError as error:
        raise translate(error, f"create prefix list {name}") from error
    list_id = str(created["PrefixList"]["PrefixListId"])
    records.record_created(list_id, key, entries_digest(entries))
    return list_id


def modify(
    ec2: EC2Client,
    records: CreationRecords,
    current: PrefixList,
    *,
    name: str,
    entries: Sequence[str],
) -> None:
    """One ModifyManagedPrefixList: entries made equal to ``entries``, the name (which records
    the digest of what frontguard wrote) updated in the same call. ``CurrentVersion`` makes a
    concurrent change fail instead of being overwritten blindly."""
    add = sorted(set(entries) - set(current.entries))
    remove = sorted(set(current.entries) - set(entries))
    request: dict[str, Any] = {
        "PrefixListId": current.id,
        "CurrentVersion": current.version,
        "PrefixListName": name,
    }
    if add:
        request["AddEntries"] = [{"Cidr": c, "Description": ENTRY_DESCRIPTION} for c in add]
    if remove:
        request["RemoveEntries"] = [{"Cidr": c} for c in remove]
    try:
        ec2.modify_managed_prefix_list(**request)
    except ClientError as error:
        raise translate(error, f"modify prefix list {current.id}") from error
    records.record_written(current.id, entries_digest(entries))


def resize(ec2: EC2Client, current: PrefixList, max_entries: int) -> None:
    """MaxEntries alone: AWS refuses a resize combined with entry changes
    (https://docs.aws.amazon.com/vpc/latest/userguide/managed-prefix-lists.html)."""
    try:
        ec2.modify_managed_prefix_list(
            PrefixListId=current.id, CurrentVersion=current.version, MaxEntries=max_entries
        )
    except ClientError as error:
        raise translate(error, f"resize prefix list {current.id}") from error
