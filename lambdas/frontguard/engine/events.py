"""The controller's own word on an object: its Kubernetes Events.

The controller records ``FailedBuildModel`` when it cannot build the model (annotation
values, SG resolution, group conflicts, the backend-SG check) and ``FailedDeployModel`` when
AWS refuses a change, and ``SuccessfullyReconciled`` at the end of every good reconcile
(LBC:controllers/ingress/group_controller.go, LBC:controllers/service/service_controller.go,
LBC:controllers/gateway/gateway_controller.go). A failure followed by a success is history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from frontguard.adapters.kube import KubeClient
from frontguard.controller.objects import KubeObject, name_of, namespace_of

FAILURE_REASONS = frozenset({"FailedDeployModel", "FailedBuildModel"})
SUCCESS_REASON = "SuccessfullyReconciled"


def event_time(event: KubeObject) -> datetime | None:
    text = event.get("lastTimestamp") or event.get("eventTime")
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def current_failures(events: Sequence[KubeObject]) -> list[KubeObject]:
    """Failure Events not followed by a successful reconcile (a transient failure, such as the
    conflict between two members patched one after the other, is followed by one). Event
    times have one-second resolution: a failure in the same second as a success is kept."""
    successes = [event_time(e) for e in events if e.get("reason") == SUCCESS_REASON]
    last_success = max((s for s in successes if s is not None), default=None)
    failures = []
    for event in events:
        if event.get("reason") not in FAILURE_REASONS:
            continue
        seen = event_time(event)
        if last_success is not None and seen is not None and seen < last_success:
            continue
        failures.append(event)
    return failures


def latest_failure(kube: KubeClient, obj: KubeObject) -> str | None:
    """``"<reason>: <message>"`` of the newest current failure Event on ``obj``, if any."""
    failures = current_failures(kube.events_for(namespace_of(obj), name_of(obj)))
    if not failures:
        return None
    newest = max(failures, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return f"{newest.get('reason')}: {str(newest.get('message', '')).strip()}"
