"""Seed the state frontguard leaves behind, straight into the backends (for scale tests).

Remediating thousands of load balancers through the engine is what the first-scan benchmark
measures; steady-state tests and benchmarks start from this instead: per load balancer a
frontguard-tagged SG whose rules are the listener ports × the given sources, both annotations
on the owner, and the SG on the load balancer in place of the controller's own (which is
deleted, as the controller deletes it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from frontguard import tags as t

from sandbox.aws import ec2_backend, elbv2_backend
from sandbox.scenario import Cluster, Owned

SG_ANNOTATION = {"Ingress": t.INGRESS_SG_ANNOTATION, "Service": t.SERVICE_SG_ANNOTATION}
BACKEND_ANNOTATION = {
    "Ingress": t.INGRESS_BACKEND_ANNOTATION,
    "Service": t.SERVICE_BACKEND_ANNOTATION,
}


def seed_remediated(cluster: Cluster, owned: Sequence[Owned], sources: Sequence[str]) -> list[str]:
    """Put each of ``owned`` in frontguard's remediated, controller-reconciled state."""
    ec2, elbv2 = ec2_backend(), elbv2_backend()
    group_ids = []
    for item in owned:
        lb = elbv2.load_balancers[item.lb_arn]
        digest = hashlib.sha256(item.lb_arn.encode()).hexdigest()[:10]
        name = f"frontguard-{item.load_balancer.name[:32]}-{digest}"
        group = ec2.create_security_group(
            name,
            "frontguard frontend SG",
            vpc_id=lb.vpc_id,
            tags={
                "Name": name,
                t.MANAGED_BY_TAG: t.MANAGED_BY_VALUE,
                t.LOAD_BALANCER_TAG: item.lb_arn,
                t.FG_CLUSTER_TAG: cluster.name,
            },
        )
        for listener in elbv2.describe_listeners(item.lb_arn, []):
            protocol = "udp" if listener.protocol == "UDP" else "tcp"
            for source in sources:
                ranges = [{"CidrIpv6": source}] if ":" in source else [{"CidrIp": source}]
                ec2.authorize_security_group_ingress(
                    group.id, protocol, str(listener.port), str(listener.port), ranges
                )
        backend = [g for g in lb.security_groups if g != item.managed_sg_id]
        lb.security_groups = [group.id, *backend]
        if item.stack is not None and item.managed_sg_id is not None:
            # The controller deletes its managed SG once the annotation replaces it
            # (pkg/ingress/model_build_load_balancer.go, buildLoadBalancerSecurityGroups: the managed SG
            # is built only when the annotation names none).
            ec2.delete_security_group(group_id=item.managed_sg_id)
            item.stack.managed_sg_id = None
        for namespace, obj_name in item.refs:
            cluster.kube.patch_object(
                item.resource,
                namespace,
                obj_name,
                {
                    "metadata": {
                        "annotations": {
                            SG_ANNOTATION[item.kind]: group.id,
                            BACKEND_ANNOTATION[item.kind]: "true",
                        }
                    }
                },
            )
        group_ids.append(group.id)
    return group_ids
