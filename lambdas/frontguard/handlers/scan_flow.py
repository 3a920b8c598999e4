"""The scan handler's flow: a scheduled full scan, or a targeted check after a drift event."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws, network
from frontguard.adapters.aws import CLIENT_CONFIG
from frontguard.adapters.aws_errors import translate
from frontguard.adapters.findings import (
    CURSOR_KEY,
    RUN_PREFIX,
    FindingStore,
    PendingChange,
    ScanCursor,
    StoredState,
)
from frontguard.adapters.securityhub import Observation
from frontguard.engine import accounting
from frontguard.engine.digest import (
    CHANGES,
    Digest,
    Finding,
    change_entry,
    compile_digest,
    merge_counts,
)
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.engine.scan import ScanItem, ScanReport, scan
from frontguard.engine.sweep import SweepReport, sweep
from frontguard.errors import ConfigurationError, InvalidEventError, NotFoundError
from frontguard.handlers.shapes import CloudTrailRecord, DriftRequest, EventBridgeEvent, conform
from frontguard.model import classify
from frontguard.runtime import Runtime

logger = logging.getLogger(__name__)

SCHEDULED = "Scheduled Event"
SWEEP_SOURCE = "frontguard.sweep"  # the sweep rule's constant input (infra/triggers.py)
SG_EVENTS = frozenset({"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"})
# The controller adds listeners seconds after CreateLoadBalancer; while the LB is this young the
# events function (CreateLoadBalancer) owns it, and a drift check would race it.
NEW_LOAD_BALANCER = timedelta(minutes=5)


@dataclass(frozen=True)
class DriftCall:
    """A CloudTrail call routed to the scan, of the right shape (shapes.DriftRequest)."""

    name: str | None
    request: DriftRequest
    time: datetime | None
    # Who made the call, from CloudTrail's userIdentity.arn (written by AWS, not the caller).
    caller_arn: str = ""


class Trigger(Enum):
    """What started a scan-function invocation other than a drift call."""

    SCHEDULE = "schedule"  # the hourly full scan
    SWEEP = "sweep"  # the frequent sweep (engine/sweep.py)


def parse_scan_event(event: object) -> DriftCall | Trigger:
    """A scan queue message or direct invocation: the schedule, the sweep, or the drift call,
    or :class:`InvalidEventError` naming the field of the wrong shape (checked before the
    runtime is built: a malformed event makes no AWS call)."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event is a {type(event).__name__}, not a JSON object")
    if event.get("source") == SWEEP_SOURCE:
        return Trigger.SWEEP
    envelope = conform(EventBridgeEvent, event)
    if envelope.detail_type == SCHEDULED:
        return Trigger.SCHEDULE
    if envelope.detail is None:
        raise InvalidEventError("drift event has no detail", field="detail")
    detail = conform(CloudTrailRecord, envelope.detail, "detail")
    request = conform(DriftRequest, detail.requestParameters or {}, "detail.requestParameters")
    identity = detail.userIdentity or {}
    caller = identity.get("arn")
    return DriftCall(
        detail.eventName,
        request,
        _event_time(envelope.time or detail.eventTime),
        caller if isinstance(caller, str) else "",
    )


def _drift_group_id(name: str | None, request: DriftRequest) -> str | None:
    """The SG a drift call changed: ``groupId`` for Authorize/Revoke, the request's
    ``ModifySecurityGroupRulesRequest.GroupId`` for ModifySecurityGroupRules (its CloudTrail
    shape; https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySecurityGroupRules.html)."""
    if name in SG_EVENTS:
        return request.groupId or None
    if name == "ModifySecurityGroupRules":
        inner = request.ModifySecurityGroupRulesRequest
        return (inner.GroupId if inner is not None else None) or None
    return None


