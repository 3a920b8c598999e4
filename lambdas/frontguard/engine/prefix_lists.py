"""The policy as prefix lists frontguard owns (issue 17, docs/born-protected.md).

Each policy rule's CIDR sources (``vpc`` expanded to the cluster's VPC CIDRs) are kept in a
customer-managed prefix list per address family, which the class-level objects of
`frontguard render born-protected` reference. A policy change is then one
ModifyManagedPrefixList and no Kubernetes write. A rule without ``vpc`` gives one list for
every cluster (``*``); a rule with ``vpc`` one list per born-protected cluster.

Ownership: a list is frontguard's when frontguard recorded creating it (its ID in the state
table, adapters/prefix_lists.py); a list that only carries frontguard's tags is a look-alike:
never modified, referenced or rendered, and a ``conflict`` alert names it (security review
r2, R2-2).

Drift: any difference between a list's entries and the policy, in every mode, is a ``drift``
alert naming the entries found (R2-3); enforce mode restores them. The name's digest is not
evidence (anyone who may modify the list may rename it).

MaxEntries: a prefix list referenced by a security-group rule counts as MaxEntries rules
against the rules-per-SG quota, per rule referencing it
(https://docs.aws.amazon.com/vpc/latest/userguide/managed-prefix-lists.html, "Prefix list
quotas": "the maximum number of entries for the prefix list counts against the quota").
The controller references the list once per listener port, so MaxEntries is the entries plus
headroom (a quarter, at least 2) capped at ``max_rules_per_security_group`` divided by
:data:`PORTS_BUDGET` (an ALB's HTTP and HTTPS listeners).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from frontguard.adapters import prefix_lists as adapter
from frontguard.alerts import Alert, AlertSink
from frontguard.model import Outcome
from frontguard.policy import PREFIX_LIST_ID, SECURITY_GROUP_ID, VPC_SOURCE, Mode, Policy
from frontguard.sources import Sources, expand_policy_sources
from frontguard.untrusted import escape

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger(__name__)

PORTS_BUDGET = 2
ALL_CLUSTERS = "*"


@dataclass(frozen=True)
class DesiredList:
    rule: str  # "rule-<index>" or "default"
    cluster: str  # ALL_CLUSTERS when the rule has no ``vpc`` source
    family: str  # "IPv4" | "IPv6"
    entries: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.cluster}/{self.rule}/{self.family}"

    @property
    def name(self) -> str:
        return list_name(self.key, self.entries)


def entries_digest(entries: tuple[str, ...] | list[str]) -> str:
    return hashlib.sha256(",".join(sorted(entries)).encode()).hexdigest()[:12]


def list_name(key: str, entries: tuple[str, ...] | list[str]) -> str:
    cluster, rule, family = key.split("/")
    scope = "all" if cluster == ALL_CLUSTERS else cluster
    return f"frontguard-{scope}-{rule}-{family.lower()}-{entries_digest(entries)}"


def max_entries(count: int, policy: Policy) -> int:
    """Entries plus headroom, within what one SG can take on :data:`PORTS_BUDGET` ports."""
    return min(capacity(policy), count + max(2, count // 4))


def capacity(policy: Policy) -> int:
    return policy.max_rules_per_security_group // PORTS_BUDGET


def policy_rules(policy: Policy) -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule id, cluster glob, sources) for every rule and the default."""
    rules = [(f"rule-{i}", r.cluster, r.sources) for i, r in enumerate(policy.rules)]
    return [*rules, ("default", "*", policy.default_sources)]


def desired_lists(policy: Policy, cluster_vpcs: Mapping[str, list[str]]) -> list[DesiredList]:
    """The lists the policy implies. ``cluster_vpcs``: born-protected clusters → their VPC's
    CIDR blocks (for rules with ``vpc``)."""
    desired: list[DesiredList] = []
    for rule, glob, sources in policy_rules(policy):
        cidrs = [s for s in sources if not (PREFIX_LIST_ID.match(s) or SECURITY_GROUP_ID.match(s))]
        if VPC_SOURCE in cidrs:
            scopes = {
                c: v
                for c, v in sorted(cluster_vpcs.items())
                if fnmatchcase(c, glob) and policy.born_protected_cluster(c)
            }
        else:
            scopes = {ALL_CLUSTERS: []}
        for cluster, vpc in scopes.items():
            expanded = expand_policy_sources(cidrs, vpc)
            for family, version in (("IPv4", 4), ("IPv6", 6)):
                entries = tuple(sorted(str(c) for c in expanded.cidrs if c.version == version))
                if entries:
                    desired.append(DesiredList(rule, cluster, family, entries))
    return desired


def lists_for_cluster(
    policy: Policy, cluster: str, owned: Mapping[str, adapter.PrefixList]
) -> dict[str, list[adapter.PrefixList]]:
    """Rule id → frontguard's lists for that rule in ``cluster`` (its own, else ``*``)."""
    found: dict[str, list[adapter.PrefixList]] = {}
    for rule, glob, _ in policy_rules(policy):
        if not fnmatchcase(cluster, glob):
            continue
        for family in ("IPv4", "IPv6"):
            pl = owned.get(f"{cluster}/{rule}/{family}") or owned.get(
                f"{ALL_CLUSTERS}/{rule}/{family}"
            )
            if pl is not None:
                found.setdefault(rule, []).append(pl)
    return found


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # audit mode: what enforce would do
    too_large: list[str] = field(default_factory=list)
    look_alikes: list[str] = field(
        default_factory=list
    )  # tagged as frontguard's, not created by it
    entries: dict[str, Sources] = field(default_factory=dict)  # list ID → CIDRs it now holds

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "modified": self.modified,
            "drifted": self.drifted,
            "pending": self.pending,
            "too_large": self.too_large,
            "look_alikes": self.look_alikes,
        }


