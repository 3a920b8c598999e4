"""Undo frontguard's work on one cluster: give the load balancers back to the controller.

For each Service/Ingress carrying ``frontguard.io/replaced`` (the annotations frontguard
replaced, as JSON ``{annotation: previous value or null}``), one JSON merge patch restores the
previous values (``null`` removes an annotation) and drops the record, so the controller
brings back its own default security group. An IngressGroup is reverted as a whole: a partial
revert would leave members with different ``security-groups`` values and stop the whole group
from reconciling. A Gateway's LoadBalancerConfiguration carrying the record (``{"spec.<field>":
previous or null, "created": true, "gateway.spec.infrastructure.parametersRef": null}``) gets
the recorded fields merged back; the Gateway's ``parametersRef`` is removed again when
frontguard set it, and a configuration frontguard created is deleted. Then frontguard's own SGs
(tag ``frontguard.io/managed-by=frontguard``) that no load balancer, annotation or configuration
uses any more are deleted; one still attached is kept until the controller has reconciled. SGs frontguard did not tag are never touched.

:func:`plan_revert` reads and decides (no change); :func:`apply_revert` carries the plan out.
Adapters take their clients as arguments: the CLI hands in the user's own.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.adapters.kube import (
    CORE,
    NETWORKING,
    KubeClient,
    KubeObject,
    ObjectPath,
    ingress_path,
    service_path,
)
from frontguard.controller.ingress import classify_ingress, stack_of
from frontguard.controller.objects import annotations_of, object_id, split_list
from frontguard.engine import gateway as gw
from frontguard.engine.owner import read_classes
from frontguard.errors import NotFoundError
from frontguard.policy import ControllerFlags

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

logger = logging.getLogger(__name__)

# The annotations frontguard writes; only these are restored from the record.
SG_ANNOTATIONS = frozenset(
    {t.INGRESS_SG_ANNOTATION, t.FRONTEND_NLB_SG_ANNOTATION, t.SERVICE_SG_ANNOTATION}
)
RESTORABLE = SG_ANNOTATIONS | {t.INGRESS_BACKEND_ANNOTATION, t.SERVICE_BACKEND_ANNOTATION}
STILL_ATTACHED = "still attached; re-run after the controller reconciles"
# The keys of a LoadBalancerConfiguration's record (gateway.ConfigurationChange._replaced).
CONFIG_FIELDS = (f"spec.{gw.SG_FIELD}", f"spec.{gw.BACKEND_FIELD}")
GATEWAY_REF = "gateway.spec.infrastructure.parametersRef"
CONFIG_RECORD_KEYS = frozenset({*CONFIG_FIELDS, "created", GATEWAY_REF})


@dataclass(frozen=True)
class Scope:
    """Which objects to revert: the whole cluster, one namespace, or one object."""

    cluster: str
    namespace: str | None = None
    kind: str | None = None  # "service" | "ingress", with ``name``
    name: str | None = None

    @classmethod
    def parse_object(cls, cluster: str, text: str) -> Scope:
        """``kind/namespace/name``, kind ``service``/``svc`` or ``ingress``/``ing``."""
        parts = text.split("/")
        kinds = {"service": "service", "svc": "service", "ingress": "ingress", "ing": "ingress"}
        if len(parts) != 3 or not all(parts) or parts[0].lower() not in kinds:
            raise ValueError(
                f"--object expects kind/namespace/name with kind service or ingress, got {text!r}"
            )
        return cls(cluster, parts[1], kinds[parts[0].lower()], parts[2])

    def selects(self, kind: str, obj: KubeObject) -> bool:
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.kind is None or (kind == self.kind and meta.get("name") == self.name)

    def describe(self) -> str:
        if self.kind is not None:
            return f"{self.kind} {self.namespace}/{self.name} in cluster {self.cluster}"
        if self.namespace is not None:
            return f"namespace {self.namespace} in cluster {self.cluster}"
        return f"cluster {self.cluster}"


class SgAction(StrEnum):
    DELETE = "delete"
    DELETED = "deleted"
    KEPT = "kept"
    GONE = "gone"


@dataclass(frozen=True)
class ObjectRevert:
    """One object's restore: the merge patch, or why it is left alone."""

    kind: str  # "service" | "ingress"
    namespace: str
    name: str
    patch: dict[str, str | None]
    group: str | None = None
    skipped: str | None = None  # reason the object is left as it is

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def path(self) -> ObjectPath:
        if self.kind == "service":
            return service_path(self.namespace, self.name)
        return ingress_path(self.namespace, self.name)

    def describe_patch(self) -> str:
        changes = []
        for key, value in sorted(self.patch.items()):
            if key == t.REPLACED_ANNOTATION:
                continue
            changes.append(f"{key}={value}" if value is not None else f"remove {key}")
        changes.append(f"remove {t.REPLACED_ANNOTATION}")
        return "; ".join(changes)