def _event_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def run_scan(runtime: Runtime, *, time_left: Callable[[], float] | None = None) -> ScanReport:
    """One invocation of the scheduled scan: resume the run if one is unfinished, scan until
    done or out of time, then either save where to resume or publish the run's one digest."""
    engine = runtime.engine
    table = runtime.settings.state_table
    store = (
        FindingStore(runtime.session.client("dynamodb", config=CLIENT_CONFIG), table)
        if table
        else None
    )
    state = store.read() if store is not None else StoredState()
    cursor = state.cursor
    started = store.now() if store is not None else time.time()
    run_id = cursor.run_id if cursor is not None else str(int(started))
    hub = runtime.findings
    with hub.deferred() if hub is not None else contextlib.nullcontext():
        report = scan(
            engine,
            remediations=runtime.remediations,
            resume_after=cursor.resume_after if cursor is not None else None,
            time_left=time_left,
        )
    if hub is not None:
        # Security Hub: the outcomes collected during this invocation (also when the run
        # resumes later), written in batches; findings of vanished LBs archived.
        hub.sync([observation(item) for item in report.items], report.load_balancer_arns)
    counts = merge_counts(cursor.counts if cursor is not None else {}, report)
    queued = (cursor.queued if cursor is not None else 0) + report.queued
    invocations = (cursor.invocations if cursor is not None else 0) + 1
    if not report.complete:
        # Nowhere to keep a cursor, or nothing done yet: the next invocation starts over.
        if store is not None and report.resume_at is not None:
            resume = ScanCursor(run_id, report.resume_at, counts, invocations, queued)
            _save_cursor(store, report, resume, observed=started)
        return report

    digest = compile_digest(
        report,
        state,
        now=started,
        account=runtime.account,
        region=runtime.region,
        counts=counts,
        queued=queued,
        invocations=invocations,
        run_id=run_id,
    )
    published = publish_digest(runtime, digest)
    if store is not None:
        period = engine.policy.alert_period_hours * 3600
        _record_run(store, state, digest, published=published, alerted_until=started + period)
    return report


def _record_run(
    store: FindingStore,
    state: StoredState,
    digest: Digest,
    *,
    published: bool,
    alerted_until: float,
) -> None:
    """A finished run: what its digest alerted (not again within the period), what it closed,
    and the unfinished run's records it no longer needs."""
    finished = [
        *(RUN_PREFIX + r.load_balancer_arn for r in state.pending),
        *(c.key for c in state.changes),
        *([CURSOR_KEY] if state.cursor is not None else []),
    ]
    store.write(
        puts=[store.alerted_item(f.record(), alerted_until) for f in digest.new if published],
        deletes=[*(digest.closed_keys if published else []), *finished],
    )


def _save_cursor(
    store: FindingStore, report: ScanReport, cursor: ScanCursor, *, observed: float
) -> None:
    """An unfinished run: its open findings and changes so far, and where the next
    invocation resumes (the digest of the run's last invocation lists them all)."""
    when = datetime.fromtimestamp(observed, UTC)
    store.write(
        puts=[
            *(
                store.pending_item(Finding.of_item(item).record(), cursor.run_id)
                for item in report.open_findings
            ),
            *(
                store.change_item(PendingChange(cursor.run_id, change_entry(item, when)))
                for item in report.items
                if item.outcome in CHANGES
            ),
            store.cursor_item(cursor),
        ]
    )


def observation(item: ScanItem) -> Observation:
    actor, detected_by = item.detail.get("actor"), item.detail.get("detected_by")
    return Observation(
        item.load_balancer_arn,
        item.outcome,
        item.cluster,
        item.owner,
        item.reason,
        None,
        item.security_group_id,
        str(actor) if actor else None,
        str(detected_by) if detected_by else None,
        tuple(str(rule) for rule in item.detail.get("was_open") or ()),
    )


