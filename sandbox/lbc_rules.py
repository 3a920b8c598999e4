"""The simulator's reading of the controller's model-building rules: pure functions.

Read from kubernetes-sigs/aws-load-balancer-controller at v3.5.0+8 (commit 225f44568, the paths
cited below; none of these rules differs from v2.14.1). Each function names the file it mirrors.
This is the *sandbox's* independent reading of the controller: it never imports frontguard, so
the two readings can be tested against each other.

Errors the controller raises while building a model are `BuildError`; its message is the
controller's ``%v`` of the error, which the controller prefixes with ``Failed build model due
to`` in a ``FailedBuildModel`` Event.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

A_ALB = "alb.ingress.kubernetes.io/"
A_SVC = "service.beta.kubernetes.io/"
# pkg/annotations/constants.go
ING_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
ING_SECURITY_GROUPS = A_ALB + "security-groups"
ING_MANAGE_BACKEND = A_ALB + "manage-backend-security-group-rules"
ING_FRONTEND_NLB = A_ALB + "enable-frontend-nlb"
ING_FRONTEND_NLB_SGS = A_ALB + "frontend-nlb-security-groups"
ING_FRONTEND_NLB_SCHEME = A_ALB + "frontend-nlb-scheme"
ING_GROUP = A_ALB + "group.name"
ING_GROUP_ORDER = A_ALB + "group.order"
ING_SCHEME = A_ALB + "scheme"
ING_LISTEN_PORTS = A_ALB + "listen-ports"
ING_INBOUND_CIDRS = A_ALB + "inbound-cidrs"
ING_PREFIX_LISTS = A_ALB + "security-group-prefix-lists"
ING_CERTIFICATE_ARN = A_ALB + "certificate-arn"
ING_CREATE_ACM_CERT = A_ALB + "create-acm-cert"
ING_IP_ADDRESS_TYPE = A_ALB + "ip-address-type"
SVC_SECURITY_GROUPS = A_SVC + "aws-load-balancer-security-groups"
SVC_MANAGE_BACKEND = A_SVC + "aws-load-balancer-manage-backend-security-group-rules"
SVC_TYPE = A_SVC + "aws-load-balancer-type"
SVC_TARGET_TYPE = A_SVC + "aws-load-balancer-nlb-target-type"
SVC_DISABLE_NLB_SG = A_SVC + "aws-load-balancer-disable-nlb-sg"
SVC_SCHEME = A_SVC + "aws-load-balancer-scheme"
SVC_SOURCE_RANGES = A_SVC + "load-balancer-source-ranges"
SVC_PREFIX_LISTS = A_SVC + "aws-load-balancer-security-group-prefix-lists"
SVC_ICMP_PATH_MTU = A_SVC + "aws-load-balancer-enable-icmp-for-path-mtu-discovery"

# pkg/ingress/class_loader.go
ALB_CONTROLLER = "ingress.k8s.aws/alb"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
PARAMS_API_GROUP = "elbv2.k8s.aws"
PARAMS_KIND = "IngressClassParams"
# pkg/config/ingress_config.go: --ingress-class defaults to "alb".
DEFAULT_INGRESS_CLASS_FLAG = "alb"
# pkg/config/controller_config.go (--load-balancer-class); pkg/service/service_utils.go
NLB_CLASS = "service.k8s.aws/nlb"
# pkg/config/controller_config.go: --default-load-balancer-scheme defaults to internal.
DEFAULT_SCHEME = "internal"

WORLD_V4 = "0.0.0.0/0"
WORLD_V6 = "::/0"
# pkg/shared_constants/icmp.go: path-MTU discovery ICMP, protocol → (type, code).
ICMP_PATH_MTU = {"icmp": (3, 4), "icmpv6": (2, 0)}


def path_mtu_rules(cidrs: Iterable[str]) -> list[tuple[str, int, str]]:
    """The managed SG's path-MTU rules: ICMP type 3 code 4 from each IPv4 CIDR, ICMPv6 type 2
    code 0 from each IPv6 one, none for prefix lists (pkg/service/model_build_managed_sg.go,
    pkg/gateway/model/model_build_security_group.go
    ``buildManagedSecurityGroupIngressPermissions``). A rule's port is the ICMP type."""
    rules = []
    for cidr in cidrs:
        protocol = "icmpv6" if ":" in cidr else "icmp"
        rules.append((protocol, ICMP_PATH_MTU[protocol][0], cidr))
    return rules


