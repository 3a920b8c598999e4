"""Which annotations and LoadBalancerConfiguration fields a revert restores: each object's
``frontguard.io/replaced`` record read back into a patch, or the reason it is left alone (a
record that does not parse, SGs someone changed since, an IngressGroup whose members would
disagree). Reads only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from frontguard import tags as t
from frontguard.adapters.kube import KubeClient, KubeObject
from frontguard.controller.ingress import classify_ingress, stack_of
from frontguard.controller.objects import annotations_of, object_id, split_list
from frontguard.engine import gateway as gw
from frontguard.engine.owner import read_classes
from frontguard.engine.revert.model import (
    CONFIG_FIELDS,
    CONFIG_RECORD_KEYS,
    GATEWAY_REF,
    RESTORABLE,
    SG_ANNOTATIONS,
    ConfigRevert,
    ObjectRevert,
    Scope,
)
from frontguard.errors import NotFoundError
from frontguard.policy import ControllerFlags


def ingress_groups(
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


def read_configurations(kube: KubeClient) -> list[gw.Configuration]:
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


def config_revert(kube: KubeClient, config: gw.Configuration, ours: set[str]) -> ConfigRevert:
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


def configuration_names(
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


def annotations_after(obj: KubeObject, revert: ObjectRevert | None) -> Mapping[str, str]:
    annotations = dict(annotations_of(obj))
    if revert is not None and revert.skipped is None:
        for key, value in revert.patch.items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
    return annotations


def _check_groups(
    ingresses: list[KubeObject],
    group_of: Mapping[str, str],
    selected: set[str],
    reverts: dict[str, ObjectRevert],
) -> None:
    """Members of one IngressGroup must end with identical SG values, or none is patched."""
    for group in sorted(selected):
        members = [i for i in ingresses if group_of.get(object_id(i)) == group]
        keys = [f"ingress/{object_id(m)}" for m in members]
        skipped = [reverts[k] for k in keys if k in reverts and reverts[k].skipped]
        values: dict[str, set[str]] = {}
        for member, key in zip(members, keys, strict=True):
            after = annotations_after(member, reverts.get(key))
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


def object_reverts(
    scope: Scope,
    services: list[KubeObject],
    ingresses: list[KubeObject],
    group_of: Mapping[str, str],
    ours: set[str],
) -> tuple[dict[str, ObjectRevert], list[str]]:
    """Each Service's and Ingress's restore by ``kind/ns/name``, and notes for the reader. An
    IngressGroup is reverted whole: any member in scope brings in every member."""
    selected_groups = {
        group_of[object_id(i)]
        for i in ingresses
        if scope.selects("ingress", i)
        and t.REPLACED_ANNOTATION in annotations_of(i)
        and object_id(i) in group_of
    }
    notes: list[str] = []
    reverts: dict[str, ObjectRevert] = {}
    for service in services:
        if scope.selects("service", service) and t.REPLACED_ANNOTATION in annotations_of(service):
            reverts["service/" + object_id(service)] = _object_revert(
                "service", service, ours, None
            )
    for ingress in ingresses:
        group = group_of.get(object_id(ingress))
        in_scope = scope.selects("ingress", ingress) or group in selected_groups
        if in_scope and t.REPLACED_ANNOTATION in annotations_of(ingress):
            if group is not None and not scope.selects("ingress", ingress):
                notes.append(
                    f"ingress/{object_id(ingress)} is reverted too: it is a member of "
                    f"IngressGroup {group}, which is reverted as a whole"
                )
            reverts["ingress/" + object_id(ingress)] = _object_revert(
                "ingress", ingress, ours, group
            )
    _check_groups(ingresses, group_of, selected_groups, reverts)
    return reverts, notes


def annotation_names(
    services: Iterable[KubeObject],
    ingresses: Iterable[KubeObject],
    reverts: Mapping[str, ObjectRevert],
) -> dict[str, str]:
    """What annotations name once the patches are in: those SGs must stay."""
    named: dict[str, str] = {}
    for kind, objects in (("service", services), ("ingress", ingresses)):
        for obj in objects:
            after = annotations_after(obj, reverts.get(f"{kind}/{object_id(obj)}"))
            for key in SG_ANNOTATIONS:
                for group_id in split_list(after.get(key)):
                    named.setdefault(group_id, f"the annotations of {kind}/{object_id(obj)}")
    return named