def publish_digest(runtime: Runtime, digest: Digest) -> bool:
    """The run's one SNS message, when something is new or fixed (and a topic is set)."""
    topic = runtime.settings.alert_topic_arn
    if not digest.worth_sending or not topic:
        logger.info(
            "no digest: nothing new, fixed or changed",
            extra={"still_open": len(digest.still_open), "topic": bool(topic)},
        )
        return False
    omitted = digest.body.get("omitted", {})
    if any(omitted.values()):
        # The message holds what fits; the log keeps every finding it had to leave out.
        shown = {e["load_balancer_arn"] for e in digest.body["findings"]}
        for finding in [*digest.new, *digest.still_open]:
            if finding.load_balancer_arn not in shown:
                logger.info(
                    "digest finding beyond the message size", extra={"finding": finding.entry}
                )
        for change in digest.changes[len(digest.body["changes"]) :]:
            logger.info("digest change beyond the message size", extra={"change": change})
    try:
        runtime.session.client("sns", config=CLIENT_CONFIG).publish(
            TopicArn=topic,
            Subject=digest.subject,
            MessageStructure="json",
            Message=digest.message,
        )
    except ClientError as error:
        # Nothing recorded yet: the next run finds the same findings new and sends them.
        raise translate(error, "publish scan digest") from error
    logger.info(
        "digest published",
        extra={
            "new": len(digest.new),
            "fixed": len(digest.fixed),
            "still_open": len(digest.still_open),
            "bytes": len(digest.message.encode()),
        },
    )
    return True


def _prefix_list_changed(runtime: Runtime, request: DriftRequest) -> dict[str, str]:
    """Someone else modified a prefix list: when it is one frontguard created (its creation
    record), check every list against the policy now, not at the next schedule (security
    review r2, R2-3): a scan's prefix-list sync reports drift in every mode and restores in
    enforce. CloudTrail records EC2 query-API parameters by their wire names; both the flat
    and the request-wrapped shapes are read."""
    wrapped = request.ModifyManagedPrefixListRequest
    list_id = request.prefixListId or (wrapped.PrefixListId if wrapped is not None else None)
    state = runtime.engine.state
    if not list_id or state is None or state.created(list_id) is None:
        return {"outcome": "ignored", "reason": "not a prefix list frontguard created"}
    report = scan(runtime.engine)
    return {
        "outcome": "prefix-lists-checked",
        "reason": f"{list_id} changed: {report.prefix_lists}",
    }


def run_sweep(runtime: Runtime) -> SweepReport:
    """One sweep (engine/sweep.py); its fingerprints live in the state table."""
    state = runtime.engine.state
    if state is None:
        raise ConfigurationError("the sweep needs the state table (FRONTGUARD_STATE_TABLE)")
    return sweep(runtime.engine, state)


def handle_drift_event(runtime: Runtime, call: DriftCall) -> dict[str, str]:
    """Re-check the one load balancer a drift event (CloudTrail) is about."""
    name, request = call.name, call.request
    engine = runtime.engine
    arn: str | None = None
    if name in ("SetSecurityGroups", "CreateListener"):
        arn = request.loadBalancerArn
    elif name == "ModifyListener" and request.listenerArn:
        arn = network.load_balancer_of_listener(engine.elbv2, request.listenerArn)
    elif (group_id := _drift_group_id(name, request)) is not None:
        found = aws.describe_security_groups(engine.ec2, [group_id])
        group = found.get(group_id)
        if group is not None and group.managed_by_frontguard:
            arn = group.tags.get(t.LOAD_BALANCER_TAG)
    elif name == "ModifyManagedPrefixList":
        return _prefix_list_changed(runtime, request)
    if not arn:
        return {"outcome": "ignored", "reason": f"{name}: not about a frontguard-guarded LB"}
    try:
        lb = network.describe_load_balancer(engine.elbv2, arn)
    except NotFoundError:
        return {"outcome": "ignored", "reason": "load balancer no longer exists"}
    if classify(lb.tags).owner is None:
        return {"outcome": "ignored", "reason": "not created by the controller"}
    when = call.time
    if name == "CreateListener" and lb.created is not None and when is not None:
        created = lb.created if lb.created.tzinfo else lb.created.replace(tzinfo=UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when - created < NEW_LOAD_BALANCER:
            return {"outcome": "ignored", "reason": "new load balancer: the events path has it"}
    provenance = accounting.provenance("event", call.caller_arn)
    result = remediate_load_balancer(
        engine, arn, load_balancer=lb, drift=True, provenance=provenance
    )
    return {"outcome": result.outcome.value, "reason": result.reason}
