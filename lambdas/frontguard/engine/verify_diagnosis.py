"""What the cluster says when verification fails: the owner gone, the annotation reverted
(and who wrote it last, as a hint), GitOps markers, the controller's own Events, a Gateway
configuration that no longer carries frontguard's SG, an IngressGroup in conflict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from frontguard.adapters.kube import KubeClient
from frontguard.adapters.verify_queue import VerifyRequest
from frontguard.controller.objects import KubeObject, annotations_of, object_id, split_list
from frontguard.controller.security_groups import annotation_keys, conflicting_members
from frontguard.engine import gateway as gw
from frontguard.engine import plan
from frontguard.engine.events import current_failures
from frontguard.engine.owner import resolve_owner
from frontguard.engine.verify_findings import Finding, FindingKind
from frontguard.errors import NotFoundError
from frontguard.model import OwnerKind, OwnerRef
from frontguard.policy import ControllerFlags
from frontguard.untrusted import escape, quote

# How much of a user-written value the alert's JSON carries (the text quotes less).
DATA_LIMIT = 1000


@dataclass(frozen=True)
class Diagnosis:
    findings: list[Finding]
    members: list[tuple[str, str]]  # (namespace, name) of the owner objects found


def diagnose(
    kube: KubeClient, owner: OwnerRef, request: VerifyRequest, flags: ControllerFlags
) -> Diagnosis:
    """What the cluster says: annotations, who changed them, the controller's Events."""
    try:
        resolved = resolve_owner(kube, owner, flags)
    except NotFoundError:
        return Diagnosis(
            [
                Finding(
                    FindingKind.OWNER_DELETED,
                    f"{owner.describe()} no longer exists; the controller deletes its "
                    "load balancer",
                )
            ],
            [],
        )
    sg_key = annotation_keys(owner).security_groups
    since = _parse_time(request.requested_at)
    findings: list[Finding] = []
    members: list[tuple[str, str]] = []
    for obj in resolved.objects:
        meta = obj.get("metadata", {})
        members.append((meta.get("namespace", ""), meta.get("name", "")))
        if resolved.gateway is None:
            findings += _annotation_findings(obj, sg_key, request.security_group_id)
        findings += _controller_events(kube, obj, since)
    if resolved.gateway is not None:
        findings += _gateway_findings(resolved.gateway, request.security_group_id)
    if owner.kind is OwnerKind.INGRESS_GROUP:
        findings += _group_conflict(owner, resolved.objects, sg_key)
    return Diagnosis(findings, members)


def _annotation_findings(obj: KubeObject, sg_key: str, sg_id: str) -> list[Finding]:
    """The annotation no longer names frontguard's SG: who wrote it last (a hint), and the
    GitOps tool that manages the object, if any."""
    value = annotations_of(obj).get(sg_key)
    if sg_id in split_list(value):
        return []
    name = object_id(obj)
    manager, when = _last_writer(obj, sg_key)
    # managedFields names are whatever the client said (--field-manager): a hint, not
    # evidence of who wrote (the API server's audit log is).
    by = (
        f"; last writer according to managedFields (unauthenticated): {quote(manager, 80)}"
        + (f" at {escape(when, 40)}" if when else "")
        if manager
        else ""
    )
    now = quote(value) if value is not None else "absent"
    reverted = Finding(
        FindingKind.ANNOTATION_REVERTED,
        f"annotation {sg_key} on {name} no longer names {sg_id} (now: {now}{by})",
        object=name,
        data={
            "annotation": sg_key,
            "value": escape(value or "", DATA_LIMIT),
            **({"manager": escape(manager, DATA_LIMIT)} if manager else {}),
            **({"changed_at": escape(when, 40)} if when else {}),
        },
    )
    return [
        reverted,
        *(
            Finding(
                FindingKind.GITOPS_MANAGED,
                f"{name} is managed by {marker}",
                object=name,
                data={"marker": marker},
            )
            for marker in plan.gitops_markers(obj)
        ),
    ]


def _controller_events(kube: KubeClient, obj: KubeObject, since: datetime | None) -> list[Finding]:
    """The controller's failure Events on the object since the patch was requested."""
    meta = obj.get("metadata", {})
    name = object_id(obj)
    findings = []
    for event in current_failures(kube.events_for(meta.get("namespace", ""), meta.get("name", ""))):
        if _older_than(event, since):
            continue
        # The controller's messages echo annotation values: user-written.
        message = str(event.get("message", "")).strip()
        findings.append(
            Finding(
                FindingKind.CONTROLLER_EVENT,
                f"the controller reported on {name}: {event.get('reason')}: {quote(message)}",
                object=name,
                data={
                    "reason": str(event.get("reason")),
                    "message": escape(message, DATA_LIMIT),
                },
            )
        )
    return findings


def _gateway_findings(gateway: gw.GatewayOwner, sg_id: str) -> list[Finding]:
    """The Gateway's configuration no longer gets frontguard's SG to the controller."""
    if sg_id in gateway.security_groups:
        return []
    where = gateway.config.ref if gateway.config and gateway.referenced else "none"
    return [
        Finding(
            FindingKind.ANNOTATION_REVERTED,
            f"the Gateway's LoadBalancerConfiguration ({where}) no longer gets "
            f"{sg_id} to the controller (it sees: "
            f"{', '.join(gateway.security_groups) or 'none'})",
            object=f"{gateway.namespace}/{gateway.name}",
            data={"field": "spec.securityGroups", "configuration": where},
        )
    ]


def _group_conflict(owner: OwnerRef, objects: Sequence[KubeObject], sg_key: str) -> list[Finding]:
    """Members of an IngressGroup with different SG values: the whole group stops."""
    values = {
        member: ",".join(groups) for member, groups in conflicting_members(objects, sg_key).items()
    }
    if not values:
        return []
    return [
        Finding(
            FindingKind.GROUP_CONFLICT,
            f"members of IngressGroup {owner.group} carry different {sg_key} values "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(values.items()))}): "
            "the whole group stops reconciling",
            data={"annotation": sg_key},
        )
    ]


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _older_than(event: KubeObject, since: datetime | None) -> bool:
    """An Event last seen before the patch was requested says nothing about the patch."""
    seen = _parse_time(event.get("lastTimestamp") or event.get("eventTime"))
    return since is not None and seen is not None and seen.timestamp() < since.timestamp() - 1


def _last_writer(obj: KubeObject, annotation: str) -> tuple[str | None, str | None]:
    """The most recent field manager that owns the annotation, and when.

    Entries named ``frontguard`` count too: anyone can write under that name
    (``--field-manager``), and skipping them would let a writer hide."""
    owners = []
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        fields = (entry.get("fieldsV1") or {}).get("f:metadata", {}).get("f:annotations", {})
        if isinstance(fields, Mapping) and f"f:{annotation}" in fields:
            owners.append((str(entry.get("time") or ""), str(entry.get("manager") or "unknown")))
    if not owners:
        return None, None
    when, manager = max(owners)
    return manager, when or None
