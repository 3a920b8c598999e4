"""The earliest signal of a new load balancer: the controller's managed SG.

The controller creates its managed SG and then, in the same reconcile, the load balancer
(LBC:pkg/deploy/stack_deployer.go: the SG synthesizer runs before the load balancer
synthesizer and a failure stops the reconcile). The SG's event names the stack; this finds
the load balancer(s) of that stack, re-reading a few times while the controller has not
created it yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from frontguard import tags as t
from frontguard.adapters.tagging import TaggingClient, load_balancers_of_stack
from frontguard.alerts import Alert
from frontguard.controller.security_groups import annotation_keys
from frontguard.engine.owner import Owner, resolve_owner
from frontguard.engine.remediate import Engine
from frontguard.errors import NotFoundError
from frontguard.model import Outcome, OwnerRef, classify

logger = logging.getLogger(__name__)


def load_balancers_for_stack(
    engine: Engine, tagging: TaggingClient, *, cluster: str, stack_tag: str, stack: str
) -> list[str]:
    """The ARNs of the stack's load balancers, the main one (``resource=LoadBalancer``) first;
    empty when none appeared within the engine's discovery delays (the ``CreateLoadBalancer``
    event and the scheduled scan follow)."""
    resource_tag = stack_tag.rsplit("/", 1)[0] + "/resource"
    for delay in (*engine.discovery_delays, None):
        found = load_balancers_of_stack(tagging, cluster=cluster, stack_tag=stack_tag, stack=stack)
        if found:
            return sorted(
                found, key=lambda arn: (found[arn].get(resource_tag) != "LoadBalancer", arn)
            )
        if delay is None:
            break
        engine.sleep(delay)
    return []


# --- fail-closed mode: the controller's managed SG was refused ------------------------------

# Stands in for the load balancer ARN in the alert, its dedupe key and its finding: the load
# balancer does not exist, so the blocked stack is what is reported (once per alert period).
BLOCKED_KEY_PREFIX = "blocked-load-balancer:"


@dataclass(frozen=True)
class Blocked:
    """What the event path reports for a refused managed SG: an ``error`` alert, or a reason to
    ignore the event (``alert`` is None)."""

    reason: str
    alert: Alert | None = None


def blocked_stack(
    engine: Engine, *, cluster: str, prefix: str, stack: str, error_code: str, vpc_id: str
) -> Blocked:
    """The controller's managed SG was refused (fail-closed mode's Deny): no load balancer
    exists for this stack and none will until its owner names a security group. Read the
    owner the stack tag names and say who is blocked and what fixes it.

    frontguard does not create its own SG before a load balancer exists: its SGs are named and
    proven by the load balancer's ARN (adapters/aws.py ``ownership_problem``), which does not
    exist yet (docs/born-protected.md, "Fail-closed mode").
    """
    if not engine.policy.selects_cluster(cluster):
        return Blocked("cluster not selected by policy")
    classification = classify({t.CLUSTER_TAG: cluster, f"{prefix}/stack": stack})
    ref = classification.owner
    if ref is None:
        return Blocked(classification.skip_reason or "no owner in the stack tag")
    try:
        owner = resolve_owner(engine.kube(cluster), ref, engine.policy.controller_flags(cluster))
    except NotFoundError as error:
        return Blocked(f"owner {ref.describe()} is gone: {error}")
    key = f"{BLOCKED_KEY_PREFIX}{cluster}/{prefix}/stack={stack}"
    objects = [f"{p.namespace}/{p.name}" for p in owner.paths]
    detail = (
        f"the controller's CreateSecurityGroup of its managed SG for {ref.describe()} was "
        f"refused ({error_code}) by fail-closed mode: no load balancer exists for it, and the "
        "controller keeps retrying (FailedDeployModel Events on the object) until the owner "
        "names a security group"
    )
    logger.warning(
        "managed SG refused: owner blocked",
        extra={
            "cluster": cluster,
            "owner": ref.describe(),
            "objects": objects,
            "error": error_code,
        },
    )
    return Blocked(
        detail,
        Alert(
            outcome=Outcome.ERROR,
            load_balancer_arn=key,
            cluster=cluster,
            owner=ref,
            detail=detail,
            fix=_blocked_fix(ref, owner),
            data={
                "blocked_by": "fail-closed",
                "error_code": error_code,
                "owner_objects": objects,
                "vpc_id": vpc_id,
            },
        ),
    )


def _blocked_fix(ref: OwnerRef, owner: Owner) -> str:
    if owner.gateway is not None:
        where = (
            "set spec.securityGroups to a security group the policy approves "
            "(approved_security_groups) and manageBackendSecurityGroupRules: true in the "
            "Gateway's LoadBalancerConfiguration"
        )
    else:
        keys = annotation_keys(ref)
        where = f"annotate {'every member' if len(owner.objects) > 1 else 'it'} with {keys.security_groups}: <a security group the policy approves (approved_security_groups)>"
        if keys.backend_rules is not None:
            where += f' and {keys.backend_rules}: "true" (both together, identical across an IngressGroup)'
    return (
        f"Give {ref.describe()} a security group: {where}. The controller retries on the "
        "change and creates the load balancer with it, never with its world-open SG. Or lift "
        "fail-closed mode for this cluster's controller role."
    )
