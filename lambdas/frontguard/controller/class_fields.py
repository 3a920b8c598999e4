"""The controller's class-level objects as its CRDs define them: the fields
`frontguard render born-protected` writes, with their Go types (checked in tests).

- IngressClassParams, ``elbv2.k8s.aws/v1beta1``: LBC:apis/elbv2/v1beta1/ingressclassparams_types.go
  (``namespaceSelector *metav1.LabelSelector``, ``scheme *LoadBalancerScheme`` enum
  internal|internet-facing, ``inboundCIDRs []string``, ``prefixListsIDs []string``; a non-empty
  ``inboundCIDRs`` makes the controller ignore the ``inbound-cidrs`` annotation,
  LBC:pkg/ingress/model_build_listener.go).
- LoadBalancerConfiguration, ``gateway.k8s.aws/v1`` (v1beta1 before LBC v3.5.0):
  LBC:apis/gateway/v1/loadbalancerconfig_types.go (``mergingMode`` enum
  prefer-gateway|prefer-gateway-class, ``scheme``, ``sourceRanges *[]string``,
  ``securityGroupPrefixes *[]string``). ``sourceRanges`` nil means 0.0.0.0/0 and ::/0
  (LBC:pkg/gateway/model/model_build_security_group.go), so it is always written.
"""

from __future__ import annotations

from typing import Final

INGRESS_CLASS_PARAMS_API: Final = "elbv2.k8s.aws/v1beta1"
LB_CONFIGURATION_API: Final = "gateway.k8s.aws/v1"

# field → "string", "[]string", "LabelSelector", or the allowed values of an enum.
INGRESS_CLASS_PARAMS_SPEC: Final[dict[str, object]] = {
    "namespaceSelector": "LabelSelector",
    "scheme": ("internal", "internet-facing"),
    "inboundCIDRs": "[]string",
    "prefixListsIDs": "[]string",
}
LB_CONFIGURATION_SPEC: Final[dict[str, object]] = {
    "mergingMode": ("prefer-gateway", "prefer-gateway-class"),
    "scheme": ("internal", "internet-facing"),
    "sourceRanges": "[]string",
    "securityGroupPrefixes": "[]string",
}

# (API group, kind) → the spec field through which the object names prefix lists: the
# controller adds one SG rule per listed prefix list (fields above). `frontguard doctor` checks
# that they name only lists frontguard owns.
PREFIX_LIST_FIELDS: Final[dict[tuple[str, str], str]] = {
    ("elbv2.k8s.aws", "IngressClassParams"): "prefixListsIDs",
    ("gateway.k8s.aws", "LoadBalancerConfiguration"): "securityGroupPrefixes",
}
