"""Gateway API load balancers: the Gateway, its class, and their LoadBalancerConfigurations.

A Gateway's security groups come from a ``LoadBalancerConfiguration`` (group
``gateway.k8s.aws``, ``v1`` from LBC v3.5, ``v1beta1`` before): the one its
``spec.infrastructure.parametersRef`` names, merged with the one its GatewayClass's
``spec.parametersRef`` names, the class-level one winning by default (DESIGN.md).

frontguard changes only the Gateway's own configuration, with a JSON merge patch of
``spec.securityGroups`` and ``spec.manageBackendSecurityGroupRules`` (other fields untouched);
when the Gateway has none, it creates one in the Gateway's namespace under a deterministic
name and points the Gateway's ``parametersRef`` at it. A class-level configuration that pins
``securityGroups`` is not fought: the engine reports ``conflict``. What frontguard replaced is
kept in ``frontguard.io/replaced`` on the configuration, for ``revert``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frontguard import tags as t
from frontguard.adapters.kube import KubeClient, KubeObject, ObjectPath
from frontguard.controller import gateway as rules
from frontguard.errors import NotFoundError, RetryableError
from frontguard.policy import Policy
from frontguard.sources import Sources

GATEWAY_API = "/apis/gateway.networking.k8s.io/v1"
SG_FIELD = rules.SG_FIELD
BACKEND_FIELD = rules.BACKEND_FIELD


def gateway_path(namespace: str, name: str) -> ObjectPath:
    return ObjectPath(f"{GATEWAY_API}/gateways", namespace, name)


def config_path(version: str, namespace: str, name: str) -> ObjectPath:
    return ObjectPath(
        f"/apis/{t.GATEWAY_CONFIG_GROUP}/{version}/loadbalancerconfigurations", namespace, name
    )


def frontguard_config_name(gateway_name: str) -> str:
    """The deterministic name of the configuration frontguard creates for a Gateway."""
    return f"frontguard-{gateway_name}"[:253]


@dataclass(frozen=True)
class Configuration:
    """One LoadBalancerConfiguration as read, with the API version that served it."""

    obj: KubeObject
    version: str

    @property
    def spec(self) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = self.obj.get("spec") or {}
        return spec

    @property
    def path(self) -> ObjectPath:
        meta = self.obj.get("metadata", {})
        return config_path(self.version, meta.get("namespace", ""), meta.get("name", ""))

    @property
    def ref(self) -> str:
        return f"{self.path.namespace}/{self.path.name}"


def read_configuration(kube: KubeClient, namespace: str, name: str) -> Configuration | None:
    """The configuration ``namespace/name`` at ``v1``, else ``v1beta1``; ``None`` if absent."""
    for version in t.GATEWAY_CONFIG_VERSIONS:
        try:
            return Configuration(kube.get(config_path(version, namespace, name)), version)
        except NotFoundError:
            continue
    return None


@dataclass(frozen=True)
class GatewayOwner:
    """A Gateway with its class and both configurations, as read from the cluster."""

    gateway: KubeObject
    gateway_class: KubeObject | None
    config: Configuration | None  # the Gateway's own (referenced, or frontguard's by name)
    referenced: bool  # the Gateway's parametersRef names ``config``
    class_config: Configuration | None
    auto_mode: bool = False
    problem: str | None = None  # the controller cannot reconcile this Gateway as it stands
    # Why ``frontguard-<gateway>`` exists but is not frontguard's to adopt (someone else
    # created it): frontguard then neither references nor patches it.
    squatted: str | None = None

    @property
    def namespace(self) -> str:
        return str(self.gateway.get("metadata", {}).get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.gateway.get("metadata", {}).get("name", ""))

    @property
    def path(self) -> ObjectPath:
        return gateway_path(self.namespace, self.name)

    @property
    def objects(self) -> tuple[KubeObject, ...]:
        return (self.gateway,) + ((self.config.obj,) if self.config else ())

    @property
    def handled(self) -> bool:
        return rules.class_controller_served(self.gateway_class, auto_mode=self.auto_mode)

    @property
    def reason(self) -> str:
        controller = ((self.gateway_class or {}).get("spec") or {}).get("controllerName")
        return f"GatewayClass controller {controller}"

    @property
    def class_spec(self) -> Mapping[str, Any] | None:
        return self.class_config.spec if self.class_config is not None else None

    @property
    def class_pin(self) -> list[str] | None:
        """Security groups the class-level configuration decides (its mergingMode keeps the
        class's value, which is set, possibly to an empty list); ``None`` when the Gateway's
        own configuration decides."""
        if not rules.class_wins(self.class_spec, SG_FIELD):
            return None
        return [str(g) for g in (self.class_spec or {}).get(SG_FIELD) or []]

    def _merged(self, field: str) -> Any:
        own = self.config.spec if self.config is not None and self.referenced else None
        return rules.merged_field(self.class_spec, own, field)

    @property
    def security_groups(self) -> list[str]:
        return [str(g) for g in self._merged(SG_FIELD) or []]

    @property
    def backend_managed(self) -> bool:
        return self._merged(BACKEND_FIELD) is True

    @property
    def scheme(self) -> str:
        """The scheme of the Gateway's load balancer as the merged configuration builds it
        (ValueError for a value the controller rejects)."""
        return rules.gateway_scheme(self._merged("scheme"))

    def restriction(self) -> Sources | None:
        """``sourceRanges`` / ``securityGroupPrefixes``: ignored by the controller once a custom
        SG is set, so frontguard carries them into its own rules. The managed SG admits
        ``0.0.0.0/0`` and ``::/0`` unless ``sourceRanges`` is non-nil, which replaces them even
        when empty (then only the prefix lists, or no one); prefix lists are added next to the
        CIDRs, so with ``sourceRanges`` unset they restrict nothing
        (LBC:pkg/gateway/model/model_build_security_group.go
        buildManagedSecurityGroupIngressPermissions)."""
        ranges = self._merged("sourceRanges")
        if ranges is None:
            return None
        prefix_lists = _as_strings(self._merged("securityGroupPrefixes"))
        return Sources.of([*_as_strings(ranges), *prefix_lists])

    @property
    def path_mtu(self) -> bool:
        """``enableICMP: true``: the managed SG admits path-MTU ICMP from every source CIDR
        (LBC:pkg/gateway/model/model_build_security_group.go
        buildManagedSecurityGroupIngressPermissions)."""
        return self._merged("enableICMP") is True

    def kept_approved(self, policy: Policy) -> list[str]:
        """Approved SGs the Gateway's own configuration already names."""
        current = [str(g) for g in self.config.spec.get(SG_FIELD) or []] if self.config else []
        return [g for g in current if g in policy.approved_security_groups]

    def approved_only(self, policy: Policy) -> bool:
        groups = self.security_groups
        return (
            bool(groups) and set(groups) <= policy.approved_security_groups and self.backend_managed
        )


def _as_strings(value: Any) -> list[str]:
    """A configuration field that should be a list of strings, as one (user input: a wrong
    type becomes an unparsable entry, reported like any other, instead of a TypeError)."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def resolve(
    kube: KubeClient, namespace: str, name: str, *, auto_mode: bool = False
) -> GatewayOwner:
    """Read the Gateway, its class and configurations (NotFoundError when the Gateway is gone).

    A configuration the Gateway references but that does not exist (yet) is retried later:
    the controller cannot build the Gateway either until it appears.
    """
    gateway = kube.get(gateway_path(namespace, name))
    class_name = gateway.get("spec", {}).get("gatewayClassName")
    gateway_class: KubeObject | None = None
    if class_name:
        try:
            gateway_class = kube.get_cluster_scoped(f"{GATEWAY_API}/gatewayclasses", class_name)
        except NotFoundError:
            gateway_class = None

    class_config: Configuration | None = None
    problem: str | None = None
    try:
        class_ref = rules.class_reference(gateway_class)
    except ValueError as error:
        class_ref = None
        problem = f"GatewayClass {class_name} is not Accepted by the controller: {error}"
    if class_ref is not None:
        class_config = read_configuration(kube, *class_ref)

    ref = rules.gateway_reference(gateway)
    if ref is not None:
        config = read_configuration(kube, namespace, ref)
        if config is None:
            raise RetryableError(
                f"Gateway {namespace}/{name} references LoadBalancerConfiguration "
                f"{ref}, which does not exist (yet)"
            )
        return GatewayOwner(gateway, gateway_class, config, True, class_config, auto_mode, problem)
    # No reference: frontguard's own configuration may exist from an earlier, unfinished run.
    ours = read_configuration(kube, namespace, frontguard_config_name(name))
    if ours is not None and (squatted := _not_created_by_frontguard(ours)) is not None:
        return GatewayOwner(
            gateway, gateway_class, None, False, class_config, auto_mode, problem, squatted
        )
    return GatewayOwner(gateway, gateway_class, ours, False, class_config, auto_mode, problem)


FRONTGUARD_LABEL = ("app.kubernetes.io/managed-by", "frontguard")


def _not_created_by_frontguard(config: Configuration) -> str | None:
    """Why an unreferenced ``frontguard-<gateway>`` configuration is not the one frontguard
    created (``None`` when it is): frontguard creates it with its label, a record saying
    ``created``, and nothing in its spec but the two fields it sets. Anyone allowed to create
    configurations in the namespace could otherwise pre-create it with their own scheme,
    listeners or certificates and have frontguard wire it to the Gateway."""
    meta = config.obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(FRONTGUARD_LABEL[0]) != FRONTGUARD_LABEL[1]:
        return f"it lacks the label {FRONTGUARD_LABEL[0]}={FRONTGUARD_LABEL[1]}"
    try:
        record = json.loads((meta.get("annotations") or {}).get(t.REPLACED_ANNOTATION) or "{}")
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("created") is not True:
        return f"its {t.REPLACED_ANNOTATION} record does not say frontguard created it"
    extra = sorted(set(config.spec) - {SG_FIELD, BACKEND_FIELD})
    if extra:
        return f"its spec sets fields frontguard never sets ({', '.join(extra)})"
    return None


# --- Changes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigurationChange:
    """Point the Gateway's own configuration at frontguard's SG (create it when missing)."""

    owner: GatewayOwner
    security_groups: tuple[str, ...]

    @property
    def config_name(self) -> str:
        config = self.owner.config
        return config.path.name if config else frontguard_config_name(self.owner.name)

    @property
    def target(self) -> str:
        return f"{self.owner.namespace}/{self.config_name}"

    def _spec(self) -> dict[str, Any]:
        return {SG_FIELD: list(self.security_groups), BACKEND_FIELD: True}

    def _replaced(self) -> str | None:
        """The record of what was there before, once (``None`` when already recorded)."""
        config = self.owner.config
        annotations = (config.obj if config else {}).get("metadata", {}).get("annotations") or {}
        if t.REPLACED_ANNOTATION in annotations:
            return None
        spec = config.spec if config else {}
        record: dict[str, Any] = {
            f"spec.{SG_FIELD}": spec.get(SG_FIELD),
            f"spec.{BACKEND_FIELD}": spec.get(BACKEND_FIELD),
        }
        if config is None:
            record["created"] = True
        if not self.owner.referenced:
            record["gateway.spec.infrastructure.parametersRef"] = None
        return json.dumps(record, sort_keys=True)

    def _gateway_ref(self) -> dict[str, Any]:
        return {
            "spec": {
                "infrastructure": {
                    "parametersRef": {
                        "group": t.GATEWAY_CONFIG_GROUP,
                        "kind": t.GATEWAY_CONFIG_KIND,
                        "name": self.config_name,
                    }
                }
            }
        }

    def summary(self) -> dict[str, Any]:
        """What the change sets, for audit and GitOps alerts (keys name the objects)."""
        verb = "patch" if self.owner.config else "create"
        changes: dict[str, Any] = {
            f"LoadBalancerConfiguration {self.target} ({verb})": {
                f"spec.{SG_FIELD}": ",".join(self.security_groups),
                f"spec.{BACKEND_FIELD}": "true",
            }
        }
        if not self.owner.referenced:
            changes[f"Gateway {self.owner.namespace}/{self.owner.name}"] = {
                "spec.infrastructure.parametersRef": (
                    f"{t.GATEWAY_CONFIG_GROUP}/{t.GATEWAY_CONFIG_KIND} {self.config_name}"
                )
            }
        return changes

    def apply(self, kube: KubeClient) -> None:
        replaced = self._replaced()
        metadata: dict[str, Any] = (
            {"annotations": {t.REPLACED_ANNOTATION: replaced}} if replaced else {}
        )
        config = self.owner.config
        if config is not None:
            kube.merge_patch(config.path, {"metadata": metadata, "spec": self._spec()})
        else:
            _create_configuration(kube, self.owner, self.config_name, metadata, self._spec())
        if not self.owner.referenced:
            kube.merge_patch(self.owner.path, self._gateway_ref())


def _create_configuration(
    kube: KubeClient, owner: GatewayOwner, name: str, metadata: dict[str, Any], spec: Any
) -> None:
    """Create at the class-level configuration's version, else ``v1``, else ``v1beta1``."""
    versions = list(t.GATEWAY_CONFIG_VERSIONS)
    if owner.class_config is not None:
        versions.remove(owner.class_config.version)
        versions.insert(0, owner.class_config.version)
    labels = {FRONTGUARD_LABEL[0]: FRONTGUARD_LABEL[1]}
    for version in versions:
        body = {
            "apiVersion": f"{t.GATEWAY_CONFIG_GROUP}/{version}",
            "kind": t.GATEWAY_CONFIG_KIND,
            "metadata": {**metadata, "labels": labels},
            "spec": spec,
        }
        try:
            kube.create(config_path(version, owner.namespace, name), body)
        except NotFoundError:
            continue  # this version is not served by the cluster
        return
    raise NotFoundError(
        f"no {t.GATEWAY_CONFIG_KIND} API ({', '.join(versions)}) is served by the cluster"
    )


def change_for(owner: GatewayOwner, desired: list[str]) -> list[ConfigurationChange]:
    """The change that makes the Gateway's own configuration name ``desired`` (frontguard's SG
    first, then the approved SGs kept); none when it already does and the Gateway refers to
    it."""
    current = [str(g) for g in owner.config.spec.get(SG_FIELD) or []] if owner.config else []
    if (
        owner.config is not None
        and owner.referenced
        and current == desired
        and owner.config.spec.get(BACKEND_FIELD) is True
    ):
        return []
    return [ConfigurationChange(owner, tuple(desired))]


def class_pin_fix(owner: GatewayOwner, sg_id: str | None) -> str:
    """The way out of a class-level pin, for the ``conflict`` alert."""
    class_config = owner.class_config
    where = class_config.ref if class_config else "the GatewayClass's configuration"
    class_name = (owner.gateway_class or {}).get("metadata", {}).get("name", "?")
    return (
        f"The GatewayClass {class_name} pins spec.securityGroups in LoadBalancerConfiguration "
        f"{where}, which wins over the Gateway's own configuration. Either add frontguard's "
        f"security group ({sg_id or 'created on first remediation'}) there, or remove "
        "securityGroups from the class-level configuration (or set its mergingMode so the "
        "Gateway's configuration wins) and let frontguard patch the Gateway's configuration; "
        "or have the Gateway exempted in the policy."
    )
