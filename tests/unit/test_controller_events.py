"""The controller's Events as frontguard reads them (engine/events.py)."""

from frontguard.engine.events import current_failures


def event(reason: str, at: str) -> dict[str, str]:
    return {"reason": reason, "lastTimestamp": at, "message": reason}


def test_a_failure_followed_by_a_successful_reconcile_is_history():
    """Review #17: patching group members one by one lets the controller record a transient
    conflict that the next reconcile clears."""
    events = [
        event("FailedBuildModel", "2026-11-30T01:00:00+00:00"),
        event("SuccessfullyReconciled", "2026-11-30T01:00:03+00:00"),
    ]
    assert current_failures(events) == []


def test_a_failure_after_the_last_success_is_current():
    events = [
        event("SuccessfullyReconciled", "2026-11-30T01:00:00+00:00"),
        event("FailedDeployModel", "2026-11-30T01:00:05+00:00"),
    ]
    assert [e["reason"] for e in current_failures(events)] == ["FailedDeployModel"]


def test_a_failure_in_the_same_second_as_a_success_is_kept():
    events = [
        event("SuccessfullyReconciled", "2026-11-30T01:00:00+00:00"),
        event("FailedBuildModel", "2026-11-30T01:00:00+00:00"),
    ]
    assert len(current_failures(events)) == 1


def test_other_events_are_not_failures():
    assert current_failures([event("Normal", "2026-11-30T01:00:00+00:00")]) == []