@dataclass(frozen=True)
class ConfigRevert:
    """One LoadBalancerConfiguration's restore (and its Gateway's reference), or why not."""

    config: gw.Configuration
    spec: dict[str, Any]  # recorded spec fields to merge back (``None`` removes)
    created: bool  # frontguard created it: deleted instead of restored
    gateway: str | None = None  # the Gateway whose parametersRef frontguard set and still names it
    skipped: str | None = None

    @property
    def ref(self) -> str:
        return f"loadbalancerconfiguration/{self.config.ref}"

    def steps(self) -> list[tuple[str, str]]:
        """``(verb, what)`` in the order :func:`apply_revert` takes them."""
        steps = []
        if self.gateway is not None:
            gateway = f"gateway/{self.config.path.namespace}/{self.gateway}"
            steps.append(("restore", f"{gateway}: remove spec.infrastructure.parametersRef"))
        if self.created:
            steps.append(("delete", f"{self.ref}: frontguard created it"))
        else:
            changes = [
                f"remove spec.{key}" if value is None else f"spec.{key}={json.dumps(value)}"
                for key, value in sorted(self.spec.items())
            ]
            changes.append(f"remove {t.REPLACED_ANNOTATION}")
            steps.append(("restore", f"{self.ref}: {'; '.join(changes)}"))
        return steps


@dataclass
class SgRevert:
    group_id: str
    load_balancer_arn: str | None
    owner: str | None
    action: SgAction
    reason: str


