"""Gateways: which GatewayClasses the controller serves and how a Gateway's
LoadBalancerConfiguration is merged with its class's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from frontguard import tags as t

# LBC:pkg/gateway/constants/controller_constants.go. EKS Auto Mode's built-in controller
# names are not confirmed by an AWS page we could find; both spellings seen in the wild are
# recognised so its Gateways are at least reported (docs/controller-rules.md, "Auto Mode").
LBC_CONTROLLERS = frozenset({t.GATEWAY_ALB_CONTROLLER, t.GATEWAY_NLB_CONTROLLER})
AUTO_MODE_CONTROLLERS = frozenset(
    {
        "eks.amazonaws.com/alb",
        "eks.amazonaws.com/nlb",
        "eks.amazonaws.com/gateway-alb",
        "eks.amazonaws.com/gateway-nlb",
    }
)
SG_FIELD = "securityGroups"
BACKEND_FIELD = "manageBackendSecurityGroupRules"
PREFER_GATEWAY = "prefer-gateway"


def class_controller_served(gateway_class: Mapping[str, Any] | None, *, auto_mode: bool) -> bool:
    controller = ((gateway_class or {}).get("spec") or {}).get("controllerName")
    return controller in (AUTO_MODE_CONTROLLERS if auto_mode else LBC_CONTROLLERS)


def class_reference(gateway_class: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(namespace, name) of the class-level LoadBalancerConfiguration. The controller fetches
    it by name whatever ``group``/``kind`` say (LBC:pkg/gateway/gatewayutils/
    lb_config_utils.go ResolveLoadBalancerConfig); a reference without ``namespace`` makes the
    class not Accepted and no Gateway of it is reconciled
    (LBC:controllers/gateway/gateway_class_controller.go handleUpdate): ValueError."""
    ref = ((gateway_class or {}).get("spec") or {}).get("parametersRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    if not ref.get("namespace"):
        raise ValueError(
            "Namespace must be specified in ParametersRef for LoadBalancerConfiguration"
        )
    return str(ref["namespace"]), str(ref["name"])


def gateway_reference(gateway: Mapping[str, Any]) -> str | None:
    """Name of the Gateway's own configuration, looked up in the Gateway's namespace, again
    whatever ``group``/``kind`` say (LBC:pkg/gateway/gatewayutils/gateway_utils.go
    GetNamespacedParamRefForGateway)."""
    spec = gateway.get("spec") or {}
    ref = (spec.get("infrastructure") or {}).get("parametersRef")
    if isinstance(ref, Mapping) and ref.get("name"):
        return str(ref["name"])
    return None


def prefers_gateway(class_spec: Mapping[str, Any] | None) -> bool:
    """The merging mode comes from the class-level configuration only; the default is
    ``prefer-gateway-class`` (LBC:pkg/gateway/lb_config_merger.go Merge)."""
    return (class_spec or {}).get("mergingMode") == PREFER_GATEWAY


def merged_field(
    class_spec: Mapping[str, Any] | None, gateway_spec: Mapping[str, Any] | None, field: str
) -> Any:
    """A "take-one" field as the controller merges it: the high-priority side's value when it
    is non-nil (an empty list counts as set), else the other's
    (LBC:pkg/gateway/lb_config_merger.go performTakeOneMerges)."""
    high, low = (
        (gateway_spec, class_spec) if prefers_gateway(class_spec) else (class_spec, gateway_spec)
    )
    if high is not None and high.get(field) is not None:
        return high.get(field)
    return (low or {}).get(field)


def class_wins(class_spec: Mapping[str, Any] | None, field: str) -> bool:
    """The class-level configuration decides ``field`` whatever the Gateway's says."""
    return (
        class_spec is not None
        and not prefers_gateway(class_spec)
        and class_spec.get(field) is not None
    )


# --- Listeners and scheme of a Gateway's load balancer, before it exists (fail-closed mode) ---

DEFAULT_SCHEME = "internal"  # --default-load-balancer-scheme (LBC:pkg/config/controller_config.go)
SCHEMES = ("internal", "internet-facing")
TCP, UDP, TCP_UDP = "TCP", "UDP", "TCP_UDP"


def gateway_listen_ports(gateway: Mapping[str, Any]) -> dict[int, str]:
    """Port → listener protocol of every listener in the Gateway's ``spec.listeners``, mapped as
    the controller maps them (LBC:pkg/gateway/model/model_build_listener.go
    ``mapGatewayListenerConfigsByPort``): the protocol as written (HTTP, HTTPS, TLS, TCP, UDP),
    TLS in ``Passthrough`` mode as TCP, TCP and UDP on one port merged into ``TCP_UDP``
    (``mergeProtocols``); other protocols sharing a port make the Gateway invalid
    (ValueError).

    This is every port the load balancer *may* listen on, not what it will: the controller
    materialises only the ports that have routes (``buildListeners`` intersects them with
    ``portsWithRoutes``; an L4 listener without backends is skipped too). Listeners added by
    ListenerSets (feature gate ``GatewayListenerSet``) are not in the Gateway's spec and are
    not read here."""
    ports: dict[int, str] = {}
    listeners = (gateway.get("spec") or {}).get("listeners") or []
    for listener in listeners if isinstance(listeners, list) else [listeners]:
        port = listener.get("port") if isinstance(listener, Mapping) else None
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ValueError(f"listener port {port!r} is not within [1, 65535]")
        protocol = str(listener.get("protocol") or "").upper()
        if not protocol:
            raise ValueError(f"listener on port {port} has no protocol")
        if protocol == "TLS" and ((listener.get("tls") or {}).get("mode")) == "Passthrough":
            protocol = TCP
        stored = ports.get(port)
        if stored is None or stored == protocol:
            ports[port] = protocol
        elif {stored, protocol} <= {TCP, UDP, TCP_UDP}:
            ports[port] = TCP_UDP
        else:
            raise ValueError(
                "invalid listeners on gateway, listeners with same ports cannot have "
                f"different protocols ({stored} and {protocol} on {port})"
            )
    return dict(sorted(ports.items()))


def gateway_scheme(value: Any) -> str:
    """The scheme of a Gateway's load balancer from its merged configuration's ``scheme``:
    the controller's default when unset, else one of the two schemes (anything else stops
    the build: ValueError) (LBC:pkg/gateway/model/base_model_builder.go
    ``buildLoadBalancerScheme``)."""
    if value is None:
        return DEFAULT_SCHEME
    if value not in SCHEMES:
        raise ValueError(f"unknown scheme: {value}")
    return str(value)
