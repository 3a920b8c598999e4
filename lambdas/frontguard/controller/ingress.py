"""Ingresses: which ones the controller manages, their IngressGroup, listen ports and
per-port source restrictions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from frontguard import tags as t
from frontguard.controller.objects import (
    AnnotationError,
    KubeObject,
    annotations_of,
    being_deleted,
    labels_of,
    name_of,
    namespace_of,
    object_id,
    selector_matches,
    split_list,
)
from frontguard.controller.restrictions import Restrictions, parse_cidrs
from frontguard.policy import ControllerFlags
from frontguard.sources import Sources, effective_sources

CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LISTEN_PORTS = "alb.ingress.kubernetes.io/listen-ports"
CERTIFICATE_ARN = "alb.ingress.kubernetes.io/certificate-arn"
CREATE_ACM_CERT = "alb.ingress.kubernetes.io/create-acm-cert"
FRONTEND_NLB_PORT_MAPPING = "alb.ingress.kubernetes.io/frontend-nlb-listener-port-mapping"
ENABLE_FRONTEND_NLB = "alb.ingress.kubernetes.io/enable-frontend-nlb"
FRONTEND_NLB_HEALTHCHECK_PORT = "alb.ingress.kubernetes.io/frontend-nlb-healthcheck-port"
PARAMS_API_GROUP = "elbv2.k8s.aws"
PARAMS_KIND = "IngressClassParams"

# LBC:pkg/ingress/group_loader.go validateGroupName
_GROUP_NAME = re.compile(r"^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$")
_MAX_GROUP_NAME = 63


class ControllerBuildError(Exception):
    """The controller itself fails to build the model for these objects (a
    ``FailedBuildModel`` Event): nothing in the stack is deployed until it is fixed."""


@dataclass(frozen=True)
class IngressClasses:
    """One cluster's IngressClasses and IngressClassParams, read once per cluster.

    ``namespace_labels`` is needed only when some IngressClassParams has a
    ``namespaceSelector``; ``None`` means "not read" and fails such a selector closed.
    """

    classes: Mapping[str, KubeObject] = field(default_factory=dict)
    params: Mapping[str, KubeObject] = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None

    @classmethod
    def of(
        cls,
        classes: Iterable[KubeObject],
        params: Iterable[KubeObject] = (),
        namespaces: Iterable[KubeObject] | None = None,
    ) -> IngressClasses:
        return cls(
            {name_of(c): c for c in classes},
            {name_of(p): p for p in params},
            None if namespaces is None else {name_of(n): labels_of(n) for n in namespaces},
        )

    @property
    def needs_namespaces(self) -> bool:
        return any(
            (p.get("spec") or {}).get("namespaceSelector") is not None for p in self.params.values()
        )

    def default_class(self) -> str | None:
        """The IngressClass annotated as the cluster default (LBC:pkg/ingress/class_loader.go
        GetDefaultIngressClass: two defaults are an error)."""
        defaults = [
            name
            for name, ingress_class in self.classes.items()
            if annotations_of(ingress_class).get(DEFAULT_CLASS_ANNOTATION) == "true"
        ]
        if len(defaults) > 1:
            raise AnnotationError("multiple default IngressClasses found")
        return defaults[0] if defaults else None


@dataclass(frozen=True)
class ClassifiedIngress:
    """An Ingress with the verdict of the controller's class check and its class's params."""

    ingress: KubeObject
    handled: bool
    reason: str
    params: KubeObject | None = None  # IngressClassParams, only when the class names them

    @property
    def params_spec(self) -> Mapping[str, object]:
        spec: Mapping[str, object] = (self.params or {}).get("spec") or {}
        return spec

    @property
    def id(self) -> str:
        return object_id(self.ingress)


def _alb_controller(flags: ControllerFlags, *, auto_mode: bool) -> str:
    return t.AUTO_MODE_ALB_CONTROLLER if auto_mode else t.ALB_CONTROLLER


def classify_ingress(
    ingress: KubeObject,
    classes: IngressClasses,
    flags: ControllerFlags,
    *,
    auto_mode: bool = False,
) -> ClassifiedIngress:
    """Does the controller manage this Ingress, and with which IngressClassParams?

    LBC:pkg/ingress/group_loader.go classifyIngress: the ``kubernetes.io/ingress.class``
    annotation takes priority over ``spec.ingressClassName`` and is matched against the
    controller's ``--ingress-class`` (LBC:pkg/ingress/class_annotation_matcher.go), with no
    IngressClass object and no params; otherwise the class (or the cluster's default class,
    LBC:pkg/ingress/class_loader.go Load) must be served by ``ingress.k8s.aws/alb``; with no
    class at all the Ingress is managed only when ``--ingress-class`` is empty
    (LBC:controllers/ingress/group_controller.go). EKS Auto Mode does not support the class
    annotation (docs.aws.amazon.com/eks/latest/userguide/auto-configure-alb.html).
    """
    if being_deleted(ingress):
        return ClassifiedIngress(ingress, False, "being deleted")
    annotations = annotations_of(ingress)
    if not auto_mode and CLASS_ANNOTATION in annotations:
        value = annotations[CLASS_ANNOTATION]
        matches = value == flags.ingress_class or (flags.ingress_class == "" and value == "alb")
        if matches:
            return ClassifiedIngress(ingress, True, f"{CLASS_ANNOTATION}: {value}")
        return ClassifiedIngress(
            ingress, False, f"{CLASS_ANNOTATION} {value!r} is not the controller's class"
        )
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    try:
        class_name = class_name or classes.default_class()
    except AnnotationError as error:
        return ClassifiedIngress(ingress, False, str(error))
    if not class_name:
        if flags.ingress_class == "" and not auto_mode:
            return ClassifiedIngress(ingress, True, "no class; the controller manages classless")
        return ClassifiedIngress(ingress, False, "no IngressClass and no default IngressClass")
    ingress_class = classes.classes.get(class_name)
    if ingress_class is None:
        return ClassifiedIngress(ingress, False, f"IngressClass {class_name} does not exist")
    spec = ingress_class.get("spec") or {}
    if spec.get("controller") != _alb_controller(flags, auto_mode=auto_mode):
        return ClassifiedIngress(
            ingress, False, f"IngressClass {class_name} is served by {spec.get('controller')}"
        )
    return _with_params(ingress, class_name, spec.get("parameters"), classes, auto_mode=auto_mode)


def _with_params(
    ingress: KubeObject,
    class_name: str,
    ref: Mapping[str, object] | None,
    classes: IngressClasses,
    *,
    auto_mode: bool,
) -> ClassifiedIngress:
    """The class's IngressClassParams: an unknown kind, a missing object or a namespace the
    params' ``namespaceSelector`` refuses makes the class invalid for this Ingress
    (LBC:pkg/ingress/class_loader.go Load, validateIngressClassParamsNamespaceRestriction)."""
    if ref is None:
        return ClassifiedIngress(ingress, True, f"IngressClass {class_name}")
    want_group = "eks.amazonaws.com" if auto_mode else PARAMS_API_GROUP
    if ref.get("apiGroup") != want_group or ref.get("kind") != PARAMS_KIND:
        return ClassifiedIngress(
            ingress, False, f"IngressClass {class_name} references unknown parameters"
        )
    params = classes.params.get(str(ref.get("name")))
    if params is None:
        return ClassifiedIngress(
            ingress, False, f"IngressClassParams {ref.get('name')} does not exist"
        )
    selector = (params.get("spec") or {}).get("namespaceSelector")
    if selector is not None:
        labels = (classes.namespace_labels or {}).get(namespace_of(ingress))
        if labels is None or not selector_matches(selector, labels):
            return ClassifiedIngress(
                ingress,
                False,
                f"namespaceSelector of IngressClassParams {name_of(params)} does not match",
            )
    return ClassifiedIngress(ingress, True, f"IngressClass {class_name}", params)


# --- IngressGroups ------------------------------------------------------------------------


def group_name(classified: ClassifiedIngress, *, auto_mode: bool = False) -> str | None:
    """The explicit IngressGroup this Ingress belongs to, ``None`` for its implicit group of
    one (stack tag ``namespace/name``). IngressClassParams ``group.name`` wins over the
    ``group.name`` annotation (LBC:pkg/ingress/group_loader.go loadGroupID); an invalid name
    leaves every group (AnnotationError). Auto Mode takes groups from the IngressClass only
    (docs.aws.amazon.com/eks/latest/userguide/auto-configure-alb.html)."""
    params_group = classified.params_spec.get("group")
    if isinstance(params_group, Mapping) and params_group.get("name") is not None:
        return _valid_group(str(params_group["name"]))
    if auto_mode:
        return None
    name = annotations_of(classified.ingress).get(t.INGRESS_GROUP_ANNOTATION)
    return None if name is None else _valid_group(name)


def _valid_group(name: str) -> str:
    if not _GROUP_NAME.match(name) or len(name) > _MAX_GROUP_NAME:
        raise AnnotationError(f"invalid IngressGroup name {name!r}")
    return name


def stack_of(classified: ClassifiedIngress, *, auto_mode: bool = False) -> str | None:
    """The stack tag value of the ALB this Ingress contributes to, ``None`` when the
    controller does not manage it (or its group name is invalid)."""
    if not classified.handled:
        return None
    try:
        group = group_name(classified, auto_mode=auto_mode)
    except AnnotationError:
        return None
    return group if group is not None else classified.id


def members_of(
    stack: str,
    ingresses: Iterable[KubeObject],
    classes: IngressClasses,
    flags: ControllerFlags,
    *,
    auto_mode: bool = False,
) -> list[ClassifiedIngress]:
    """The Ingresses that build the ALB with stack tag ``stack``: only Ingresses the
    controller manages, whatever annotations the others carry. Sorted by name, as the
    controller sorts members of equal ``group.order``."""
    found = []
    for ingress in ingresses:
        classified = classify_ingress(ingress, classes, flags, auto_mode=auto_mode)
        if stack_of(classified, auto_mode=auto_mode) == stack:
            found.append(classified)
    return sorted(found, key=lambda c: c.id)


# --- Listen ports and restrictions ---------------------------------------------------------


def listen_ports(classified: ClassifiedIngress) -> dict[int, str]:
    """Port → protocol. Without ``listen-ports``: 443/HTTPS when a certificate is configured
    (annotation or IngressClassParams ``certificateArn``) or the Ingress asks the controller
    to create one (``create-acm-cert: "true"``), else 80/HTTP
    (LBC:pkg/ingress/model_build_listener.go computeIngressListenPorts: preferTLS is
    len(explicitTLSCertARNs) != 0, and buildListenPortConfigByPort's explicitTLSCertARNs takes
    the created certificate's ARN; LBC:pkg/ingress/model_builder.go build creates it when the
    EnableCertificateManagement gate is on. Certificates found by discovery from TLS hosts do
    not set preferTLS). frontguard does not know the gate: with it off the member's port is
    80, which then belongs to no member and takes the group's narrowest restriction
    (group_restrictions)."""
    raw = annotations_of(classified.ingress).get(LISTEN_PORTS)
    if raw is None:
        annotations = annotations_of(classified.ingress)
        certificates = classified.params_spec.get("certificateArn") or split_list(
            annotations.get(CERTIFICATE_ARN)
        )
        # LBC:pkg/annotations/parser.go ParseBoolAnnotation (strconv.ParseBool); the error
        # is ignored in model_builder.go build, so an unreadable value reads false.
        create_cert = annotations.get(CREATE_ACM_CERT) in ("1", "t", "T", "TRUE", "true", "True")
        return {443: "HTTPS"} if certificates or create_cert else {80: "HTTP"}
    try:
        entries = json.loads(raw)
    except ValueError as error:
        raise AnnotationError(f"failed to parse listen-ports configuration: `{raw}`") from error
    if not isinstance(entries, list) or not entries:
        raise AnnotationError(f"empty listen-ports configuration: `{raw}`")
    ports: dict[int, str] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise AnnotationError(f"failed to parse listen-ports configuration: `{raw}`")
        for protocol, port in entry.items():
            if not isinstance(port, int) or not 1 <= port <= 65535:
                raise AnnotationError(f"listen port must be within [1, 65535]: {port}")
            if protocol not in ("HTTP", "HTTPS"):
                raise AnnotationError(f"listen protocol must be within [HTTP, HTTPS]: {protocol}")
            ports[port] = protocol
    return ports


@dataclass(frozen=True)
class _PortSources:
    ingress: str
    cidrs: frozenset[str]
    prefix_lists: frozenset[str]


def _explicit_sources(classified: ClassifiedIngress) -> _PortSources:
    """One Ingress's inbound CIDRs and prefix lists; IngressClassParams win over the
    annotations, ``prefixListsIDs`` over the legacy ``PrefixListsIDs``
    (LBC:pkg/ingress/model_build_listener.go computeIngressExplicitInboundCIDRs,
    computeIngressExplicitPrefixListIDs)."""
    spec = classified.params_spec
    annotations = annotations_of(classified.ingress)
    cidrs = list(spec.get("inboundCIDRs") or []) or split_list(  # type: ignore[call-overload]
        annotations.get(t.INGRESS_INBOUND_CIDRS)
    )
    prefix_lists = (
        list(spec.get("prefixListsIDs") or [])  # type: ignore[call-overload]
        or list(spec.get("PrefixListsIDs") or [])  # type: ignore[call-overload]
        or split_list(annotations.get(t.INGRESS_PREFIX_LISTS))
    )
    normalised = parse_cidrs(cidrs, f"inbound-cidrs of Ingress {classified.id}")
    return _PortSources(classified.id, frozenset(normalised), frozenset(map(str, prefix_lists)))


def _frontend_nlb_ports(classified: ClassifiedIngress, alb_ports: Iterable[int]) -> list[int]:
    """NLB listener ports: the ``frontend-nlb-listener-port-mapping`` (NLB port → ALB port),
    else the ALB's ports (LBC:pkg/ingress/model_build_frontend_nlb.go
    buildFrontendNlbListenerConfigByPortForIngress)."""
    raw = annotations_of(classified.ingress).get(FRONTEND_NLB_PORT_MAPPING)
    if not raw:
        return list(alb_ports)
    ports = []
    for pair in split_list(raw):
        nlb_port, _, alb_port = pair.partition("=")
        try:
            if int(alb_port) in alb_ports:
                ports.append(int(nlb_port))
        except ValueError as error:
            raise AnnotationError(f"invalid frontend-nlb-listener-port-mapping: {raw}") from error
    return ports


def group_restrictions(
    members: Sequence[ClassifiedIngress], *, frontend_nlb: bool = False
) -> Restrictions:
    """Per listen port, what the controller's managed SG admits: each member's CIDRs and
    prefix lists apply to that member's own ports only; members setting CIDRs (or prefix
    lists) on one port must agree; a port admits everyone only when no member on it restricts
    (LBC:pkg/ingress/model_builder.go mergeListenPortConfigs;
    LBC:docs/guide/ingress/annotations.md, inbound-cidrs "exclusive per listen-port")."""
    per_port: dict[int, list[_PortSources]] = {}
    protocols: dict[int, tuple[str, str]] = {}
    for member in members:
        ports = listen_ports(member)
        for port, protocol in ports.items():
            seen = protocols.setdefault(port, (member.id, protocol))
            if seen[1] != protocol:
                raise ControllerBuildError(
                    f"conflicting protocol, {seen[0]}: {seen[1]} | {member.id}: {protocol}"
                )
        sources = _explicit_sources(member)
        for port in _frontend_nlb_ports(member, ports) if frontend_nlb else ports:
            per_port.setdefault(port, []).append(sources)
    by_port = {port: _merge_port(configs) for port, configs in per_port.items()}
    return Restrictions(by_port, narrowest(by_port.values()), fail_narrow=True)


def narrowest(restrictions: Iterable[Sources | None]) -> Sources | None:
    """Fail narrow: a listener port no member claims (a controller rule frontguard does not
    model) takes what every member's restriction admits at once, never the policy's full
    width; ``None`` only when no member restricts any port."""
    found: Sources | None = None
    for sources in restrictions:
        if sources is not None:
            found = sources if found is None else effective_sources(found, sources).allowed
    return found


def _agreed(
    chosen: _PortSources | None, config: _PortSources, values: frozenset[str], label: str
) -> _PortSources | None:
    """The first member that sets ``label`` on a port decides; another member setting a
    different value is the controller's build error."""
    if not values:
        return chosen
    if chosen is None:
        return config
    mine = chosen.cidrs if label == "inbound-cidrs" else chosen.prefix_lists
    if mine != values:
        raise ControllerBuildError(
            f"conflicting {label}, {chosen.ingress}: {sorted(mine)} | "
            f"{config.ingress}: {sorted(values)}"
        )
    return chosen