def sync(
    ec2: EC2Client,
    records: adapter.CreationRecords,
    policy: Policy,
    alerts: AlertSink,
    cluster_vpcs: Mapping[str, list[str]],
) -> SyncReport:
    """Make frontguard's lists equal to the policy; alert on lists someone else changed and on
    look-alikes."""
    report = SyncReport()
    found = adapter.owned(ec2, records)
    current = found.lists
    for pl in current.values():
        report.entries[pl.id] = Sources.of(pl.entries)
    for fake in found.look_alikes:
        report.look_alikes.append(fake.id)
        alerts.publish(_look_alike_alert(fake))
    enforce = policy.mode is Mode.ENFORCE
    for want in desired_lists(policy, cluster_vpcs):
        context = {"prefix_list": want.key}
        if len(want.entries) > capacity(policy):
            report.too_large.append(want.key)
            alerts.publish(_too_large_alert(want, policy))
            continue
        have = current.get(want.key)
        if have is None:
            if not enforce:
                report.pending.append(want.key)
                continue
            _create(ec2, records, want, policy, report)
            continue
        if have.entries != want.entries and (
            found.written.get(have.id) != adapter.entries_digest(have.entries)
            or _world_open(have.entries)
        ):
            # Not what frontguard last wrote (a policy change is), or open to the world.
            report.drifted.append(want.key)
            alerts.publish(_drift_alert(want, have, enforce=enforce))
        if have.entries == want.entries and have.name == want.name:
            continue
        if not enforce:
            report.pending.append(want.key)
            continue
        if len(want.entries) > have.max_entries:
            adapter.resize(ec2, have, max_entries(len(want.entries), policy))
        adapter.modify(ec2, records, have, name=want.name, entries=want.entries)
        report.modified.append(want.key)
        report.entries[have.id] = Sources.of(want.entries)
        logger.info("prefix list modified", extra={**context, "prefix_list_id": have.id})
    return report


def _create(
    ec2: EC2Client,
    records: adapter.CreationRecords,
    want: DesiredList,
    policy: Policy,
    report: SyncReport,
) -> None:
    """A list the policy needs and frontguard does not have yet (enforce mode)."""
    created = adapter.create(
        ec2,
        records,
        key=want.key,
        name=want.name,
        cluster=want.cluster,
        address_family=want.family,
        max_entries=max_entries(len(want.entries), policy),
        entries=want.entries,
    )
    report.created.append(want.key)
    report.entries[created] = Sources.of(want.entries)
    logger.info("prefix list created", extra={"prefix_list": want.key, "prefix_list_id": created})


def _drift_alert(want: DesiredList, have: adapter.PrefixList, *, enforce: bool) -> Alert:
    return Alert(
        outcome=Outcome.DRIFT,
        load_balancer_arn=have.arn or have.id,
        cluster=None if want.cluster == ALL_CLUSTERS else want.cluster,
        owner=None,
        detail=f"frontguard's prefix list {have.id} ({want.key}) was changed by someone else: "
        f"it holds {list(have.entries)}"
        + ("; restored to the policy's sources" if enforce else " (audit mode: left as found)"),
        fix="Find who modified it (CloudTrail ModifyManagedPrefixList on "
        f"{have.id}) and restrict ec2:ModifyManagedPrefixList on frontguard's lists to "
        "frontguard; change the policy instead, frontguard keeps the list equal to it.",
        data={
            "prefix_list_id": have.id,
            "entries_found": list(have.entries),
            "entries_policy": list(want.entries),
        },
    )


def _world_open(entries: tuple[str, ...]) -> bool:
    """Any entry of prefix length 0 (``0.0.0.0/0``, ``::/0`` in any spelling)."""
    return any(entry.rsplit("/", 1)[-1] == "0" for entry in entries)


def _look_alike_alert(fake: adapter.PrefixList) -> Alert:
    return Alert(
        outcome=Outcome.CONFLICT,
        load_balancer_arn=fake.arn or fake.id,
        cluster=None,
        owner=None,
        detail=f"prefix list {fake.id} ({escape(fake.name, 80)}, owner {fake.owner_id or '?'}) "
        f"carries frontguard's tags ({fake.key}) but frontguard did not create it: frontguard "
        "never modifies, references or renders it, and keeps using its own list",
        fix=f"Find who tagged it (CloudTrail CreateTags / CreateManagedPrefixList on {fake.id}) "
        "and remove the frontguard.io/* tags; reserve them with the SCP (docs/scp.md).",
        data={"prefix_list_id": fake.id, "entries_found": list(fake.entries)},
    )


def _too_large_alert(want: DesiredList, policy: Policy) -> Alert:
    return Alert(
        outcome=Outcome.ERROR,
        load_balancer_arn=f"prefix-list:{want.key}",
        cluster=None if want.cluster == ALL_CLUSTERS else want.cluster,
        owner=None,
        detail=f"policy rule {want.key} has {len(want.entries)} CIDRs: a prefix list that size "
        f"referenced on {PORTS_BUDGET} listener ports exceeds "
        f"{policy.max_rules_per_security_group} rules per security group",
        fix="Merge CIDRs in the rule, or raise the rules-per-security-group quota and the "
        "policy's max_rules_per_security_group.",
        data={"entries": len(want.entries), "capacity": capacity(policy)},
    )
