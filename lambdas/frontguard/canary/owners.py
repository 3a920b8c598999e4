"""The canary's throw-away owner: the Kubernetes objects that make the controller build one
load balancer, pointing at no workload.

Every object is labelled ``frontguard.io/canary=<run id>`` (and ``app.kubernetes.io/managed-by:
frontguard-canary``) so that a later run, or a human, finds what an interrupted run left:
``kubectl get services,ingresses,gateways,httproutes,loadbalancerconfigurations -A -l
frontguard.io/canary``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from frontguard import tags as t
from frontguard.adapters.kube import CORE, NETWORKING, ObjectPath

CANARY_LABEL: Final = "frontguard.io/canary"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "frontguard-canary"
DEFAULT_NAMESPACE: Final = "frontguard-canary"
NAME_PREFIX: Final = "frontguard-canary"
GATEWAY_API: Final = "/apis/gateway.networking.k8s.io/v1"
LB_CONFIGURATIONS: Final = "/apis/gateway.k8s.aws/v1/loadbalancerconfigurations"
PORT: Final = 80

# Every collection a canary owner may use, in the order a clean-up deletes them (owners
# before what they point at).
COLLECTIONS: Final = (
    f"{NETWORKING}/ingresses",
    f"{GATEWAY_API}/httproutes",
    f"{GATEWAY_API}/gateways",
    f"{LB_CONFIGURATIONS}",
    f"{CORE}/services",
)


class Kind(StrEnum):
    INGRESS = "ingress"
    SERVICE = "service"
    GATEWAY = "gateway"


@dataclass(frozen=True)
class CanaryOwner:
    """The objects one canary run creates, and how its load balancer is recognised."""

    kind: Kind
    namespace: str
    name: str
    run_id: str
    objects: tuple[tuple[ObjectPath, dict[str, Any]], ...]  # in creation order
    owner: ObjectPath  # the object whose status names the load balancer
    stack_tag: str  # the controller's stack tag key on the load balancer

    @property
    def stack(self) -> str:
        """The stack tag's value: ``<namespace>/<name>`` for each kind."""
        return f"{self.namespace}/{self.name}"


def _metadata(run_id: str, **annotations: str) -> dict[str, Any]:
    return {
        "labels": {CANARY_LABEL: run_id, MANAGED_BY_LABEL: MANAGED_BY},
        "annotations": {CANARY_LABEL: "throw-away owner of frontguard's canary", **annotations},
    }


def _backend_service(namespace: str, name: str, run_id: str) -> tuple[ObjectPath, dict[str, Any]]:
    """A ClusterIP Service without a selector: the controller needs the backend Service to
    exist to build target groups (pkg/ingress/model_build_target_group.go), and with no
    selector it has no endpoints, so no workload is ever reached."""
    return (
        ObjectPath(f"{CORE}/services", namespace, name),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(run_id),
            "spec": {"type": "ClusterIP", "ports": [{"port": PORT, "protocol": "TCP"}]},
        },
    )


def canary_owner(
    kind: Kind,
    *,
    namespace: str,
    run_id: str,
    internet_facing: bool = False,
    ingress_class: str = "alb",
    gateway_class: str = "alb",
) -> CanaryOwner:
    """The owner of ``kind`` for one run (internal unless ``internet_facing``)."""
    name = f"{NAME_PREFIX}-{run_id}"
    scheme = "internet-facing" if internet_facing else "internal"
    if kind is Kind.SERVICE:
        return _service_owner(namespace, name, run_id, scheme)
    if kind is Kind.INGRESS:
        return _ingress_owner(namespace, name, run_id, scheme, ingress_class)
    return _gateway_owner(namespace, name, run_id, scheme, gateway_class)


def _service_owner(namespace: str, name: str, run_id: str, scheme: str) -> CanaryOwner:
    kind = Kind.SERVICE
    # The controller handles a Service with loadBalancerClass service.k8s.aws/nlb
    # (pkg/service/service_utils.go); scheme and target type from the annotations
    # (docs/guide/service/annotations.md).
    path = ObjectPath(f"{CORE}/services", namespace, name)
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(
            run_id,
            **{
                "service.beta.kubernetes.io/aws-load-balancer-scheme": scheme,
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            },
        ),
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "ports": [{"port": PORT, "protocol": "TCP"}],
        },
    }
    return CanaryOwner(kind, namespace, name, run_id, ((path, body),), path, t.SERVICE_STACK_TAG)


def _ingress_owner(
    namespace: str, name: str, run_id: str, scheme: str, ingress_class: str
) -> CanaryOwner:
    kind = Kind.INGRESS
    backend = _backend_service(namespace, name, run_id)
    # An implicit IngressGroup of one: the stack tag is <namespace>/<name>
    # (pkg/ingress/group.go); annotations from docs/guide/ingress/annotations.md.
    path = ObjectPath(f"{NETWORKING}/ingresses", namespace, name)
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(
            run_id,
            **{
                "alb.ingress.kubernetes.io/scheme": scheme,
                "alb.ingress.kubernetes.io/target-type": "ip",
            },
        ),
        "spec": {
            "ingressClassName": ingress_class,
            "defaultBackend": {"service": {"name": name, "port": {"number": PORT}}},
        },
    }
    return CanaryOwner(
        kind, namespace, name, run_id, (backend, (path, body)), path, t.INGRESS_STACK_TAG
    )


def _gateway_owner(
    namespace: str, name: str, run_id: str, scheme: str, gateway_class: str
) -> CanaryOwner:
    kind = Kind.GATEWAY
    backend = _backend_service(namespace, name, run_id)
    # A Gateway with its scheme in its own LoadBalancerConfiguration (the default scheme is a
    # controller flag: pkg/gateway/model/base_model_builder.go buildLoadBalancerScheme), and
    # one HTTPRoute to the selector-less Service.
    config = (
        ObjectPath(LB_CONFIGURATIONS, namespace, name),
        {
            "apiVersion": "gateway.k8s.aws/v1",
            "kind": "LoadBalancerConfiguration",
            "metadata": _metadata(run_id),
            "spec": {"scheme": scheme},
        },
    )
    path = ObjectPath(f"{GATEWAY_API}/gateways", namespace, name)
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _metadata(run_id),
        "spec": {
            "gatewayClassName": gateway_class,
            "listeners": [{"name": "http", "port": PORT, "protocol": "HTTP"}],
            "infrastructure": {
                "parametersRef": {
                    "group": t.GATEWAY_CONFIG_GROUP,
                    "kind": t.GATEWAY_CONFIG_KIND,
                    "name": name,
                }
            },
        },
    }
    route = (
        ObjectPath(f"{GATEWAY_API}/httproutes", namespace, name),
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": _metadata(run_id),
            "spec": {
                "parentRefs": [{"name": name}],
                "rules": [{"backendRefs": [{"name": name, "port": PORT}]}],
            },
        },
    )
    return CanaryOwner(
        kind,
        namespace,
        name,
        run_id,
        (backend, config, (path, gateway), route),
        path,
        t.GATEWAY_ALB_STACK_TAG,
    )


def canary_filter_policy(namespace: str) -> str:
    """The SNS filter policy of the canary's subscription to the alert topic: alerts about
    owners in its namespace, and alerts that name no owner (an ``error`` before the owner was
    read), which the canary matches by load balancer ARN
    (https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html)."""
    # The order of the values does not matter to SNS (any may match); moto 5.2.5 stops at a
    # string value when the attribute is absent, so the exists rule comes first.
    return json.dumps({"namespace": [{"exists": False}, namespace]})
