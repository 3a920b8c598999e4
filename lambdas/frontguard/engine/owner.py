"""The owner of a load balancer, read from its cluster and judged by the controller's rules.

One reading serves the event path, the scan, verification and revert: the stack tag names the
owner, :mod:`frontguard.controller` says which objects the controller builds that load
balancer from and what they restrict, and this module only does the reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from frontguard import tags as t
from frontguard.adapters.kube import (
    CORE,
    ELBV2,
    NETWORKING,
    KubeClient,
    ObjectPath,
    ingress_path,
    service_path,
)
from frontguard.controller.ingress import (
    ClassifiedIngress,
    ControllerBuildError,
    IngressClasses,
    classify_ingress,
    group_restrictions,
    members_of,
    stack_of,
)
from frontguard.controller.objects import AnnotationError, KubeObject, namespace_of, object_id
from frontguard.controller.restrictions import UNRESTRICTED, Restrictions
from frontguard.controller.service import (
    path_mtu_discovery,
    service_handled,
    service_restrictions,
)
from frontguard.engine import gateway
from frontguard.errors import NotFoundError
from frontguard.model import OwnerKind, OwnerRef
from frontguard.policy import ControllerFlags


@dataclass(frozen=True)
class ClusterObjects:
    """What a caller (the scan) listed once for one cluster, indexed so that resolving the
    owner of each load balancer reads nothing more. Built for the controller itself (not
    EKS Auto Mode, whose owners are read one by one)."""

    services: Mapping[str, KubeObject]  # by namespace/name
    ingresses: Mapping[str, KubeObject]  # by namespace/name
    classes: IngressClasses | None = None  # None: the cluster's LBs have no Ingress owner
    stacks: Mapping[str, tuple[ClassifiedIngress, ...]] = field(default_factory=dict)

    @classmethod
    def index(
        cls,
        services: Sequence[KubeObject],
        ingresses: Sequence[KubeObject],
        classes: IngressClasses | None,
        flags: ControllerFlags,
    ) -> ClusterObjects:
        stacks: dict[str, list[ClassifiedIngress]] = {}
        if classes is not None:
            for ingress in ingresses:
                classified = classify_ingress(ingress, classes, flags)
                stack = stack_of(classified)
                if stack is not None:
                    stacks.setdefault(stack, []).append(classified)
        return cls(
            {object_id(s): s for s in services},
            {object_id(i): i for i in ingresses},
            classes,
            {k: tuple(sorted(v, key=lambda c: c.id)) for k, v in stacks.items()},
        )


def read_classes(kube: KubeClient, *, auto_mode: bool = False) -> IngressClasses:
    """IngressClasses, and only when one of the controller's classes names parameters, the
    IngressClassParams (one list each); namespaces only when a params object selects them."""
    classes = kube.ingress_classes()
    controller = t.AUTO_MODE_ALB_CONTROLLER if auto_mode else t.ALB_CONTROLLER
    wants_params = any(
        (c.get("spec") or {}).get("controller") == controller
        and (c.get("spec") or {}).get("parameters")
        for c in classes
    )
    if not wants_params:
        return IngressClasses.of(classes)
    api = t.AUTO_MODE_PARAMS_API if auto_mode else ELBV2
    params = kube.list_items(f"{api}/ingressclassparams")
    catalog = IngressClasses.of(classes, params)
    if catalog.needs_namespaces:
        return IngressClasses.of(classes, params, kube.list_items(f"{CORE}/namespaces"))
    return catalog


@dataclass(frozen=True)
class Owner:
    """The owner objects of one load balancer, as the controller sees them.

    ``problem``: the controller itself cannot build these objects (or frontguard cannot read
    a value the way the controller would): nothing frontguard writes would take effect, and
    nothing is planned from a value that could not be read.
    """

    ref: OwnerRef
    objects: tuple[KubeObject, ...]
    paths: tuple[ObjectPath, ...]
    handled: bool
    reason: str = ""
    restrictions: Restrictions = UNRESTRICTED
    gateway: gateway.GatewayOwner | None = None  # Gateway API owners only
    problem: str | None = None
    members: tuple[ClassifiedIngress, ...] = field(default=())
    # The owner asks for path-MTU discovery ICMP (controller/service.py path_mtu_discovery,
    # a Gateway's enableICMP): frontguard's SG keeps it, from the planned sources.
    path_mtu: bool = False

    @property
    def namespaces(self) -> list[str]:
        return sorted({namespace_of(o) for o in self.objects})


def resolve_owner(
    kube: KubeClient,
    ref: OwnerRef,
    flags: ControllerFlags,
    *,
    listed: ClusterObjects | None = None,
) -> Owner:
    """Read the owner objects the stack tag names (NotFoundError when none is left)."""
    if ref.kind is OwnerKind.SERVICE:
        return _service_owner(kube, ref, flags, listed)
    if ref.kind is OwnerKind.GATEWAY:
        assert ref.namespace and ref.name
        found = gateway.resolve(kube, ref.namespace, ref.name, auto_mode=ref.auto_mode)
        paths = (found.path,) + ((found.config.path,) if found.config else ())
        try:
            restrictions = Restrictions.everywhere(found.restriction())
        except ValueError as error:
            return Owner(
                ref, found.objects, paths, found.handled, gateway=found, problem=str(error)
            )
        return Owner(
            ref,
            found.objects,
            paths,
            found.handled,
            found.reason,
            restrictions,
            gateway=found,
            problem=found.problem,
            path_mtu=found.path_mtu,
        )
    if ref.kind in (OwnerKind.INGRESS, OwnerKind.INGRESS_GROUP):
        return _ingress_owner(kube, ref, flags, listed)
    raise NotFoundError(f"owner kind {ref.kind.value} is not resolved here")


def _service_owner(
    kube: KubeClient, ref: OwnerRef, flags: ControllerFlags, listed: ClusterObjects | None
) -> Owner:
    assert ref.namespace and ref.name
    path = service_path(ref.namespace, ref.name)
    if listed is not None and not ref.auto_mode:
        service = listed.services.get(f"{ref.namespace}/{ref.name}")
        if service is None:
            raise NotFoundError(f"Service {ref.namespace}/{ref.name} not found")
    else:
        service = kube.get(path)
    handled, reason = service_handled(service, flags, auto_mode=ref.auto_mode)
    try:
        restrictions = service_restrictions(service, auto_mode=ref.auto_mode)
    except AnnotationError as error:
        return Owner(ref, (service,), (path,), handled, reason, problem=str(error))
    return Owner(
        ref,
        (service,),
        (path,),
        handled,
        reason,
        restrictions,
        path_mtu=path_mtu_discovery(service),
    )


def _ingress_owner(
    kube: KubeClient, ref: OwnerRef, flags: ControllerFlags, listed: ClusterObjects | None
) -> Owner:
    if listed is not None and listed.classes is not None and not ref.auto_mode:
        members = _listed_members(ref, listed, flags)
    else:
        members = _read_members(kube, ref, flags)
    objects = tuple(m.ingress for m in members)
    paths = tuple(ingress_path(namespace_of(o), str(o["metadata"]["name"])) for o in objects)
    handled = all(m.handled for m in members)
    reason = "; ".join(sorted({m.reason for m in members}))
    try:
        restrictions = group_restrictions(members, frontend_nlb=ref.frontend_nlb)
    except (AnnotationError, ControllerBuildError) as error:
        return Owner(
            ref, objects, paths, handled, reason, problem=str(error), members=tuple(members)
        )
    return Owner(ref, objects, paths, handled, reason, restrictions, members=tuple(members))


def _listed_members(
    ref: OwnerRef, listed: ClusterObjects, flags: ControllerFlags
) -> list[ClassifiedIngress]:
    stack = ref.group or f"{ref.namespace}/{ref.name}"
    members = list(listed.stacks.get(stack, ()))
    if members:
        return members
    if ref.kind is OwnerKind.INGRESS and stack in listed.ingresses:
        assert listed.classes is not None
        # Listed but not building this load balancer: not the controller's (any more).
        classified = classify_ingress(listed.ingresses[stack], listed.classes, flags)
        if not classified.handled:
            return [classified]
    raise NotFoundError(f"no Ingress the controller manages builds stack {stack}")


def _read_members(
    kube: KubeClient, ref: OwnerRef, flags: ControllerFlags
) -> list[ClassifiedIngress]:
    classes = read_classes(kube, auto_mode=ref.auto_mode)
    if ref.kind is OwnerKind.INGRESS:
        assert ref.namespace and ref.name
        stack = f"{ref.namespace}/{ref.name}"
        classified = classify_ingress(
            kube.get(ingress_path(ref.namespace, ref.name)), classes, flags, auto_mode=ref.auto_mode
        )
        if classified.handled and stack_of(classified, auto_mode=ref.auto_mode) != stack:
            # It joined an IngressGroup (or has an invalid group name): the controller
            # builds another load balancer from it and will delete this one.
            raise NotFoundError(f"Ingress {stack} no longer builds this load balancer")
        return [classified]
    assert ref.group
    ingresses = list(kube.list_paged(f"{NETWORKING}/ingresses"))
    members = members_of(ref.group, ingresses, classes, flags, auto_mode=ref.auto_mode)
    if not members:
        raise NotFoundError(f"no Ingress the controller manages is in group {ref.group}")
    return members
