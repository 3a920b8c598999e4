"""What a revert would do for a scope: reads the cluster and the account, decides, changes
nothing (:mod:`~frontguard.engine.revert.apply` carries the plan out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frontguard import tags as t
from frontguard.adapters.kube import CORE, NETWORKING, KubeClient
from frontguard.controller.objects import annotations_of
from frontguard.engine.revert.model import RevertPlan, Scope
from frontguard.engine.revert.restore import (
    annotation_names,
    config_revert,
    configuration_names,
    ingress_groups,
    object_reverts,
    read_configurations,
)
from frontguard.engine.revert.security_groups import frontguard_groups, sg_reverts
from frontguard.policy import ControllerFlags

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


def plan_revert(
    kube: KubeClient,
    ec2: EC2Client,
    elbv2: ElasticLoadBalancingv2Client,
    scope: Scope,
    flags: ControllerFlags | None = None,
) -> RevertPlan:
    """What revert would do for ``scope``; reads only."""
    result = RevertPlan(scope)
    services = list(kube.list_paged(f"{CORE}/services"))
    ingresses = list(kube.list_paged(f"{NETWORKING}/ingresses"))
    ours, impostors = frontguard_groups(ec2, scope.cluster)
    group_of = ingress_groups(kube, ingresses, flags or ControllerFlags())
    configurations = read_configurations(kube)
    reverts, result.notes = object_reverts(scope, services, ingresses, group_of, set(ours))
    result.objects = sorted(reverts.values(), key=lambda r: r.ref)
    config_reverts = {
        config.ref: config_revert(kube, config, set(ours))
        for config in configurations
        if scope.selects("loadbalancerconfiguration", config.obj)
        and t.REPLACED_ANNOTATION in annotations_of(config.obj)
    }
    result.configurations = sorted(config_reverts.values(), key=lambda r: r.ref)
    named = {
        **configuration_names(configurations, config_reverts),
        **annotation_names(services, ingresses, reverts),
    }
    result.security_groups = sg_reverts(elbv2, result, ours, impostors, named)
    return result
