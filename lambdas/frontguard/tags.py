"""Names the AWS Load Balancer Controller and frontguard use: tags, annotations, labels.

All controller facts come from DESIGN.md ("Facts about the controller").
"""

from __future__ import annotations

from typing import Final, NamedTuple

# --- Tags the controller puts on what it creates -------------------------------------------
CLUSTER_TAG: Final = "elbv2.k8s.aws/cluster"
INGRESS_STACK_TAG: Final = "ingress.k8s.aws/stack"
SERVICE_STACK_TAG: Final = "service.k8s.aws/stack"
INGRESS_RESOURCE_TAG: Final = "ingress.k8s.aws/resource"
SERVICE_RESOURCE_TAG: Final = "service.k8s.aws/resource"
GATEWAY_ALB_STACK_TAG: Final = "gateway.k8s.aws.alb/stack"
GATEWAY_NLB_STACK_TAG: Final = "gateway.k8s.aws.nlb/stack"
CONTROLLER_RESOURCE_TAG: Final = "elbv2.k8s.aws/resource"
FRONTEND_NLB: Final = "FrontendNlb"
MANAGED_LB_SG: Final = "ManagedLBSecurityGroup"
BACKEND_SG: Final = "backend-sg"
# EKS Auto Mode's built-in controller.
AUTO_MODE_CLUSTER_TAG: Final = "eks:eks-cluster-name"
AUTO_MODE_STACK_TAGS: Final = (
    "ingress.eks.amazonaws.com/stack",
    "service.eks.amazonaws.com/stack",
    "gateway.eks.amazonaws.com.alb/stack",
    "gateway.eks.amazonaws.com.nlb/stack",
)

AUTO_MODE_INGRESS_RESOURCE_TAG: Final = "ingress.eks.amazonaws.com/resource"
# Auto Mode's built-in controller and its classes (IngressClass, loadBalancerClass).
AUTO_MODE_ALB_CONTROLLER: Final = "eks.amazonaws.com/alb"
AUTO_MODE_NLB_CLASS: Final = "eks.amazonaws.com/nlb"
AUTO_MODE_PARAMS_API: Final = "/apis/eks.amazonaws.com/v1"


class StackKeys(NamedTuple):
    """The stack tag keys one controller uses."""

    ingress: str
    ingress_resource: str
    service: str
    gateway_alb: str
    gateway_nlb: str


LBC_STACK_KEYS: Final = StackKeys(
    INGRESS_STACK_TAG,
    INGRESS_RESOURCE_TAG,
    SERVICE_STACK_TAG,
    GATEWAY_ALB_STACK_TAG,
    GATEWAY_NLB_STACK_TAG,
)
AUTO_MODE_STACK_KEYS: Final = StackKeys(
    "ingress.eks.amazonaws.com/stack",
    AUTO_MODE_INGRESS_RESOURCE_TAG,
    "service.eks.amazonaws.com/stack",
    "gateway.eks.amazonaws.com.alb/stack",
    "gateway.eks.amazonaws.com.nlb/stack",
)

# Where each controller says "ManagedLBSecurityGroup" (its own world-open frontend SG).
RESOURCE_TAGS: Final = (
    INGRESS_RESOURCE_TAG,
    SERVICE_RESOURCE_TAG,
    "gateway.k8s.aws.alb/resource",
    "gateway.k8s.aws.nlb/resource",
    AUTO_MODE_INGRESS_RESOURCE_TAG,
    "service.eks.amazonaws.com/resource",
    "gateway.eks.amazonaws.com.alb/resource",
    "gateway.eks.amazonaws.com.nlb/resource",
)

