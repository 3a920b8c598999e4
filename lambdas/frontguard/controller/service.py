"""Services: which ones the controller manages and their source restriction."""

from __future__ import annotations

from frontguard import tags as t
from frontguard.controller.objects import (
    AnnotationError,
    KubeObject,
    annotations_of,
    being_deleted,
    object_id,
    split_list,
)
from frontguard.controller.restrictions import Restrictions, parse_cidrs
from frontguard.policy import ControllerFlags
from frontguard.sources import Sources

TARGET_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
# The scheme of a Service's NLB (LBC:pkg/service/model_build_load_balancer.go
# buildLoadBalancerScheme): ``aws-load-balancer-scheme`` (internal | internet-facing), else the
# legacy ``aws-load-balancer-internal`` read by Go's strconv.ParseBool (false → internet-facing),
# else the existing LB's scheme, else the flag ``--default-load-balancer-scheme``, default
# internal (LBC:pkg/config/controller_config.go). Names: LBC:pkg/annotations/constants.go.
SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"
LEGACY_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
PARSE_BOOL_FALSE = ("0", "f", "F", "false", "FALSE", "False")  # Go strconv.ParseBool
DEFAULT_SCHEME = "internal"
# What the owner sets to choose the sources of the controller's managed SG, and the SG
# annotation that replaces that SG altogether (LBC:pkg/service/model_build_managed_sg.go
# buildManagedSecurityGroupIngressPermissions, buildCIDRsFromSourceRanges;
# LBC:pkg/service/model_build_load_balancer.go for security-groups).
OWNER_SOURCE_ANNOTATIONS = (
    t.SERVICE_SOURCE_RANGES,
    t.SERVICE_PREFIX_LISTS,
    t.SERVICE_SG_ANNOTATION,
)


def service_handled(
    service: KubeObject, flags: ControllerFlags, *, auto_mode: bool = False
) -> tuple[bool, str]:
    """(managed, why). LBC:pkg/service/service_utils.go IsServiceSupported: not while being
    deleted; a non-nil ``spec.loadBalancerClass`` decides alone (the controller's
    ``--load-balancer-class``, default ``service.k8s.aws/nlb``); otherwise the type annotation
    must be ``nlb-ip``, or ``external`` with target type ``ip``/``instance``. Auto Mode's
    built-in controller serves ``eks.amazonaws.com/nlb``."""
    if being_deleted(service):
        return False, "being deleted"
    spec = service.get("spec") or {}
    if flags.service_type_load_balancer_only and spec.get("type") != "LoadBalancer":
        return False, "not of type LoadBalancer (ServiceTypeLoadBalancerOnly)"
    own_class = t.AUTO_MODE_NLB_CLASS if auto_mode else flags.load_balancer_class
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        if lb_class == own_class:
            return True, f"loadBalancerClass {lb_class}"
        return False, f"loadBalancerClass {lb_class} belongs to another controller"
    if auto_mode:
        return False, "no loadBalancerClass (EKS Auto Mode needs eks.amazonaws.com/nlb)"
    annotations = annotations_of(service)
    lb_type = annotations.get(t.SERVICE_TYPE_ANNOTATION)
    if lb_type == "nlb-ip":
        return True, "aws-load-balancer-type: nlb-ip"
    target_type = annotations.get(TARGET_TYPE_ANNOTATION)
    if lb_type == "external" and target_type in ("ip", "instance"):
        return True, f"aws-load-balancer-type: external, target type {target_type}"
    if lb_type == "external":
        return False, "aws-load-balancer-type: external without nlb-target-type ip/instance"
    return False, "neither the controller's loadBalancerClass nor its type annotation"


def service_restrictions(service: KubeObject, *, auto_mode: bool = False) -> Restrictions:
    """The same restriction on every port: ``spec.loadBalancerSourceRanges``, else the
    ``load-balancer-source-ranges`` annotation (not supported by Auto Mode), plus the prefix
    lists; a prefix-list annotation that is present stops the 0.0.0.0/0 default even when
    empty (LBC:pkg/service/model_build_managed_sg.go buildManagedSecurityGroupIngressPermissions,
    buildCIDRsFromSourceRanges)."""
    annotations = annotations_of(service)
    cidrs = list((service.get("spec") or {}).get("loadBalancerSourceRanges") or [])
    if not cidrs and not auto_mode:
        cidrs = split_list(annotations.get(t.SERVICE_SOURCE_RANGES))
    prefix_lists_set = t.SERVICE_PREFIX_LISTS in annotations
    prefix_lists = split_list(annotations.get(t.SERVICE_PREFIX_LISTS))
    if not cidrs and not prefix_lists_set:
        return Restrictions.everywhere(None)
    values = parse_cidrs(cidrs, f"Service {object_id(service)}")
    try:
        return Restrictions.everywhere(Sources.of([*values, *prefix_lists]))
    except ValueError as error:
        raise AnnotationError(
            f"invalid prefix list in {t.SERVICE_PREFIX_LISTS} on Service {object_id(service)}: "
            f"{prefix_lists!r}"
        ) from error


# --- Before the load balancer exists (fail-closed mode plans from the owner alone) ----------


def service_listen_ports(service: KubeObject) -> dict[int, str]:
    """Port → listener protocol of a Service's NLB: one listener per ``spec.ports`` port, TCP
    and UDP on one port merged into ``TCP_UDP`` (LBC:pkg/service/model_build_listener.go
    buildListenersWithTCPUDPSupport, buildListenerSpec; TLS listeners take TCP rules)."""
    ports: dict[int, set[str]] = {}
    for entry in (service.get("spec") or {}).get("ports") or []:
        port = entry.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise AnnotationError(f"Service {object_id(service)} port must be within [1, 65535]")
        ports.setdefault(port, set()).add(str(entry.get("protocol") or "TCP").upper())
    return {
        port: "TCP_UDP" if protocols >= {"TCP", "UDP"} else protocols.pop()
        for port, protocols in sorted(ports.items())
    }


def service_scheme(service: KubeObject) -> str:
    """The scheme of a new Service's NLB (see :data:`SCHEME_ANNOTATION`): no existing LB."""
    annotations = annotations_of(service)
    if (scheme := annotations.get(SCHEME_ANNOTATION)) is not None:
        if scheme not in ("internal", "internet-facing"):
            raise AnnotationError(f"unknown scheme: {scheme}")
        return scheme
    if (internal := annotations.get(LEGACY_INTERNAL_ANNOTATION)) is not None:
        return "internet-facing" if internal in PARSE_BOOL_FALSE else "internal"
    return DEFAULT_SCHEME


PATH_MTU_ANNOTATION = (
    "service.beta.kubernetes.io/aws-load-balancer-enable-icmp-for-path-mtu-discovery"
)


def path_mtu_discovery(service: KubeObject) -> bool:
    """The owner asks for path-MTU discovery: the controller's managed SG then admits ICMP
    type 3 code 4 (ICMPv6 type 2 code 0) from every source CIDR, on the value ``on`` exactly
    (LBC:pkg/service/model_build_managed_sg.go buildManagedSecurityGroupIngressPermissions:
    ``icmpForPathMtuConfiguredFlag == "on"``; no rule for prefix lists)."""
    return annotations_of(service).get(PATH_MTU_ANNOTATION) == "on"
