"""`frontguard render born-protected`: the in-cluster objects that make load balancers born at
policy width, for a platform team to apply with its own GitOps (frontguard's roles get no
right to write them). Pure: built from the policy and frontguard's prefix lists.

- per policy rule for Ingresses: an IngressClass and its IngressClassParams (``inboundCIDRs``
  non-empty so owners' ``inbound-cidrs`` annotations are ignored, ``prefixListsIDs`` naming
  frontguard's lists, a ``namespaceSelector`` where rules differ by namespace);
- per policy rule for Gateways: a GatewayClass-level LoadBalancerConfiguration
  (``sourceRanges`` always set, ``securityGroupPrefixes``, ``mergingMode``) and the
  GatewayClasses that reference it;
- a ValidatingAdmissionPolicy and its binding (Warn, or Deny by choice) refusing world-open
  owner sources, unapproved bring-your-own SGs and Ingresses of ungoverned classes.
- on Kubernetes ≥ 1.36, a MutatingAdmissionPolicy and its binding giving Services without
  sources the prefix lists of their policy rule (frontguard.render_services).

Field names: frontguard.controller.class_fields (cited to the controller's API types).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from frontguard import tags as t
from frontguard.adapters.prefix_lists import PrefixList
from frontguard.controller import ingress as ing
from frontguard.controller.class_fields import INGRESS_CLASS_PARAMS_API, LB_CONFIGURATION_API
from frontguard.errors import ConfigurationError
from frontguard.policy import Policy, is_glob
from frontguard.render_rules import RuleView, rules_for
from frontguard.render_services import (
    SCHEME_EXPRESSION,
    mutating_policy_supported,
    namespace_condition,
    service_objects,
)

JSON = dict[str, Any]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
RULE_LABEL = "frontguard.io/policy-rule"
FRONTGUARD_GROUP = "frontguard"  # frontguard's Kubernetes group (infra/eks_access.py)
POLICY_NAME = "frontguard-born-protected"
WORLD = ("0.0.0.0/0", "::/0")
# The ValidatingAdmissionPolicy checks owners' source ranges with CEL's CIDR library
# (isCIDR(), cidr(), containsCIDR()), in Kubernetes 1.31 and later
# (https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-cidr-library).
VAP_MIN_VERSION = (1, 31)


def _namespace_selector(view: RuleView, earlier: Sequence[RuleView]) -> JSON | None:
    """Only the namespaces this rule governs: its own exact name, else all but the exact names
    earlier rules took; a glob cannot be a label selector, so such rules select by label."""
    if view.namespace != "*":
        if is_glob(view.namespace):
            return {"matchLabels": {RULE_LABEL: view.rule}}
        return {
            "matchExpressions": [
                {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": [view.namespace]}
            ]
        }
    taken = sorted(
        {v.namespace for v in earlier if v.namespace != "*" and not is_glob(v.namespace)}
    )
    if not taken:
        return None
    return {
        "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": taken}]
    }


def ingress_objects(views: Sequence[RuleView]) -> list[JSON]:
    objects: list[JSON] = []
    relevant = [v for v in views if v.kind in ("ingress", "*")]
    for index, view in enumerate(relevant):
        if not view.cidrs:
            continue  # inboundCIDRs must be non-empty: a rule of prefix lists only has no class
        spec: JSON = {"inboundCIDRs": list(view.cidrs)}
        if view.prefix_lists:
            spec["prefixListsIDs"] = list(view.prefix_lists)
        if view.scheme != "*":
            spec["scheme"] = view.scheme
        selector = _namespace_selector(view, relevant[:index])
        if selector is not None:
            spec["namespaceSelector"] = selector
        objects.append(
            {
                "apiVersion": INGRESS_CLASS_PARAMS_API,
                "kind": "IngressClassParams",
                "metadata": {"name": view.class_name},
                "spec": spec,
            }
        )
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": {"name": view.class_name},
                "spec": {
                    "controller": t.ALB_CONTROLLER,
                    "parameters": {
                        "apiGroup": "elbv2.k8s.aws",
                        "kind": "IngressClassParams",
                        "name": view.class_name,
                    },
                },
            }
        )
    return objects


def gateway_objects(views: Sequence[RuleView], namespace: str) -> list[JSON]:
    objects: list[JSON] = []
    for view in (v for v in views if v.kind in ("gateway", "*")):
        spec: JSON = {
            "mergingMode": "prefer-gateway-class",
            "sourceRanges": list(view.cidrs),  # always set: nil is world-open
            "securityGroupPrefixes": list(view.prefix_lists),
        }
        if view.scheme != "*":
            spec["scheme"] = view.scheme
        objects.append(
            {
                "apiVersion": LB_CONFIGURATION_API,
                "kind": "LoadBalancerConfiguration",
                "metadata": {"name": view.class_name, "namespace": namespace},
                "spec": spec,
            }
        )
        for lb, controller in (
            ("alb", t.GATEWAY_ALB_CONTROLLER),
            ("nlb", t.GATEWAY_NLB_CONTROLLER),
        ):
            objects.append(
                {
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "GatewayClass",
                    "metadata": {"name": f"{view.class_name}-{lb}"},
                    "spec": {
                        "controllerName": controller,
                        "parametersRef": {
                            "group": t.GATEWAY_CONFIG_GROUP,
                            "kind": t.GATEWAY_CONFIG_KIND,
                            "name": view.class_name,
                            "namespace": namespace,
                        },
                    },
                }
            )
    return objects


def _annotation(key: str) -> str:
    return f"object.metadata.annotations['{key}']"


def _has_annotation(key: str) -> str:
    return f"has(object.metadata.annotations) && '{key}' in object.metadata.annotations"


INGRESS_SCHEME_EXPRESSION = (
    f"({_has_annotation(ing.INGRESS_SCHEME_ANNOTATION)}) ? "
    f"{_annotation(ing.INGRESS_SCHEME_ANNOTATION)} : '{ing.DEFAULT_SCHEME}'"
)


def allowed_cidrs_expression(views: Sequence[RuleView], kind: str) -> str:
    """The CIDRs of the first rule for ``kind`` that matches the request's namespace and
    ``variables.scheme``: ``cond0 ? [cidrs0] : (cond1 ? [cidrs1] : ... [])``. A rule of
    prefix lists or SGs only admits no owner CIDR at all."""
    expression = "[]"
    for view in reversed([v for v in views if v.kind in (kind, "*")]):
        scheme = "true" if view.scheme == "*" else f"variables.scheme == '{view.scheme}'"
        condition = " && ".join(
            p for p in (namespace_condition(view.namespace), scheme) if p != "true"
        )
        value = "[" + ", ".join(f"'{c}'" for c in view.cidrs) + "]"
        expression = value if not condition else f"{condition} ? {value} : ({expression})"
    return expression


def _inside(ranges: str, allowed: str) -> str:
    """Every element of the CEL list ``ranges`` is a CIDR contained in one of ``allowed``:
    CIDR semantics (any spelling of /0, split covers, IPv6 compression are all just ranges;
    an IPv4 range is never inside an IPv6 one), and a string that is no CIDR is refused."""
    return f"{ranges}.all(r, isCIDR(r) && {allowed}.exists(a, cidr(a).containsCIDR(r)))"


def _annotation_ranges(key: str) -> str:
    """A comma-separated annotation as the controller reads it: split on commas, each part
    trimmed (LBC:pkg/annotations/parser.go ParseStringSliceAnnotation)."""
    return f"{_annotation(key)}.split(',').map(r, r.trim())"


def _only_approved(key: str, approved: Sequence[str]) -> str:
    if not approved:
        return f"!({_has_annotation(key)})"
    alternatives = "|".join(sorted(approved))
    pattern = rf"^\\s*({alternatives})\\s*(,\\s*({alternatives})\\s*)*$"
    return f"!({_has_annotation(key)}) || {_annotation(key)}.matches('{pattern}')"


def _resource_rules() -> list[JSON]:
    """The objects the admission policy sees: Ingresses and Services, created or updated
    (a new list each time: callers may edit what they render)."""
    return [
        {
            "apiGroups": ["networking.k8s.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["ingresses"],
        },
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["services"],
        },
    ]


def _validations(allowed_classes: Sequence[str], approved: Sequence[str]) -> list[JSON]:
    """What the admission policy checks: the IngressClass, owners' ranges inside the policy's
    sources for their namespace and scheme, and only approved SGs named."""
    classes = ", ".join(f"'{c}'" for c in allowed_classes)
    is_ingress = "request.kind.kind == 'Ingress'"
    is_service = "request.kind.kind == 'Service'"
    return [
        {
            "expression": f"!({is_ingress}) || (has(object.spec.ingressClassName) && "
            f"object.spec.ingressClassName in [{classes}])",
            "message": "Ingresses must name a frontguard-governed IngressClass "
            f"({', '.join(allowed_classes)}): other classes are born world-open",
            "reason": "Forbidden",
        },
        {
            "expression": f"!({is_ingress}) || !({_has_annotation(t.INGRESS_INBOUND_CIDRS)}) || "
            + _inside(_annotation_ranges(t.INGRESS_INBOUND_CIDRS), "variables.ingressCidrs"),
            "message": "inbound-cidrs must be CIDRs inside the policy's sources for this "
            "namespace and scheme",
            "reason": "Forbidden",
        },
        {
            "expression": f"!({is_ingress}) || ({_only_approved(t.INGRESS_SG_ANNOTATION, approved)})",
            "message": "security-groups may name only SGs the policy approves",
            "reason": "Forbidden",
        },
        {
            "expression": f"!({is_service}) || !has(object.spec.loadBalancerSourceRanges) || "
            + _inside("object.spec.loadBalancerSourceRanges", "variables.serviceCidrs"),
            "message": "loadBalancerSourceRanges must be CIDRs inside the policy's sources for "
            "this namespace and scheme",
            "reason": "Forbidden",
        },
        {
            "expression": f"!({is_service}) || !({_has_annotation(t.SERVICE_SOURCE_RANGES)}) || "
            + _inside(_annotation_ranges(t.SERVICE_SOURCE_RANGES), "variables.serviceCidrs"),
            "message": "load-balancer-source-ranges must be CIDRs inside the policy's sources "
            "for this namespace and scheme",
            "reason": "Forbidden",
        },
        {
            "expression": f"!({is_service}) || ({_only_approved(t.SERVICE_SG_ANNOTATION, approved)})",
            "message": "aws-load-balancer-security-groups may name only SGs the policy approves",
            "reason": "Forbidden",
        },
    ]


def admission_objects(
    governed_classes: Sequence[str],
    approved: Sequence[str],
    *,
    deny: bool,
    other_classes: Sequence[str] = (),
    views: Sequence[RuleView] = (),
) -> list[JSON]:
    """The ValidatingAdmissionPolicy (GA in Kubernetes 1.30; its CIDR checks need 1.31) and
    its binding. Owners' source ranges must lie inside the CIDRs of the policy rule for
    their namespace and scheme (``views``; none: no owner range is admitted)."""
    is_ingress = "request.kind.kind == 'Ingress'"
    is_service = "request.kind.kind == 'Service'"
    policy: JSON = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": _resource_rules()},
            "matchConditions": [
                {
                    # frontguard's own patches name its per-LB SG (no approved list has it).
                    "name": "not-frontguard",
                    "expression": f"!('{FRONTGUARD_GROUP}' in request.userInfo.groups)",
                },
                {
                    "name": "load-balancer-services-and-ingresses",
                    "expression": f"{is_ingress} || "
                    "(has(object.spec.type) && object.spec.type == 'LoadBalancer')",
                },
            ],
            "variables": [
                {
                    "name": "scheme",
                    "expression": f"{is_service} ? ({SCHEME_EXPRESSION}) : "
                    f"({INGRESS_SCHEME_EXPRESSION})",
                },
                {"name": "serviceCidrs", "expression": allowed_cidrs_expression(views, "service")},
                {"name": "ingressCidrs", "expression": allowed_cidrs_expression(views, "ingress")},
            ],
            "validations": _validations(sorted({*governed_classes, *other_classes}), approved),
        },
    }
    binding: JSON = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "policyName": POLICY_NAME,
            "validationActions": ["Deny"] if deny else ["Warn"],
        },
    }
    return [policy, binding]


def born_protected(
    policy: Policy,
    cluster: str,
    owned: Mapping[str, PrefixList],
    *,
    deny: bool = False,
    namespace: str = "frontguard-system",
    other_classes: Sequence[str] = (),
    kubernetes_version: tuple[int, int] | None = None,
) -> list[JSON]:
    """Every object, in apply order. With ``kubernetes_version`` ≥ 1.36, also the
    MutatingAdmissionPolicy for Services (frontguard.render_services); without a version, or
    below 1.36, none. Below 1.31 nothing: the admission policy's CIDR checks need CEL's CIDR
    library (VAP_MIN_VERSION)."""
    if kubernetes_version is not None and kubernetes_version < VAP_MIN_VERSION:
        raise ConfigurationError(
            f"Kubernetes {kubernetes_version[0]}.{kubernetes_version[1]} is too old for the "
            "born-protected admission policy: its CIDR checks need CEL's CIDR library "
            f"(Kubernetes {VAP_MIN_VERSION[0]}.{VAP_MIN_VERSION[1]}+); upgrade the cluster"
        )
    views = rules_for(policy, cluster, owned)
    ingress = ingress_objects(views)
    governed = [o["metadata"]["name"] for o in ingress if o["kind"] == "IngressClass"]
    services: list[JSON] = []
    if kubernetes_version is not None and mutating_policy_supported(kubernetes_version):
        services = service_objects(views, policy, cluster)
    return [
        *ingress,
        *gateway_objects(views, namespace),
        *admission_objects(
            governed,
            sorted(policy.approved_security_groups),
            deny=deny,
            other_classes=other_classes,
            views=views,
        ),
        *services,
    ]