def _merge_port(configs: Sequence[_PortSources]) -> Sources | None:
    cidrs: _PortSources | None = None
    prefix_lists: _PortSources | None = None
    for config in configs:
        cidrs = _agreed(cidrs, config, config.cidrs, "inbound-cidrs")
        prefix_lists = _agreed(prefix_lists, config, config.prefix_lists, "inbound-prefix-lists")
    if cidrs is None and prefix_lists is None:
        return None
    values = [*(cidrs.cidrs if cidrs else ()), *(prefix_lists.prefix_lists if prefix_lists else ())]
    try:
        return Sources.of(values)
    except ValueError as error:
        raise AnnotationError(f"invalid prefix list in {values}") from error


def frontend_nlb_shares_alb_sgs(members: Sequence[ClassifiedIngress]) -> bool:
    """The group has a frontend NLB and it takes the ALB's SG list (no member names
    ``frontend-nlb-security-groups``: LBC:pkg/ingress/model_build_frontend_nlb.go
    buildFrontendNlbSpec). Its traffic then reaches the ALB from the NLB's own addresses for
    health checks and PrivateLink, and the controller adds no rule for that."""
    enabled = False
    for member in members:
        value = annotations_of(member.ingress).get(ENABLE_FRONTEND_NLB)
        if value is not None and value in ("1", "t", "T", "TRUE", "true", "True"):
            enabled = True
        if t.FRONTEND_NLB_SG_ANNOTATION in annotations_of(member.ingress):
            return False
    return enabled


