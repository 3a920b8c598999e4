"""The scan digest, pure: new / still open / fixed, worst first, and SNS's size limit."""

from __future__ import annotations

import json

from frontguard.adapters.findings import FindingRecord, StoredState
from frontguard.engine.digest import SNS_MESSAGE_LIMIT, compile_digest
from frontguard.engine.scan import ScanItem, ScanReport
from frontguard.model import Outcome
from frontguard.policy import Mode

NOW = 1_000_000.0


def item(index: int, outcome: Outcome = Outcome.AUDIT_FINDING, *, cluster: str = "c0") -> ScanItem:
    return ScanItem(
        load_balancer_arn=f"arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/lb{index}/x",
        name=f"lb{index:05d}",
        cluster=cluster,
        owner=f"ingress/ns/web-{index}",
        outcome=outcome,
        reason="not compliant (audit mode: nothing changed)",
        detail={"planned_rules": [f"tcp/{p} from 203.0.113.0/24" for p in (80, 443)]},
    )


def digest_of(items: list[ScanItem], state: StoredState = StoredState()):  # noqa: B008
    report = ScanReport(Mode.AUDIT, items=items)
    return compile_digest(
        report,
        state,
        now=NOW,
        account="123456789012",
        region="eu-west-1",
        counts={c: dict(v) for c, v in report.by_cluster().items()},
        queued=0,
        invocations=1,
        run_id="run",
    )


def test_worst_first_and_new_before_still_open():
    alerted = item(1)
    items = [item(0), alerted, item(2, Outcome.NEEDS_RECREATION), item(3, Outcome.COMPLIANT)]
    state = StoredState(
        alerted=(FindingRecord(alerted.load_balancer_arn, "audit-finding", alerted_until=NOW + 60),)
    )

    digest = digest_of(items, state)

    assert [(f["outcome"], f["status"]) for f in digest.body["findings"]] == [
        ("needs-recreation", "new"),
        ("audit-finding", "new"),
        ("audit-finding", "still-open"),
    ]
    assert digest.worth_sending and digest.body["by_outcome"]["compliant"] == 1


def test_an_expired_alert_is_new_again_and_a_closed_one_is_fixed():
    expired, gone = item(0), item(9)
    state = StoredState(
        alerted=(
            FindingRecord(expired.load_balancer_arn, "audit-finding", alerted_until=NOW - 1),
            FindingRecord(gone.load_balancer_arn, "audit-finding", alerted_until=NOW + 60),
            FindingRecord(gone.load_balancer_arn, "error", alerted_until=NOW + 60),
        )
    )

    digest = digest_of([expired], state)

    assert [f.load_balancer_arn for f in digest.new] == [expired.load_balancer_arn]
    assert [r.load_balancer_arn for r in digest.fixed] == [gone.load_balancer_arn]
    assert sorted(digest.closed_keys) == [
        f"{gone.load_balancer_arn}|audit-finding",
        f"{gone.load_balancer_arn}|error",
    ]


def test_nothing_new_and_nothing_fixed_sends_nothing():
    still = item(0)
    state = StoredState(
        alerted=(FindingRecord(still.load_balancer_arn, "audit-finding", alerted_until=NOW + 1),)
    )
    assert not digest_of([still], state).worth_sending


def test_beyond_snss_size_limit_the_lists_are_cut_worst_first_and_counted():
    items = [item(i, cluster=f"c{i % 20:02d}") for i in range(10_000)]
    items.append(item(99_999, Outcome.ERROR))

    digest = digest_of(items)

    assert len(digest.message.encode()) <= SNS_MESSAGE_LIMIT
    body = json.loads(json.loads(digest.message)["default"])
    shown = len(body["findings"])
    assert 100 < shown < 10_001
    assert body["omitted"]["findings"] == 10_001 - shown
    assert body["findings"][0]["outcome"] == "error"
    assert body["open_findings"] == body["new"] == 10_001  # counts cover everything
    assert sum(sum(v.values()) for v in body["by_cluster"].values()) == 10_001
    assert "Left out to fit SNS's 256 KB limit" in json.loads(digest.message)["email"]