# Tag prefixes of the controllers that create a managed SG, each with the same tracking keys
# (LBC:pkg/deploy/tracking/provider.go ``ResourceTags``: ``<prefix>/stack``,
# ``<prefix>/resource``): Ingress (LBC:controllers/ingress/group_controller.go
# ``ingressTagPrefix``), Service (LBC:controllers/service/service_controller.go
# ``serviceTagPrefix``), Gateway (LBC:pkg/gateway/constants/controller_constants.go
# ``ALBGatewayTagPrefix``/``NLBGatewayTagPrefix``). The resource ID of the managed SG is
# ``ManagedLBSecurityGroup`` in each builder (LBC:pkg/ingress/model_build_managed_sg.go,
# LBC:pkg/service/model_build_managed_sg.go, LBC:pkg/gateway/model/model_build_security_group.go).
MANAGED_SG_PREFIXES = (
    "ingress.k8s.aws",
    "service.k8s.aws",
    "gateway.k8s.aws.alb",
    "gateway.k8s.aws.nlb",
)

# --- Gateway API (LBC v2.13.3+ NLB, v2.14+ ALB) ---------------------------------------------
GATEWAY_ALB_CONTROLLER: Final = "gateway.k8s.aws/alb"
GATEWAY_NLB_CONTROLLER: Final = "gateway.k8s.aws/nlb"
GATEWAY_CONFIG_GROUP: Final = "gateway.k8s.aws"
GATEWAY_CONFIG_KIND: Final = "LoadBalancerConfiguration"
GATEWAY_CONFIG_VERSIONS: Final = ("v1", "v1beta1")  # v1 from LBC v3.5

# --- frontguard's own tags (never the controller's stack tags: it would delete the SG) -----
MANAGED_BY_TAG: Final = "frontguard.io/managed-by"
MANAGED_BY_VALUE: Final = "frontguard"
LOAD_BALANCER_TAG: Final = "frontguard.io/load-balancer"
FG_CLUSTER_TAG: Final = "frontguard.io/cluster"
OWNER_TAG: Final = "frontguard.io/owner"
PLAN_TAG: Final = "frontguard.io/plan"
# A pre-load-balancer SG (fail-closed mode): the controller's stack tag it stands in for, as
# ``<stack tag key>=<stack>`` (the controller's own key is never put on a frontguard SG).
STACK_TAG: Final = "frontguard.io/stack"
# frontguard's prefix lists: which policy rule, cluster and address family one holds.
PREFIX_LIST_TAG: Final = "frontguard.io/prefix-list"

# --- Annotations -------------------------------------------------------------------------------
INGRESS_SG_ANNOTATION: Final = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND_ANNOTATION: Final = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
FRONTEND_NLB_SG_ANNOTATION: Final = "alb.ingress.kubernetes.io/frontend-nlb-security-groups"
INGRESS_GROUP_ANNOTATION: Final = "alb.ingress.kubernetes.io/group.name"
INGRESS_INBOUND_CIDRS: Final = "alb.ingress.kubernetes.io/inbound-cidrs"
INGRESS_PREFIX_LISTS: Final = "alb.ingress.kubernetes.io/security-group-prefix-lists"
SERVICE_SG_ANNOTATION: Final = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
SERVICE_BACKEND_ANNOTATION: Final = (
    "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules"
)
SERVICE_TYPE_ANNOTATION: Final = "service.beta.kubernetes.io/aws-load-balancer-type"
SERVICE_SOURCE_RANGES: Final = "service.beta.kubernetes.io/load-balancer-source-ranges"
SERVICE_PREFIX_LISTS: Final = (
    "service.beta.kubernetes.io/aws-load-balancer-security-group-prefix-lists"
)
NLB_LOAD_BALANCER_CLASS: Final = "service.k8s.aws/nlb"
ALB_CONTROLLER: Final = "ingress.k8s.aws/alb"

EXEMPT_ANNOTATION: Final = "frontguard.io/exempt"
# What frontguard replaced, as JSON {annotation: previous value or null}, for `revert`.
REPLACED_ANNOTATION: Final = "frontguard.io/replaced"
# Written (a timestamp) to make the controller reconcile an owner whose LB carries an SG the
# model does not: any annotation change triggers a reconcile, which resets the LB's SGs.
RECONCILE_ANNOTATION: Final = "frontguard.io/reconcile-requested"
FIELD_MANAGER: Final = "frontguard"

# GitOps ownership markers.
ARGOCD_TRACKING_ANNOTATION: Final = "argocd.argoproj.io/tracking-id"
FLUX_LABELS: Final = ("kustomize.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/name")