def frontend_nlb_health_check_ports(members: Sequence[ClassifiedIngress]) -> list[int]:
    """Explicit numeric ``frontend-nlb-healthcheck-port`` values (default: the traffic port)."""
    ports = []
    for member in members:
        value = annotations_of(member.ingress).get(FRONTEND_NLB_HEALTHCHECK_PORT, "")
        if value.isdigit():
            ports.append(int(value))
    return ports


# --- Before the load balancer exists (fail-closed mode plans from the owner alone) ----------

INGRESS_SCHEME_ANNOTATION = "alb.ingress.kubernetes.io/scheme"
DEFAULT_SCHEME = "internal"  # --default-load-balancer-scheme (LBC:pkg/config/controller_config.go)


def group_listen_ports(members: Sequence[ClassifiedIngress]) -> dict[int, str]:
    """Port → protocol of the load balancer an Ingress (group) gets: every member's listen
    ports (:func:`listen_ports`); one port with two protocols is the controller's
    "conflicting protocol" error (LBC:pkg/ingress/model_build_listener.go
    computeIngressListenPorts, and model_builder.go mergeListenPortConfigs)."""
    ports: dict[int, str] = {}
    for member in members:
        for port, protocol in listen_ports(member).items():
            if ports.setdefault(port, protocol) != protocol:
                raise AnnotationError(f"conflicting protocol on port {port}")
    return ports


def group_scheme(members: Sequence[ClassifiedIngress]) -> str:
    """The scheme the load balancer of an Ingress (group) gets: IngressClassParams ``scheme``
    wins over the member's ``scheme`` annotation; members must agree; default internal
    (LBC:pkg/ingress/model_build_load_balancer.go buildLoadBalancerScheme)."""
    explicit: set[str] = set()
    for member in members:
        scheme = member.params_spec.get("scheme") or annotations_of(member.ingress).get(
            INGRESS_SCHEME_ANNOTATION
        )
        if scheme is not None:
            explicit.add(str(scheme))
    if len(explicit) > 1:
        raise AnnotationError(f"conflicting scheme: {sorted(explicit)}")
    scheme = explicit.pop() if explicit else DEFAULT_SCHEME
    if scheme not in ("internal", "internet-facing"):
        raise AnnotationError(f"unknown scheme: {scheme}")
    return scheme