def test_exposure_open_for_so_far_and_fixed_at_most_until_this_scan():
    from dataclasses import replace
    from datetime import UTC, datetime

    born = datetime.fromtimestamp(NOW - 5400, UTC)  # created 90 minutes before the scan
    still_open = replace(item(0), created=born)
    repaired = replace(item(1, Outcome.COMPLIANT), created=datetime.fromtimestamp(NOW - 600, UTC))
    older_fix = replace(item(2, Outcome.COMPLIANT), created=datetime.fromtimestamp(NOW - 60, UTC))
    state = StoredState(
        alerted=tuple(
            FindingRecord(i.load_balancer_arn, "audit-finding", name=i.name, alerted_until=NOW + 1)
            for i in (repaired, older_fix)
        )
    )

    digest = digest_of([still_open, repaired, older_fix], state)

    (finding,) = digest.body["findings"]
    assert finding["open_seconds"] == 5400.0
    assert {f["name"]: f["exposure_seconds"] for f in digest.body["fixed_findings"]} == {
        "lb00001": 600.0,
        "lb00002": 60.0,
    }
    assert digest.body["exposure"] == {
        "fixed_max_seconds": 600.0,
        "fixed_median_seconds": 330.0,
        "open_max_seconds": 5400.0,
    }
    text = json.loads(digest.message)["email"]
    assert "(open for 90 min)" in text
    assert "exposed at most 10 min" in text and "longest 10 min" in text


def test_no_exposure_figures_without_creation_times():
    digest = digest_of([item(0)])

    assert "open_seconds" not in digest.body["findings"][0]
    assert "exposure" not in digest.body


def changed(index: int, outcome: Outcome, *, open_rules: int = 1, drift: bool = False) -> ScanItem:
    base = item(index, outcome)
    return ScanItem(
        **{
            **base.__dict__,
            "drift": drift,
            "detail": {
                **base.detail,
                "was_open": [f"{443 + n} from 0.0.0.0/0" for n in range(open_rules)],
                "actor": "unknown",
            },
        }
    )


def test_changes_are_itemised_worst_first_and_cut_to_fit_with_a_count():
    """Issue 22 item 2: every change the run made, the most open first; within SNS's limit
    the list is cut and ``omitted.changes`` says how many are left out."""
    items = [changed(i, Outcome.REMEDIATED) for i in range(6_000)]
    items.append(changed(7_000, Outcome.DRIFT, open_rules=3, drift=True))

    digest = digest_of(items)

    assert digest.worth_sending  # changes made in this run are news by themselves
    assert len(digest.message.encode()) <= SNS_MESSAGE_LIMIT
    body = json.loads(json.loads(digest.message)["default"])
    shown = len(body["changes"])
    assert 0 < shown < 6_001 and body["omitted"]["changes"] == 6_001 - shown
    assert body["changed"] == 6_001
    first = body["changes"][0]
    assert first["change"] == "drift repaired" and len(first["was_open"]) == 3
    assert "exposure_seconds" not in first  # when a drift began, a scan cannot know
    assert first["detected_by"] == "scan" and first["actor"] == "unknown"


def test_queued_repairs_already_alerted_send_nothing_again():
    """A repair queue that is not drained must not send the same list every hour."""
    queued = changed(1, Outcome.REMEDIATION_QUEUED)
    key = FindingRecord(
        load_balancer_arn=queued.load_balancer_arn,
        outcome=queued.outcome.value,
        cluster="c0",
        name=queued.name,
        owner=queued.owner,
        reason="",
        alerted_until=NOW + 3600,
    )

    digest = digest_of([queued], StoredState(alerted=(key,)))

    assert digest.changes and not digest.worth_sending