@dataclass
class RevertPlan:
    scope: Scope
    objects: list[ObjectRevert] = field(default_factory=list)
    configurations: list[ConfigRevert] = field(default_factory=list)
    security_groups: list[SgRevert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def patches(self) -> list[ObjectRevert]:
        return [o for o in self.objects if o.skipped is None]

    @property
    def config_patches(self) -> list[ConfigRevert]:
        return [c for c in self.configurations if c.skipped is None]


# --- reading the cluster ------------------------------------------------------------------


def _ingress_groups(
    kube: KubeClient, ingresses: Iterable[KubeObject], flags: ControllerFlags
) -> dict[str, str]:
    """Explicit IngressGroup per ``ns/name``, as the controller assigns it (only Ingresses it
    manages; IngressClassParams ``group`` before the annotation: controller/ingress.py)."""
    classes = read_classes(kube)
    groups: dict[str, str] = {}
    for ingress in ingresses:
        classified = classify_ingress(ingress, classes, flags)
        stack = stack_of(classified)
        if stack is not None and "/" not in stack:
            groups[object_id(ingress)] = stack
    return groups


def _record(obj: KubeObject) -> dict[str, str | None] | str:
    """The parsed ``frontguard.io/replaced`` record, or a problem description."""
    text = annotations_of(obj).get(t.REPLACED_ANNOTATION, "")
    try:
        data = json.loads(text)
    except ValueError:
        return f"{t.REPLACED_ANNOTATION} is not valid JSON: left alone"
    if not isinstance(data, dict) or not all(
        isinstance(v, str | None) and isinstance(k, str) for k, v in data.items()
    ):
        return f"{t.REPLACED_ANNOTATION} is not an object of annotation values: left alone"
    return {k: v for k, v in data.items() if k in RESTORABLE}


def _object_revert(kind: str, obj: KubeObject, ours: set[str], group: str | None) -> ObjectRevert:
    meta = obj.get("metadata", {})
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    record = _record(obj)
    if isinstance(record, str):
        return ObjectRevert(kind, namespace, name, {}, group, skipped=record)
    annotations = annotations_of(obj)
    for key in sorted(record.keys() & SG_ANNOTATIONS):
        if not set(split_list(annotations.get(key))) & ours:
            # Someone set their own SGs since: restoring would undo their change.
            return ObjectRevert(
                kind,
                namespace,
                name,
                {},
                group,
                skipped=f"{key} no longer names a frontguard security group "
                f"(now: {annotations.get(key) or 'absent'}): changed since frontguard patched it",
            )
    patch: dict[str, str | None] = {**record, t.REPLACED_ANNOTATION: None}
    return ObjectRevert(kind, namespace, name, patch, group)


def _configurations(kube: KubeClient) -> list[gw.Configuration]:
    """Every LoadBalancerConfiguration, once: ``v1`` and ``v1beta1`` serve the same objects."""
    found: dict[tuple[str, str], gw.Configuration] = {}
    for version in t.GATEWAY_CONFIG_VERSIONS:
        collection = gw.config_path(version, "", "").collection
        try:
            for obj in kube.list_paged(collection):
                config = gw.Configuration(obj, version)
                found.setdefault((config.path.namespace, config.path.name), config)
        except NotFoundError:
            continue  # this version is not served by the cluster
    return list(found.values())


def _gateway_naming(kube: KubeClient, config: gw.Configuration) -> str | None:
    """The Gateway frontguard pointed at ``config`` (``frontguard-<gateway>``), if it still
    names it."""
    prefix = gw.frontguard_config_name("")
    if not config.path.name.startswith(prefix):
        return None
    name = config.path.name.removeprefix(prefix)
    try:
        gateway = kube.get(gw.gateway_path(config.path.namespace, name))
    except NotFoundError:
        return None
    ref = (gateway.get("spec", {}).get("infrastructure") or {}).get("parametersRef") or {}
    named = (
        ref.get("group") == t.GATEWAY_CONFIG_GROUP
        and ref.get("kind") == t.GATEWAY_CONFIG_KIND
        and ref.get("name") == config.path.name
    )
    return name if named else None


def _config_revert(kube: KubeClient, config: gw.Configuration, ours: set[str]) -> ConfigRevert:
    text = annotations_of(config.obj).get(t.REPLACED_ANNOTATION, "")
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not set(record) <= CONFIG_RECORD_KEYS:
        why = f"{t.REPLACED_ANNOTATION} is not a LoadBalancerConfiguration record: left alone"
        return ConfigRevert(config, {}, created=False, skipped=why)
    current = [str(g) for g in config.spec.get(gw.SG_FIELD) or []]
    if not set(current) & ours:
        # Someone set their own SGs since: restoring would undo their change.
        return ConfigRevert(
            config,
            {},
            created=False,
            skipped=f"spec.{gw.SG_FIELD} no longer names a frontguard security group "
            f"(now: {','.join(current) or 'absent'}): changed since frontguard patched it",
        )
    spec = {key.removeprefix("spec."): record.get(key) for key in CONFIG_FIELDS if key in record}
    gateway = _gateway_naming(kube, config) if GATEWAY_REF in record else None
    return ConfigRevert(config, spec, created=record.get("created") is True, gateway=gateway)


def _configuration_names(
    configurations: list[gw.Configuration], reverts: Mapping[str, ConfigRevert]
) -> dict[str, str]:
    """The configuration naming each SG once the reverts are in."""
    named: dict[str, str] = {}
    for config in configurations:
        revert = reverts.get(config.ref)
        spec = config.spec if revert is None or revert.skipped is not None else revert.spec
        if revert is not None and revert.skipped is None and revert.created:
            spec = {}
        for group_id in spec.get(gw.SG_FIELD) or []:
            named.setdefault(str(group_id), f"loadbalancerconfiguration/{config.ref}")
    return named


def _after(obj: KubeObject, revert: ObjectRevert | None) -> Mapping[str, str]:
    annotations = dict(annotations_of(obj))
    if revert is not None and revert.skipped is None:
        for key, value in revert.patch.items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
    return annotations


def plan_revert(
    kube: KubeClient,
    ec2: EC2Client,
    elbv2: ElasticLoadBalancingv2Client,
    scope: Scope,
    flags: ControllerFlags | None = None,
) -> RevertPlan:
    """What revert would do for ``scope``; reads only."""
    result = RevertPlan(scope)
    services = list(kube.list_paged(f"{CORE}/services"))
    ingresses = list(kube.list_paged(f"{NETWORKING}/ingresses"))
    tagged = [
        g
        for g in aws.iter_frontguard_security_groups(ec2)
        if g.tags.get(t.FG_CLUSTER_TAG) == scope.cluster
    ]
    # Tags prove nothing (anyone may tag an SG): only an SG whose name, description and VPC
    # are frontguard's is frontguard's to delete.
    ours = {g.id: g for g in tagged if aws.ownership_problem(g) is None}
    impostors = [(g, problem) for g in tagged if (problem := aws.ownership_problem(g)) is not None]
    group_of = _ingress_groups(kube, ingresses, flags or ControllerFlags())
    configurations = _configurations(kube)

    # An IngressGroup is reverted whole: any member in scope brings in every member.
    selected_groups = {
        group_of[object_id(i)]
        for i in ingresses
        if scope.selects("ingress", i)
        and t.REPLACED_ANNOTATION in annotations_of(i)
        and object_id(i) in group_of
    }
    reverts: dict[str, ObjectRevert] = {}
    for service in services:
        if scope.selects("service", service) and t.REPLACED_ANNOTATION in annotations_of(service):
            reverts["service/" + object_id(service)] = _object_revert(
                "service", service, set(ours), None
            )
    for ingress in ingresses:
        group = group_of.get(object_id(ingress))
        in_scope = scope.selects("ingress", ingress) or group in selected_groups
        if in_scope and t.REPLACED_ANNOTATION in annotations_of(ingress):
            if group is not None and not scope.selects("ingress", ingress):
                result.notes.append(
                    f"ingress/{object_id(ingress)} is reverted too: it is a member of "
                    f"IngressGroup {group}, which is reverted as a whole"
                )
            reverts["ingress/" + object_id(ingress)] = _object_revert(
                "ingress", ingress, set(ours), group
            )
    _check_groups(ingresses, group_of, selected_groups, reverts, result)
    result.objects = sorted(reverts.values(), key=lambda r: r.ref)
    config_reverts = {
        config.ref: _config_revert(kube, config, set(ours))
        for config in configurations
        if scope.selects("loadbalancerconfiguration", config.obj)
        and t.REPLACED_ANNOTATION in annotations_of(config.obj)
    }
    result.configurations = sorted(config_reverts.values(), key=lambda r: r.ref)

    # What annotations name once the patches are in: those SGs must stay.
    named: dict[str, str] = {}
    for kind, objects in (("service", services), ("ingress", ingresses)):
        for obj in objects:
            after = _after(obj, reverts.get(f"{kind}/{object_id(obj)}"))
            for key in SG_ANNOTATIONS:
                for group_id in split_list(after.get(key)):
                    named.setdefault(group_id, f"the annotations of {kind}/{object_id(obj)}")
    named = {**_configuration_names(configurations, config_reverts), **named}
    covers = _owner_in_scope(scope, result)
    for sg in sorted(ours.values(), key=lambda g: g.id):
        if not covers(sg.tags.get(t.OWNER_TAG) or ""):
            continue
        result.security_groups.append(_sg_decision(elbv2, sg, named))
    result.security_groups.extend(_impostor_decisions(impostors, covers))
    return result


def _check_groups(
    ingresses: list[KubeObject],
    group_of: Mapping[str, str],
    selected: set[str],
    reverts: dict[str, ObjectRevert],
    result: RevertPlan,
) -> None:
    """Members of one IngressGroup must end with identical SG values, or none is patched."""
    for group in sorted(selected):
        members = [i for i in ingresses if group_of.get(object_id(i)) == group]
        keys = [f"ingress/{object_id(m)}" for m in members]
        skipped = [reverts[k] for k in keys if k in reverts and reverts[k].skipped]
        values: dict[str, set[str]] = {}
        for member, key in zip(members, keys, strict=True):
            after = _after(member, reverts.get(key))
            for annotation in SG_ANNOTATIONS:
                if annotation in after:
                    values.setdefault(annotation, set()).add(after[annotation])
        conflicting = sorted(a for a, v in values.items() if len(v) > 1)
        if not skipped and not conflicting:
            continue
        why = (
            f"member {skipped[0].ref} cannot be restored ({skipped[0].skipped})"
            if skipped
            else f"members would end with different {', '.join(conflicting)} values"
        )
        for key in keys:
            if key in reverts and reverts[key].skipped is None:
                old = reverts[key]
                reverts[key] = ObjectRevert(
                    old.kind,
                    old.namespace,
                    old.name,
                    {},
                    old.group,
                    skipped=f"IngressGroup {group} left as it is: {why}; fix the members by hand",
                )


def _owner_in_scope(scope: Scope, result: RevertPlan) -> Callable[[str], bool]:
    """Whether the scope covers a frontguard SG, by its owner tag."""
    if scope.namespace is None and scope.kind is None:
        return lambda owner: True
    owners = set()
    for obj in result.objects:
        owners.add(obj.ref)
        owners.add(f"{obj.ref} (frontend NLB)")
        if obj.group is not None:
            owners.add(f"ingress-group/{obj.group}")
    # A Gateway's name is not in its configuration's: the namespace's reverted configurations
    # bring in the namespace's Gateway SGs.
    gateways = f"gateway/{scope.namespace}/" if result.config_patches else None
    return lambda owner: owner in owners or (gateways is not None and owner.startswith(gateways))


def _impostor_decisions(
    impostors: Iterable[tuple[aws.SecurityGroup, str]], covers: Callable[[str], bool]
) -> list[SgRevert]:
    return [
        SgRevert(
            sg.id,
            sg.tags.get(t.LOAD_BALANCER_TAG),
            sg.tags.get(t.OWNER_TAG),
            SgAction.KEPT,
            f"carries frontguard's tags but is not frontguard's ({problem}): never deleted",
        )
        for sg, problem in sorted(impostors, key=lambda pair: pair[0].id)
        if covers(sg.tags.get(t.OWNER_TAG) or "")
    ]


def _sg_decision(
    elbv2: ElasticLoadBalancingv2Client, group: aws.SecurityGroup, named: Mapping[str, str]
) -> SgRevert:
    arn = group.tags.get(t.LOAD_BALANCER_TAG)
    owner = group.tags.get(t.OWNER_TAG)

    def decision(action: SgAction, reason: str) -> SgRevert:
        return SgRevert(group.id, arn, owner, action, reason)

    if group.id in named:
        return decision(SgAction.KEPT, f"still named by {named[group.id]}")
    if not arn and aws.is_pre_lb(group):
        # Fail-closed mode's SG: which LB carries it is not in its tags; the scan deletes it
        # once no load balancer lists it (engine/scan.py _clean_up_pre_lb).
        return decision(SgAction.KEPT, "pre-load-balancer SG: the scan deletes it once unused")
    if arn:
        try:
            lb = aws.describe_load_balancer(elbv2, arn)
        except NotFoundError:
            lb = None
        if lb is not None and group.id in lb.security_groups:
            return decision(SgAction.KEPT, STILL_ATTACHED)
        if lb is not None and (problem := aws.ownership_problem(group, arn, lb.vpc_id)):
            return decision(
                SgAction.KEPT,
                f"carries frontguard's tags but is not frontguard's ({problem}): never deleted",
            )
    return decision(SgAction.DELETE, "no load balancer and no annotation uses it")


# --- carrying it out ----------------------------------------------------------------------


def apply_revert(
    kube: KubeClient,
    ec2: EC2Client,
    plan_: RevertPlan,
    *,
    on_change: Callable[[str], None] | None = None,
) -> RevertPlan:
    """Patch the objects and configurations, then delete the unused SGs; returns the plan with
    what happened."""
    for obj in plan_.patches:
        kube.patch_annotations(obj.path, obj.patch)
        logger.info(
            "annotations restored",
            extra={"cluster": plan_.scope.cluster, "owner": obj.ref},
        )
        if on_change is not None:
            on_change(f"restored {obj.ref}: {obj.describe_patch()}")
    for config in plan_.config_patches:
        _apply_config_revert(kube, config)
        logger.info(
            "configuration restored",
            extra={"cluster": plan_.scope.cluster, "owner": config.ref},
        )
        if on_change is not None:
            for verb, what in config.steps():
                on_change(f"{verb}d {what}")
    for sg in plan_.security_groups:
        if sg.action is not SgAction.DELETE:
            continue
        try:
            ec2.delete_security_group(GroupId=sg.group_id)
        except ClientError as error:
            code = error_code(error)
            if code in ("DependencyViolation", "InvalidGroup.InUse"):
                sg.action, sg.reason = SgAction.KEPT, STILL_ATTACHED
                continue
            if code == "InvalidGroup.NotFound":
                sg.action, sg.reason = SgAction.GONE, "already deleted"
                continue
            raise translate(error, f"delete SG {sg.group_id}") from error
        sg.action, sg.reason = SgAction.DELETED, "no load balancer and no annotation uses it"
        logger.info(
            "frontguard SG deleted",
            extra={"security_group_id": sg.group_id, "load_balancer_arn": sg.load_balancer_arn},
        )
        if on_change is not None:
            on_change(f"deleted {sg.group_id}")
    return plan_


def _apply_config_revert(kube: KubeClient, revert: ConfigRevert) -> None:
    """The Gateway's reference first: the Gateway never names a configuration that is gone."""
    if revert.gateway is not None:
        path = gw.gateway_path(revert.config.path.namespace, revert.gateway)
        kube.merge_patch(path, {"spec": {"infrastructure": {"parametersRef": None}}})
    if revert.created:
        with contextlib.suppress(NotFoundError):  # already deleted
            kube.delete(revert.config.path)
        return
    kube.merge_patch(
        revert.config.path,
        {"metadata": {"annotations": {t.REPLACED_ANNOTATION: None}}, "spec": revert.spec},
    )


def revert(
    kube: KubeClient,
    ec2: EC2Client,
    elbv2: ElasticLoadBalancingv2Client,
    scope: Scope,
    *,
    apply: bool,
    flags: ControllerFlags | None = None,
) -> RevertPlan:
    """Plan, and with ``apply`` carry out, the revert of ``scope``."""
    planned = plan_revert(kube, ec2, elbv2, scope, flags)
    if apply:
        apply_revert(kube, ec2, planned)
    return planned


def _render_configurations(plan_: RevertPlan, *, applied: bool) -> list[str]:
    lines = []
    for config in plan_.configurations:
        if config.skipped is not None:
            lines.append(f"  skip     {config.ref}: {config.skipped}")
            continue
        for verb, what in config.steps():
            lines.append(f"  {verb}d {what}" if applied else f"  would {verb} {what}")
    return lines


def render(plan_: RevertPlan, *, applied: bool) -> list[str]:
    """Human-readable lines: what revert did, or would do."""
    verb = "" if applied else "would "
    lines = [f"frontguard revert: {plan_.scope.describe()}" + ("" if applied else " (dry run)")]
    if not plan_.objects and not plan_.configurations:
        lines.append(f"  no object carries {t.REPLACED_ANNOTATION}: no annotation to restore")
    for obj in plan_.objects:
        if obj.skipped is not None:
            lines.append(f"  skip     {obj.ref}: {obj.skipped}")
        else:
            done = "restored" if applied else "would restore"
            lines.append(f"  {done} {obj.ref}: {obj.describe_patch()}")
    lines.extend(_render_configurations(plan_, applied=applied))
    lines.extend(f"  note: {note}" for note in plan_.notes)
    if not plan_.security_groups:
        lines.append("  no frontguard security group in scope")
    for sg in plan_.security_groups:
        lb = sg.load_balancer_arn.split("/")[-2] if sg.load_balancer_arn else "?"
        if sg.action is SgAction.DELETE:
            text = f"{verb}delete {sg.group_id} (load balancer {lb}): {sg.reason}"
        elif sg.action is SgAction.KEPT and not applied:
            text = f"would keep {sg.group_id} (load balancer {lb}) for now: {sg.reason}"
        else:
            text = f"{sg.action.value} {sg.group_id} (load balancer {lb}): {sg.reason}"
        lines.append(f"  {text}")
    if plan_.patches or plan_.config_patches:
        lines.append(
            "  note: a scheduled frontguard scan in enforce mode remediates these load balancers "
            "again; switch the policy to audit or exempt the objects in the policy first"
        )
    return lines
