"""The scheduled scan's one message: what is new, fixed and still open, worst first.

Pure: given the run's findings and what the state table remembers, it decides what to
publish and what to write afterwards. A finding is *new* when no alert for the same load
balancer and outcome was sent within the policy's ``alert_period_hours`` (by an earlier
digest or by the event path); *fixed* when it was alerted and its load balancer is no longer
open (compliant, exempt, repaired, or gone); otherwise *still open*. Nothing new and nothing
fixed: no message at all, so the same finding never alerts twice within the period.

The JSON body carries the per-LB detail; SNS takes at most 256 KiB per message
(https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: "Messages must be UTF-8 encoded
strings and at most 256 KB in size"), so past that the lists are cut, worst first kept, and
``omitted`` says how many were left out (the counts always cover everything).

Exposure (issue 17): an open finding shows ``open_seconds``, its load balancer's age; a fixed
one ``exposure_seconds``, from the load balancer's creation to this scan's observation of a
compliant SG set. That is an upper bound when the repair came earlier (the verification's
``exposure-seconds`` metric and alert have the exact figure).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import zip_longest
from statistics import median
from typing import Any

from frontguard.adapters.findings import FindingRecord, StoredState
from frontguard.engine.accounting import UNKNOWN
from frontguard.engine.born import exposure_seconds
from frontguard.engine.scan import OPEN_FINDINGS, ScanItem, ScanReport, severity
from frontguard.model import Outcome

SNS_MESSAGE_LIMIT = 256 * 1024
# Room for the subject and SNS's own framing of the JSON-structured message.
MESSAGE_BUDGET = SNS_MESSAGE_LIMIT - 4 * 1024
EMAIL_LINES = 50
EXEMPT_ITEMS = 25
NEW, STILL_OPEN, FIXED = "new", "still-open", "fixed"


@dataclass(frozen=True)
class Finding:
    """One open finding of the run, from this invocation's report or an earlier one's record."""

    load_balancer_arn: str
    outcome: str
    entry: Mapping[str, Any]  # what the digest shows

    @classmethod
    def of_item(cls, item: ScanItem, observed: datetime | None = None) -> Finding:
        entry = item.as_dict()
        open_seconds = exposure_seconds(item.created, observed) if observed else None
        if open_seconds is not None:
            entry["open_seconds"] = open_seconds
        return cls(item.load_balancer_arn, item.outcome.value, entry)

    @classmethod
    def of_record(cls, record: FindingRecord) -> Finding:
        return cls(record.load_balancer_arn, record.outcome, record.as_dict())

    def record(self) -> FindingRecord:
        return FindingRecord(
            load_balancer_arn=self.load_balancer_arn,
            outcome=self.outcome,
            cluster=self.entry.get("cluster"),
            name=str(self.entry.get("name") or ""),
            owner=self.entry.get("owner"),
            reason=str(self.entry.get("reason") or ""),
        )


# What the scan changed (inline, the CLI) or handed to the Remediate function, per LB.
CHANGES = {
    Outcome.REMEDIATED: "remediated",
    Outcome.DRIFT: "drift repaired",
    Outcome.BORN_OPEN: "remediated (born open)",
    Outcome.REMEDIATION_QUEUED: "repair queued",
}
DETECTED_BY = "scan"


def change_entry(item: ScanItem, observed: datetime) -> dict[str, Any]:
    """One line of the digest's itemised list: what changed, what was open, for how long,
    and who made the change frontguard undid (engine/accounting.py says why a scan often
    cannot know: "unknown")."""
    detail = item.detail
    change = CHANGES[item.outcome]
    if item.drift and item.outcome is Outcome.REMEDIATION_QUEUED:
        change = "drift repair queued"
    if detail.get("extra_security_groups"):
        change += ": foreign SG " + ", ".join(detail["extra_security_groups"])
    entry: dict[str, Any] = {
        "load_balancer_arn": item.load_balancer_arn,
        "name": item.name,
        "cluster": item.cluster,
        "owner": item.owner,
        "outcome": item.outcome.value,
        "change": change,
        "was_open": list(detail.get("was_open") or []),
        "actor": detail.get("actor") or UNKNOWN,
        "detected_by": DETECTED_BY,
    }
    if not item.drift:
        # Open since its creation: the scan knows no earlier moment (a drift's start it
        # cannot know at all, so none is given).
        seconds = exposure_seconds(item.created, observed)
        if seconds is not None:
            entry["exposure_seconds"] = seconds
    return entry


@dataclass
class Digest:
    new: list[Finding] = field(default_factory=list)
    still_open: list[Finding] = field(default_factory=list)
    fixed: list[FindingRecord] = field(default_factory=list)  # one per load balancer
    # Of the fixed load balancers this invocation saw: creation → observed compliant, seconds.
    exposure: dict[str, float] = field(default_factory=dict)
    closed_keys: list[str] = field(default_factory=list)  # alert records to delete
    changes: list[dict[str, Any]] = field(default_factory=list)  # change_entry, worst first
    body: dict[str, Any] = field(default_factory=dict)
    subject: str = ""
    message: str = ""  # the SNS message (MessageStructure="json")

    @property
    def applied(self) -> int:
        """Changes the run made itself (the CLI's inline scan). A queued repair is an open
        finding too, so it is news only when new: a queue that is not drained must not send
        the same list every hour."""
        return sum(e.get("outcome") != Outcome.REMEDIATION_QUEUED.value for e in self.changes)

    @property
    def worth_sending(self) -> bool:
        return bool(self.new or self.fixed or self.applied)


def _order(finding: Finding) -> tuple[int, str, str]:
    return (
        severity(finding.outcome),
        str(finding.entry.get("cluster") or ""),
        str(finding.entry.get("name") or ""),
    )


def compile_digest(
    report: ScanReport,
    state: StoredState,
    *,
    now: float,
    account: str,
    region: str,
    counts: Mapping[str, Mapping[str, int]],
    queued: int,
    invocations: int,
    run_id: str,
) -> Digest:
    """Decide the digest of a finished run. ``counts``: by cluster and outcome, the whole run;
    ``state.pending``: open findings of this run's earlier invocations."""
    observed = datetime.fromtimestamp(now, UTC)
    open_findings = [
        Finding.of_item(i, observed) for i in report.items if i.outcome in OPEN_FINDINGS
    ]
    open_findings += [
        Finding.of_record(r) for r in state.pending if r.run_id == run_id and r.outcome
    ]
    open_arns = {f.load_balancer_arn for f in open_findings}
    alerted = {r.key for r in state.alerted if r.alerted_until >= now}
    digest = Digest()
    for finding in sorted(open_findings, key=_order):
        key = f"{finding.load_balancer_arn}|{finding.outcome}"
        (digest.still_open if key in alerted else digest.new).append(finding)
    fixed: dict[str, FindingRecord] = {}
    for record in state.alerted:
        if record.load_balancer_arn not in open_arns:
            fixed.setdefault(record.load_balancer_arn, record)
            digest.closed_keys.append(record.key)
    digest.fixed = sorted(fixed.values(), key=lambda r: (r.cluster or "", r.name))
    created = {i.load_balancer_arn: i.created for i in report.items}
    for arn in fixed:
        seconds = exposure_seconds(created.get(arn), observed)
        if seconds is not None:
            digest.exposure[arn] = seconds
    digest.changes = _changes(report, state, observed, run_id)
    _render(
        digest,
        report,
        account=account,
        region=region,
        counts=counts,
        queued=queued,
        invocations=invocations,
        run_id=run_id,
    )
    return digest


def _changes(
    report: ScanReport, state: StoredState, observed: datetime, run_id: str
) -> list[dict[str, Any]]:
    """This invocation's changes and those of the run's earlier invocations (handlers/
    scan_flow.py saves them), the most open first."""
    changes = [
        *(change_entry(i, observed) for i in report.items if i.outcome in CHANGES),
        *(dict(c.entry) for c in state.changes if c.run_id == run_id),
    ]
    return sorted(
        changes,
        key=lambda e: (
            -len(e.get("was_open") or []),
            str(e.get("cluster") or ""),
            str(e.get("name")),
        ),
    )


def _render(
    digest: Digest,
    report: ScanReport,
    *,
    account: str,
    region: str,
    counts: Mapping[str, Mapping[str, int]],
    queued: int,
    invocations: int,
    run_id: str,
) -> None:
    """The digest's subject and message: the counts, then the lists, cut to fit SNS."""
    base = _counts(digest, report, counts) | {
        "account": account,
        "region": region,
        "run_id": run_id,
        "invocations": invocations,
        "remediations_queued": queued,
    }
    digest.subject = (
        f"frontguard scan: {len(digest.new)} new, {len(digest.fixed)} fixed, "
        f"{base['open_findings']} open in {account} {region}"
    )[:100]
    lists = {
        "findings": _open_entries(digest),
        "fixed_findings": _fixed_entries(digest),
        "changes": digest.changes,
    }
    digest.body, digest.message = _fit(base, lists)


def _counts(
    digest: Digest, report: ScanReport, counts: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """What the digest says of the whole run (every invocation), whatever fits."""
    by_outcome: Counter[str] = Counter()
    for outcomes in counts.values():
        by_outcome.update(outcomes)
    summary = (
        f"{len(digest.new)} new, {len(digest.fixed)} fixed, {len(digest.still_open)} still open "
        f"among {sum(by_outcome.values())} load balancers"
    )
    return {
        "outcome": "scan-digest",
        "load_balancer_arn": None,
        "cluster": None,
        "owner": None,
        "detail": summary,
        "mode": report.mode.value,
        "load_balancers": sum(by_outcome.values()),
        "open_findings": len(digest.new) + len(digest.still_open),
        "new": len(digest.new),
        "fixed": len(digest.fixed),
        "still_open": len(digest.still_open),
        "changed": len(digest.changes),
        "by_outcome": dict(sorted(by_outcome.items(), key=lambda kv: severity(kv[0]))),
        "by_cluster": {c: dict(v) for c, v in sorted(counts.items())},
        "cleaned_up_security_groups": report.cleaned_up,
        "impostor_security_groups": report.impostors,
        "policy_warnings": report.policy_warnings,
        **_exposure_summary(digest),
        # frontguard's prefix lists (born-protected clusters): created, modified, drifted.
        **({"prefix_lists": report.prefix_lists} if report.prefix_lists is not None else {}),
        # Authorised exemptions, so that every opt-out stays in sight.
        "exempt": [i.as_dict() for i in report.items if i.outcome is Outcome.EXEMPT][:EXEMPT_ITEMS],
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _open_entries(digest: Digest) -> list[dict[str, Any]]:
    """Worst first; within an outcome, the new ones first."""
    return sorted(
        [
            *({"status": NEW, **f.entry} for f in digest.new),
            *({"status": STILL_OPEN, **f.entry} for f in digest.still_open),
        ],
        key=lambda e: (
            severity(str(e["outcome"])),
            e["status"] != NEW,
            str(e.get("cluster") or ""),
            str(e.get("name") or ""),
        ),
    )


def _fixed_entries(digest: Digest) -> list[dict[str, Any]]:
    return [
        {
            "status": FIXED,
            "was": r.outcome,
            **r.as_dict(),
            **(
                {"exposure_seconds": digest.exposure[r.load_balancer_arn]}
                if r.load_balancer_arn in digest.exposure
                else {}
            ),
        }
        for r in digest.fixed
    ]


def _fit(
    base: Mapping[str, Any], lists: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[dict[str, Any], str]:
    """The body and SNS message with as many entries of each list as fit, worst first, and
    ``omitted`` counting the rest: a first guess from each entry's own size (the JSON is
    escaped once more inside the message), then checked, cutting further until it fits."""

    def build(limit: int) -> tuple[dict[str, Any], str]:
        body = {
            **base,
            **{name: list(entries[:limit]) for name, entries in lists.items()},
            "omitted": {name: max(0, len(entries) - limit) for name, entries in lists.items()},
        }
        default = json.dumps(body, indent=1, sort_keys=True, default=str)
        return body, json.dumps({"default": default, "email": digest_text(body)})

    body, message = build(max(len(entries) for entries in lists.values()))
    if len(message.encode()) <= MESSAGE_BUDGET:
        return body, message
    sizes = [
        round(1.3 * sum(len(json.dumps(e, default=str)) for e in row if e is not None))
        for row in zip_longest(*lists.values(), fillvalue=None)
    ]
    room = MESSAGE_BUDGET - len(build(0)[1].encode())
    limit = 0
    for size in sizes:
        if room < size:
            break
        room -= size
        limit += 1
    body, message = build(limit)
    while len(message.encode()) > MESSAGE_BUDGET and limit > 0:
        limit = int(limit * 0.9)
        body, message = build(limit)
    return body, message


def _exposure_summary(digest: Digest) -> dict[str, Any]:
    """Seconds, over every finding of the run (not only those that fit in the message)."""
    open_ages = [
        float(f.entry["open_seconds"])
        for f in (*digest.new, *digest.still_open)
        if "open_seconds" in f.entry
    ]
    summary: dict[str, Any] = {}
    if digest.exposure:
        fixed = list(digest.exposure.values())
        summary["fixed_max_seconds"] = max(fixed)
        summary["fixed_median_seconds"] = round(median(fixed), 1)
    if open_ages:
        summary["open_max_seconds"] = max(open_ages)
    return {"exposure": summary} if summary else {}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def digest_text(body: Mapping[str, Any]) -> str:
    """The digest for an email reader: counts, then the worst findings, new ones marked."""
    lines = [
        f"frontguard scan of account {body['account']} in {body['region']} "
        f"({body['mode']} mode): {body['detail']}.",
        "",
        "By outcome: " + ", ".join(f"{k} {v}" for k, v in body["by_outcome"].items()),
    ]
    if body.get("remediations_queued"):
        lines.append(f"Remediations queued: {body['remediations_queued']}.")
    entries: Sequence[Mapping[str, Any]] = body["findings"]
    if entries:
        lines += ["", "Open findings, worst first:"]
        lines.extend(
            f"- [{e['outcome']}]{' NEW' if e['status'] == NEW else ''} "
            f"{e.get('owner') or e.get('name')} in {e.get('cluster')}: {e.get('reason')}"
            + (f" (open for {_duration(e['open_seconds'])})" if "open_seconds" in e else "")
            for e in entries[:EMAIL_LINES]
        )
        more = body["open_findings"] - min(len(entries), EMAIL_LINES)
        if more > 0:
            lines.append(f"... and {more} more (every one is in the JSON body of this message).")
    lines += _change_lines(body) + _fixed_lines(body)
    omitted = body.get("omitted", {})
    if any(omitted.values()):
        lines += [
            "",
            f"Left out to fit SNS's 256 KB limit: {omitted['findings']} findings, "
            f"{omitted['fixed_findings']} fixed and {omitted.get('changes', 0)} changes; the "
            "counts above cover them all, and the scan's log lists each one.",
        ]
    lines += [
        "",
        "New findings are alerted once per alert period; this digest is the only message "
        "this scan sends.",
    ]
    return "\n".join(lines)


def _change_lines(body: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    changes: Sequence[Mapping[str, Any]] = body.get("changes", [])
    if changes:
        lines += ["", f"Changed by frontguard in this run: {body.get('changed', len(changes))}."]
        lines.extend(
            f"- {e['change']}: {e.get('owner') or e.get('name')} in {e.get('cluster')}"
            + (f"; was open: {'; '.join(e['was_open'])}" if e.get("was_open") else "")
            + (f"; exposed {_duration(e['exposure_seconds'])}" if "exposure_seconds" in e else "")
            + f"; changed by: {e['actor']}; detected by: {e['detected_by']}"
            for e in changes[:EMAIL_LINES]
        )
    return lines


def _fixed_lines(body: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    if body["fixed"]:
        lines += ["", f"Fixed since they were alerted: {body['fixed']}."]
        lines.extend(
            f"- {e.get('owner') or e.get('name')} in {e.get('cluster')} (was {e['was']}"
            + (
                f"; exposed at most {_duration(e['exposure_seconds'])}"
                if "exposure_seconds" in e
                else ""
            )
            + ")"
            for e in body["fixed_findings"][:EMAIL_LINES]
        )
        exposure = body.get("exposure", {})
        if "fixed_max_seconds" in exposure:
            lines.append(
                f"Exposure of the fixed ones (creation to compliant, at most): median "
                f"{_duration(exposure['fixed_median_seconds'])}, longest "
                f"{_duration(exposure['fixed_max_seconds'])}."
            )
    return lines


def merge_counts(
    earlier: Mapping[str, Mapping[str, int]], report: ScanReport
) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = {c: dict(v) for c, v in earlier.items()}
    for cluster, outcomes in report.by_cluster().items():
        target = merged.setdefault(cluster, {})
        for outcome, count in outcomes.items():
            target[outcome] = target.get(outcome, 0) + count
    return merged
