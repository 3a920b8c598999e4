"""What a revert is made of: its :class:`Scope`, one :class:`ObjectRevert` per Service or
Ingress, one :class:`ConfigRevert` per LoadBalancerConfiguration, one :class:`SgRevert` per
frontguard SG, gathered in a :class:`RevertPlan`; and the record keys they are read from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from frontguard import tags as t
from frontguard.adapters.kube import KubeObject, ObjectPath, ingress_path, service_path
from frontguard.engine import gateway as gw

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
