"""Undo frontguard's work on one cluster: give the load balancers back to the controller.

For each Service/Ingress carrying ``frontguard.io/replaced`` (the annotations frontguard
replaced, as JSON ``{annotation: previous value or null}``), one JSON merge patch restores the
previous values (``null`` removes an annotation) and drops the record, so the controller
brings back its own default security group. An IngressGroup is reverted as a whole: a partial
revert would leave members with different ``security-groups`` values and stop the whole group
from reconciling. A Gateway's LoadBalancerConfiguration carrying the record (``{"spec.<field>":
previous or null, "created": true, "gateway.spec.infrastructure.parametersRef": null}``) gets
the recorded fields merged back; the Gateway's ``parametersRef`` is removed again when
frontguard set it, and a configuration frontguard created is deleted. Then frontguard's own SGs
(tag ``frontguard.io/managed-by=frontguard``) that no load balancer, annotation or configuration
uses any more are deleted; one still attached is kept until the controller has reconciled.
SGs frontguard did not tag are never touched.

:func:`~frontguard.engine.revert.plan.plan_revert` reads and decides (no change), from what
:mod:`~frontguard.engine.revert.restore` (annotations, configurations) and
:mod:`~frontguard.engine.revert.security_groups` decide;
:func:`~frontguard.engine.revert.apply.apply_revert` carries the plan out;
:func:`~frontguard.engine.revert.describe.render` says what happened (.importlinter:
revert-plans-then-applies). Adapters take their clients as arguments: the CLI hands in the
user's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frontguard.adapters.kube import KubeClient
from frontguard.engine.revert.apply import apply_revert
from frontguard.engine.revert.describe import render
from frontguard.engine.revert.model import RevertPlan, Scope, SgAction
from frontguard.engine.revert.plan import plan_revert
from frontguard.policy import ControllerFlags

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

__all__ = ["RevertPlan", "Scope", "SgAction", "apply_revert", "plan_revert", "render", "revert"]


def revert(
    kube: KubeClient,
    ec2: EC2Client,
    elbv2: ElasticLoadBalancingv2Client,
    scope: Scope,
    *,
    apply: bool,
    flags: ControllerFlags | None = None,
) -> RevertPlan:
    """Plan, and with ``apply`` carry out, the revert of ``scope``."""
    planned = plan_revert(kube, ec2, elbv2, scope, flags)
    if apply:
        apply_revert(kube, ec2, planned)
    return planned