class BuildError(Exception):
    """The controller could not build the model (``FailedBuildModel``, nothing deployed)."""


class LoadError(Exception):
    """The controller could not load the IngressGroup: the reconcile fails without an Event
    (controllers/ingress/group_controller.go returns ``fetch_ingress_error`` before any)."""


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def ref(obj: Mapping[str, Any]) -> str:
    return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"


def being_deleted(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


# --- annotation values: pkg/annotations/parser.go --------------------------------------------


def split_list(raw: str) -> list[str]:
    """``ParseStringSliceAnnotation``: split on ``,``, trim, drop empty items (parser.go,
    ``splitCommaSeparatedString``)."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def go_list(items: Iterable[str]) -> str:
    """Go's ``%v`` of a ``[]string``: ``[a b]`` (``[]`` for nil or empty)."""
    return "[" + " ".join(items) + "]"


_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(key: str, raw: str) -> bool:
    """``ParseBoolAnnotation`` (parser.go): Go's ``strconv.ParseBool``, its error wrapped
    ``failed to parse bool annotation, <key>: <raw>: strconv.ParseBool: parsing "<raw>":
    invalid syntax``."""
    if raw in _GO_TRUE:
        return True
    if raw in _GO_FALSE:
        return False
    raise BuildError(
        f"failed to parse bool annotation, {key}: {raw}: "
        f"strconv.ParseBool: parsing {json.dumps(raw)}: invalid syntax"
    )


def bool_annotation(obj: Mapping[str, Any], key: str) -> bool | None:
    raw = annotations_of(obj).get(key)
    return None if raw is None else parse_bool(key, raw)


def _parse_int32(key: str, raw: str) -> int:
    """``ParseInt32Annotation`` (parser.go): ``strconv.ParseInt(raw, 10, 32)``."""
    if re.fullmatch(r"[+-]?[0-9]+", raw) and -(2**31) <= int(raw) < 2**31:
        return int(raw)
    reason = "value out of range" if re.fullmatch(r"[+-]?[0-9]+", raw) else "invalid syntax"
    raise LoadError(
        f"failed to parse int32 annotation, {key}: {raw}: "
        f"strconv.ParseInt: parsing {json.dumps(raw)}: {reason}"
    )


def exclusive_list(members: Sequence[JSON], key: str) -> list[str] | None:
    """The one list every member carrying ``key`` agrees on, compared parsed and in order
    (``cmp.Equal``); members without the annotation are skipped. ``None`` when no member has
    it. pkg/ingress/model_build_load_balancer.go ``buildFrontendSGNameOrIDsFromAnnotation``;
    the frontend-NLB list: pkg/ingress/model_build_frontend_nlb.go
    ``buildNLBFrontendSGNameOrIDsFromAnnotation`` (same message)."""
    lists = [split_list(annotations_of(m)[key]) for m in members if key in annotations_of(m)]
    if not lists:
        return None
    chosen = lists[0]
    for other in lists[1:]:
        if other != chosen:
            raise BuildError(f"conflicting securityGroups: {go_list(chosen)} | {go_list(other)}")
    return chosen


def group_manage_backend(members: Sequence[JSON], flag_default: bool) -> bool:
    """pkg/ingress/model_builder.go ``buildManageSecurityGroupRulesFlag``: each member's
    annotation parsed as a bool; two different values conflict; none → the
    ``--enable-manage-backend-security-group-rules`` flag (default false)."""
    values = {v for m in members if (v := bool_annotation(m, ING_MANAGE_BACKEND)) is not None}
    if not values:
        return flag_default
    if len(values) > 1:
        raise BuildError("conflicting manage backend security group rules settings")
    return values.pop()


# --- which Ingresses the controller handles: pkg/ingress/group_loader.go ----------------------


@dataclass(frozen=True)
class ClassifiedIngress:
    """An Ingress the controller manages, with its IngressClassParams spec (``None``: no
    params, always so for annotation-classified Ingresses)."""

    ingress: JSON
    params: JSON | None


def default_ingress_class(classes: Sequence[JSON]) -> str | None:
    """pkg/ingress/class_loader.go ``GetDefaultIngressClass``: the IngressClass annotated
    ``ingressclass.kubernetes.io/is-default-class: "true"``. Two of them make loading fail
    (``multiple default IngressClasses found``); the simulator then manages no class-less
    Ingress."""
    defaults = [c for c in classes if annotations_of(c).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    if len(defaults) != 1:
        return None
    return str(defaults[0]["metadata"]["name"])


def classify_ingress(
    ingress: JSON,
    *,
    classes: Mapping[str, JSON],
    params: Mapping[str, JSON],
    ingress_class_flag: str,
    controller: str = ALB_CONTROLLER,
    params_group: str = PARAMS_API_GROUP,
    class_annotation_path: bool = True,
) -> ClassifiedIngress | None:
    """The controller's decision whether it manages ``ingress``; ``None`` when it does not.

    - Being deleted: no group (group_loader.go ``loadGroupIDIfAnyHelper``).
    - ``kubernetes.io/ingress.class`` annotation first, matched against ``--ingress-class``
      (``""`` also matches ``alb``), with no IngressClass and no params
      (group_loader.go ``classifyIngress``; class_annotation_matcher.go ``Matches``).
    - Else ``spec.ingressClassName``, or the default IngressClass when unset; the class must
      exist and name controller ``ingress.k8s.aws/alb``; its ``parameters`` must be
      ``elbv2.k8s.aws``/``IngressClassParams`` and exist, or the Ingress is left out
      (``ErrInvalidIngressClass``, tolerated for non-members) (class_loader.go ``Load``).
    - No class at all: managed only when ``--ingress-class`` is empty
      (controllers/ingress/group_controller.go ``manageIngressesWithoutIngressClass``).
    """
    if being_deleted(ingress):
        return None
    notes = annotations_of(ingress)
    if ING_CLASS_ANNOTATION in notes:
        if not class_annotation_path:
            return None
        value = notes[ING_CLASS_ANNOTATION]
        matches = value == ingress_class_flag or (ingress_class_flag == "" and value == "alb")
        return ClassifiedIngress(ingress, None) if matches else None
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    if class_name is None:
        class_name = default_ingress_class(list(classes.values()))
        if class_name is None:
            return ClassifiedIngress(ingress, None) if ingress_class_flag == "" else None
    ingress_class = classes.get(class_name)
    if ingress_class is None:
        return None
    class_spec = ingress_class.get("spec") or {}
    if class_spec.get("controller") != controller:
        return None
    parameters = class_spec.get("parameters")
    if not parameters:
        return ClassifiedIngress(ingress, None)
    if parameters.get("apiGroup") != params_group or parameters.get("kind") != PARAMS_KIND:
        return None
    found = params.get(str(parameters.get("name")))
    if found is None:
        return None
    return ClassifiedIngress(ingress, dict(found.get("spec") or {}))


# groupName: group_loader.go groupNameRegex and maxGroupNameLength.
_GROUP_NAME = re.compile(r"^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$")


def group_id(classified: ClassifiedIngress) -> str | None:
    """The IngressGroup: params ``group.name`` beats the ``group.name`` annotation; neither →
    the implicit group ``ns/name``. An invalid name leaves the Ingress out of every group
    (group_loader.go ``loadGroupID``, ``validateGroupName``, ``errInvalidIngressGroup``)."""
    params_group = (classified.params or {}).get("group")
    if params_group is not None:
        name = str(params_group.get("name", ""))
    elif ING_GROUP in annotations_of(classified.ingress):
        name = annotations_of(classified.ingress)[ING_GROUP]
    else:
        return ref(classified.ingress)
    if not _GROUP_NAME.match(name) or len(name) > 63:
        return None
    return name


def sort_members(members: Sequence[ClassifiedIngress]) -> list[ClassifiedIngress]:
    """group_loader.go ``sortGroupMembers``: by ``group.order`` (default 0, within
    [-1000, 1000]), then by ``ns/name``."""

    def order(member: ClassifiedIngress) -> int:
        raw = annotations_of(member.ingress).get(ING_GROUP_ORDER)
        if raw is None:
            return 0
        value = _parse_int32(ING_GROUP_ORDER, raw)
        if not -1000 <= value <= 1000:
            raise LoadError(
                "explicit Ingress group order must be within [-1000:1000], "
                f"Ingress: {ref(member.ingress)}, order: {value}"
            )
        return value

    return sorted(members, key=lambda m: (order(m), ref(m.ingress)))


# --- listen ports and their sources: pkg/ingress/model_build_listener.go ----------------------


@dataclass
class PortConfig:
    """One Ingress's (or, merged, the group's) configuration of one listen port."""

    protocol: str
    cidrs_v4: list[str] = field(default_factory=list)
    cidrs_v6: list[str] = field(default_factory=list)
    prefix_lists: list[str] = field(default_factory=list)


def _explicit_certificates(member: ClassifiedIngress) -> list[str]:
    """``computeIngressExplicitTLSCertARNs``: params ``certificateArn``, else the
    ``certificate-arn`` annotation."""
    from_params = (member.params or {}).get("certificateArn") or []
    if from_params:
        return list(from_params)
    return split_list(annotations_of(member.ingress).get(ING_CERTIFICATE_ARN, ""))


def created_certificate(member: ClassifiedIngress, *, certificate_management: bool) -> str | None:
    """pkg/ingress/model_builder.go ``run``: with the ``EnableCertificateManagement`` feature
    gate on (pkg/config/feature_gates.go, default off) and ``create-acm-cert`` true (its parse
    error ignored: ``ParseBoolAnnotation`` leaves the value false), the member gets a
    certificate of its own (pkg/ingress/model_build_certificates.go ``buildACMCertificates``):
    none when the ``certificate-arn`` annotation names one, a build error when the Ingress
    names no host (``spec.rules[].host``, ``spec.tls[].hosts``). Returns a token for it."""
    raw = annotations_of(member.ingress).get(ING_CREATE_ACM_CERT)
    if not (certificate_management and raw in _GO_TRUE):
        return None
    if split_list(annotations_of(member.ingress).get(ING_CERTIFICATE_ARN, "")):
        return None
    spec = member.ingress.get("spec") or {}
    hosts = {str(r["host"]) for r in spec.get("rules") or [] if r.get("host")}
    hosts |= {str(h) for t in spec.get("tls") or [] for h in t.get("hosts") or []}
    if not hosts:
        raise BuildError(
            f"ingress {ref(member.ingress)} has create-acm-cert enabled but no hostnames "
            "defined in spec.rules[].host or spec.tls[].hosts — cannot create a certificate "
            "without at least one hostname"
        )
    return f"acm-certificate:{ref(member.ingress)}:{','.join(sorted(hosts))}"


def listen_ports(member: ClassifiedIngress, created: str | None = None) -> dict[int, str]:
    """``computeIngressListenPorts``: the ``listen-ports`` JSON; without it 443/HTTPS when a
    certificate is configured (annotation or params) or ``created`` for the member
    (``computeIngressListenPortConfigByPort``: explicit ARNs, else the created certificate's,
    make ``preferTLS``), else 80/HTTP."""
    raw = annotations_of(member.ingress).get(ING_LISTEN_PORTS)
    if raw is None:
        prefer_tls = bool(_explicit_certificates(member)) or created is not None
        return {443: "HTTPS"} if prefer_tls else {80: "HTTP"}
    entries = _listen_port_entries(raw)
    if not entries:
        raise BuildError(f"empty listen-ports configuration: `{raw}`")
    ports: dict[int, str] = {}
    for entry in entries:
        for protocol, port in entry.items():
            if not 1 <= int(port) <= 65535:
                raise BuildError(f"listen port must be within [1, 65535]: {port}")
            if protocol not in ("HTTP", "HTTPS"):
                raise BuildError(f"listen protocol must be within [HTTP, HTTPS]: {protocol}")
            ports[int(port)] = protocol
    return ports


def _listen_port_entries(raw: str) -> list[dict[str, int]]:
    """The ``listen-ports`` JSON as Go unmarshals it into ``[]map[string]int32``."""
    try:
        entries = json.loads(raw)
    except ValueError as error:
        raise BuildError(f"failed to parse listen-ports configuration: `{raw}`: {error}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BuildError(
            f"failed to parse listen-ports configuration: `{raw}`: json: cannot unmarshal "
            "into Go value of type []map[string]int32"
        )
    return entries


def _valid_cidr(cidr: str) -> bool:
    """Go's ``net.ParseCIDR``: an address and a prefix length are both required."""
    if "/" not in cidr:
        return False
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return True


def inbound_cidrs(member: ClassifiedIngress) -> tuple[list[str], list[str]]:
    """``computeIngressExplicitInboundCIDRs``: params ``inboundCIDRs`` when non-empty, else
    the ``inbound-cidrs`` annotation; split into IPv4/IPv6 by ``:``."""
    from_params = list((member.params or {}).get("inboundCIDRs") or [])
    raw = from_params or split_list(annotations_of(member.ingress).get(ING_INBOUND_CIDRS, ""))
    v4: list[str] = []
    v6: list[str] = []
    for cidr in raw:
        if not _valid_cidr(cidr):
            if from_params:
                raise BuildError(
                    f"invalid CIDR in IngressClassParams InboundCIDR {cidr}: "
                    f"invalid CIDR address: {cidr}"
                )
            raise BuildError(
                f"invalid inbound-cidrs settings on Ingress: {ref(member.ingress)}: "
                f"invalid CIDR address: {cidr}"
            )
        (v6 if ":" in cidr else v4).append(cidr)
    return v4, v6


def prefix_lists(member: ClassifiedIngress) -> list[str]:
    """``computeIngressExplicitPrefixListIDs``: params ``prefixListsIDs``, then the legacy
    ``PrefixListsIDs``, then the ``security-group-prefix-lists`` annotation."""
    params = member.params or {}
    if params.get("prefixListsIDs"):
        return list(params["prefixListsIDs"])
    if params.get("PrefixListsIDs"):
        return list(params["PrefixListsIDs"])
    return split_list(annotations_of(member.ingress).get(ING_PREFIX_LISTS, ""))


def member_port_configs(
    member: ClassifiedIngress, *, certificate_management: bool = False
) -> dict[int, PortConfig]:
    """``computeIngressListenPortConfigByPort``: this Ingress's sources apply to this
    Ingress's own listen ports only. Errors are wrapped ``ingress: ns/name: ...``
    (pkg/ingress/model_builder.go ``run``); a certificate that cannot be built is not."""
    created = created_certificate(member, certificate_management=certificate_management)
    try:
        v4, v6 = inbound_cidrs(member)
        prefixes = prefix_lists(member)
        ports = listen_ports(member, created)
    except BuildError as error:
        raise BuildError(f"ingress: {ref(member.ingress)}: {error}") from None
    return {
        port: PortConfig(protocol, list(v4), list(v6), list(prefixes))
        for port, protocol in ports.items()
    }


def merge_port(port: int, configs: Sequence[tuple[str, PortConfig]]) -> PortConfig:
    """pkg/ingress/model_builder.go ``mergeListenPortConfigs`` for one port, over the members
    listening on it (in member order): one protocol; members with CIDRs (or prefix lists)
    must carry the same set; members without contribute nothing; nobody restricting → the
    world (``0.0.0.0/0`` and ``::/0``). Errors are wrapped ``failed to merge listenPort
    config for port: <port>``."""
    try:
        return _merge_port(configs)
    except BuildError as error:
        raise BuildError(f"failed to merge listenPort config for port: {port}: {error}") from None


def _merge_port(configs: Sequence[tuple[str, PortConfig]]) -> PortConfig:
    protocol: tuple[str, str] | None = None
    cidrs: tuple[str, set[str], set[str]] | None = None
    prefixes: tuple[str, set[str]] | None = None
    for key, config in configs:
        if protocol is None:
            protocol = (key, config.protocol)
        elif protocol[1] != config.protocol:
            raise BuildError(
                f"conflicting protocol, {protocol[0]}: {protocol[1]} | {key}: {config.protocol}"
            )
        if config.cidrs_v4 or config.cidrs_v6:
            mine = (set(config.cidrs_v4), set(config.cidrs_v6))
            if cidrs is None:
                cidrs = (key, *mine)
            elif (cidrs[1], cidrs[2]) != mine:
                raise BuildError(
                    f"conflicting inbound-cidrs, {cidrs[0]}: {go_list(sorted(cidrs[1]))}, "
                    f"{go_list(sorted(cidrs[2]))} | {key}: {go_list(sorted(mine[0]))}, "
                    f"{go_list(sorted(mine[1]))}"
                )
        if config.prefix_lists:
            theirs = set(config.prefix_lists)
            if prefixes is None:
                prefixes = (key, theirs)
            elif prefixes[1] != theirs:
                raise BuildError(
                    f"conflicting inbound-prefix-lists, {prefixes[0]}: "
                    f"{go_list(sorted(prefixes[1]))} | {key}: {go_list(sorted(theirs))}"
                )
    assert protocol is not None
    merged = PortConfig(
        protocol[1],
        sorted(cidrs[1]) if cidrs else [],
        sorted(cidrs[2]) if cidrs else [],
        sorted(prefixes[1]) if prefixes else [],
    )
    if not merged.cidrs_v4 and not merged.cidrs_v6 and not merged.prefix_lists:
        merged.cidrs_v4, merged.cidrs_v6 = [WORLD_V4], [WORLD_V6]
    return merged


def group_port_configs(
    members: Sequence[ClassifiedIngress], *, certificate_management: bool = False
) -> dict[int, PortConfig]:
    """The group's listeners, port by port (pkg/ingress/model_builder.go ``run``)."""
    by_port: dict[int, list[tuple[str, PortConfig]]] = {}
    for member in members:
        configs = member_port_configs(member, certificate_management=certificate_management)
        for port, config in configs.items():
            by_port.setdefault(port, []).append((ref(member.ingress), config))
    return {port: merge_port(port, by_port[port]) for port in sorted(by_port)}


def ipv6_rules(members: Sequence[ClassifiedIngress]) -> bool:
    """IPv6 rules go into the managed SG only for a dual-stack ALB (pkg/ingress/
    model_build_managed_sg.go; ``isIPv6Supported`` in model_build_load_balancer.go). The
    address type is the params' ``ipAddressType`` or the ``ip-address-type`` annotation."""
    for member in members:
        kind = (member.params or {}).get("ipAddressType") or annotations_of(member.ingress).get(
            ING_IP_ADDRESS_TYPE
        )
        if kind in ("dualstack", "dualstack-without-public-ipv4"):
            return True
    return False


def _exclusive_scheme(values: set[str]) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise BuildError(f"conflicting scheme: {go_list(sorted(values))}")
    scheme = values.pop()
    if scheme not in ("internal", "internet-facing"):
        raise BuildError(f"unknown scheme: {scheme}")
    return scheme


def group_scheme(members: Sequence[ClassifiedIngress], default: str = DEFAULT_SCHEME) -> str:
    """pkg/ingress/model_build_load_balancer.go ``buildLoadBalancerScheme``: the params'
    ``scheme``, else the ``scheme`` annotation, agreed by every member; else the controller
    default (internal)."""
    values: set[str] = set()
    for member in members:
        if (member.params or {}).get("scheme"):
            values.add(str(member.params["scheme"]))  # type: ignore[index]
        elif ING_SCHEME in annotations_of(member.ingress):
            values.add(annotations_of(member.ingress)[ING_SCHEME])
    return _exclusive_scheme(values) or default


def frontend_nlb_enabled(members: Sequence[ClassifiedIngress]) -> bool:
    """pkg/ingress/model_build_frontend_nlb.go ``buildEnableFrontendNlbViaAnnotation``."""
    values = {v for m in members if (v := bool_annotation(m.ingress, ING_FRONTEND_NLB)) is not None}
    if len(values) > 1:
        raise BuildError("conflicting enable frontend NLB values")
    return values.pop() if values else False


def frontend_nlb_scheme(members: Sequence[ClassifiedIngress], default: str = DEFAULT_SCHEME) -> str:
    """pkg/ingress/model_build_frontend_nlb.go ``buildFrontendNlbScheme``: the
    ``frontend-nlb-scheme`` annotation, else the controller's default scheme (not the ALB's)."""
    values = {
        annotations_of(m.ingress)[ING_FRONTEND_NLB_SCHEME]
        for m in members
        if ING_FRONTEND_NLB_SCHEME in annotations_of(m.ingress)
    }
    return _exclusive_scheme(values) or default


# --- Services: pkg/service/service_utils.go ---------------------------------------------------


def service_handled(service: JSON, *, load_balancer_class: str = NLB_CLASS) -> bool:
    """``IsServiceSupported``: not being deleted; a non-nil ``spec.loadBalancerClass`` decides
    alone (ours or not); else annotation ``aws-load-balancer-type`` ``nlb-ip``, or
    ``external`` with ``aws-load-balancer-nlb-target-type`` ``ip`` or ``instance``."""
    if being_deleted(service):
        return False
    spec = service.get("spec") or {}
    if spec.get("loadBalancerClass") is not None:
        return bool(spec["loadBalancerClass"] == load_balancer_class)
    notes = annotations_of(service)
    kind = notes.get(SVC_TYPE, "")
    if kind == "nlb-ip":
        return True
    return kind == "external" and notes.get(SVC_TARGET_TYPE, "") in ("ip", "instance")


# --- Gateways: pkg/gateway/lb_config_merger.go ------------------------------------------------


def merge_gateway_configs(class_spec: JSON | None, gateway_spec: JSON | None) -> JSON:
    """``Merge`` (lb_config_merger.go) after ``getLoadBalancerConfigForGateway``
    (controllers/gateway/config_resolver.go): one config alone is used as is; with both, the
    class config's ``mergingMode`` (default ``prefer-gateway-class``) picks the high-priority
    side, and each field is taken from it when non-nil (so ``[]`` counts as set), else from
    the other side."""
    if class_spec is None:
        return dict(gateway_spec or {})
    if gateway_spec is None:
        return dict(class_spec)
    if class_spec.get("mergingMode") == "prefer-gateway":
        high, low = gateway_spec, class_spec
    else:
        high, low = class_spec, gateway_spec
    merged = {key: value for key, value in low.items() if value is not None}
    merged.update({key: value for key, value in high.items() if value is not None})
    merged.pop("mergingMode", None)
    return merged


# --- Gateways: pkg/gateway/model -----------------------------------------------------------

_GATEWAY_PROTOCOL_MERGES = {
    frozenset({"TCP", "UDP"}): "TCP_UDP",
    frozenset({"TCP_UDP", "TCP"}): "TCP_UDP",
    frozenset({"TCP_UDP", "UDP"}): "TCP_UDP",
}


def gateway_listeners(listeners: Sequence[JSON]) -> list[tuple[str, int]]:
    """The load balancer's listeners, one per port (model_build_listener.go
    ``mapGatewayListenerConfigsByPort``): TLS in ``Passthrough`` mode is TCP; TCP and UDP on
    one port merge into TCP_UDP (``mergeProtocols``); any other two protocols on one port fail
    the build."""
    by_port: dict[int, str] = {}
    for listener in listeners:
        port = int(listener["port"])
        protocol = str(listener.get("protocol", "HTTP"))
        if protocol == "TLS" and (listener.get("tls") or {}).get("mode") == "Passthrough":
            protocol = "TCP"
        stored = by_port.get(port)
        if stored is not None and stored != protocol:
            merged = _GATEWAY_PROTOCOL_MERGES.get(frozenset({stored, protocol}))
            if merged is None:
                raise BuildError(
                    "invalid listeners on gateway, listeners with same ports cannot have "
                    "different protocols"
                )
            protocol = merged
        by_port[port] = protocol
    return [(protocol, port) for port, protocol in by_port.items()]


def gateway_ipv6(config: JSON) -> bool:
    """``isIPv6Supported`` (model/utilities.go): dualstack address types only."""
    return config.get("ipAddressType") in ("dualstack", "dualstack-without-public-ipv4")


def gateway_managed_sg_rules(config: JSON, listeners: Sequence[JSON]) -> list[tuple[str, int, str]]:
    """model_build_security_group.go ``buildManagedSecurityGroupIngressPermissions``: per
    Gateway listener (not merged by port: ``udp`` for UDP, else ``tcp``), one rule per source
    CIDR and per ``securityGroupPrefixes`` entry. ``sourceRanges`` replaces the default
    ``0.0.0.0/0`` + ``::/0`` whenever it is non-nil, so an empty list admits no CIDR at all;
    IPv6 CIDRs count only on a dualstack LB; ``enableICMP: true`` adds the path-MTU rule per
    CIDR kept. The same rule twice is one rule (EC2 keeps one)."""
    ranges = config.get("sourceRanges")
    sources = [WORLD_V4, WORLD_V6] if ranges is None else [str(r) for r in ranges]
    sources = [s for s in sources if ":" not in s or gateway_ipv6(config)]
    prefixes = [str(p) for p in config.get("securityGroupPrefixes") or []]
    rules: list[tuple[str, int, str]] = []
    for listener in listeners:
        protocol = "udp" if listener.get("protocol") == "UDP" else "tcp"
        port = int(listener["port"])
        rules += [(protocol, port, source) for source in [*sources, *prefixes]]
        if config.get("enableICMP") is True:
            rules += path_mtu_rules(sources)
    return list(dict.fromkeys(rules))
