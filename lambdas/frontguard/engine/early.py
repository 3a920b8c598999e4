"""The earliest signal of a new load balancer: the controller's managed SG.

The controller creates its managed SG and then, in the same reconcile, the load balancer
(LBC:pkg/deploy/stack_deployer.go: the SG synthesizer runs before the load balancer
synthesizer and a failure stops the reconcile). The SG's event names the stack; this finds
the load balancer(s) of that stack, re-reading a few times while the controller has not
created it yet.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.tagging import TaggingClient, load_balancers_of_stack
from frontguard.alerts import Alert
from frontguard.controller.security_groups import annotation_keys
from frontguard.engine import gateway, pre_lb
from frontguard.engine.decision import Engine
from frontguard.engine.owner import Owner, resolve_owner
from frontguard.errors import NotFoundError
from frontguard.model import Outcome, OwnerRef, classify
from frontguard.policy import Mode

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


@dataclass(frozen=True)
class Refusal:
    """What a refused ``CreateSecurityGroup`` record claims (anyone can make a refused call:
    security review r2, R2-1)."""

    cluster: str
    stack_tag: str
    stack: str
    vpc_id: str
    account: str
    caller_role: tuple[str, str] | None  # (account, role name) from CloudTrail's userIdentity
    caller_arn: str


@dataclass(frozen=True)
class Untrusted:
    """Why frontguard does not act on a refusal; ``suspicious``: someone else than the
    cluster's controller made it, or for another VPC (a human must look)."""

    reason: str
    suspicious: bool


def untrusted_refusal(
    engine: Engine,
    tagging: TaggingClient,
    refusal: Refusal,
    *,
    controller_roles: Collection[str],
) -> Untrusted | None:
    """``None`` only when all three hold (then fail-closed mode may react): the caller is one
    of the controller's roles in this account, the VPC is the cluster's own (DescribeCluster),
    and no load balancer exists for the stack yet. A record is a hint, never an authority: the
    VPC and the load balancers are re-read from AWS."""
    role = refusal.caller_role
    if role is None or role[1] not in controller_roles or role[0] != refusal.account:
        named = ", ".join(sorted(controller_roles)) or "none configured"
        caller = refusal.caller_arn or "an unknown principal"
        return Untrusted(
            f"the refused CreateSecurityGroup was made by {caller}, not the controller's role "
            f"({named}): nothing changed",
            suspicious=True,
        )
    cluster_vpc = engine.kube(refusal.cluster).vpc_id
    if not cluster_vpc or refusal.vpc_id != cluster_vpc:
        where = cluster_vpc or "a VPC DescribeCluster does not report"
        return Untrusted(
            f"the refused CreateSecurityGroup names VPC {refusal.vpc_id or '(none)'}, but "
            f"cluster {refusal.cluster} is in {where}: nothing changed",
            suspicious=True,
        )
    existing = load_balancers_of_stack(
        tagging, cluster=refusal.cluster, stack_tag=refusal.stack_tag, stack=refusal.stack
    )
    if existing:
        return Untrusted(
            f"{refusal.stack_tag}={refusal.stack} already has load balancer(s) "
            f"{', '.join(sorted(existing))}: the event path, the sweep and the scan decide for "
            "them; the pre-load-balancer reaction is for stacks without one",
            suspicious=False,
        )
    return None


@dataclass(frozen=True)
class Blocked:
    """What the event path reports for a refused managed SG: frontguard's own SG requested
    (enforce mode), an ``error`` alert, or a reason to ignore the event."""

    reason: str
    alert: Alert | None = None
    outcome: Outcome = Outcome.ERROR


def blocked_stack(
    engine: Engine, *, cluster: str, prefix: str, stack: str, error_code: str, vpc_id: str
) -> Blocked:
    """The controller's managed SG was refused (fail-closed mode's Deny): no load balancer
    exists for this stack and none will until its owner names a security group. Read the
    owner the stack tag names; in enforce mode, give it frontguard's own pre-load-balancer SG
    (engine/pre_lb.py). Otherwise (audit mode, or an owner frontguard cannot plan) say who is
    blocked and what fixes it.
    """
    if not engine.policy.selects_cluster(cluster):
        return Blocked("cluster not selected by policy", outcome=Outcome.IGNORED)
    classification = classify({t.CLUSTER_TAG: cluster, f"{prefix}/stack": stack})
    ref = classification.owner
    if ref is None:
        return Blocked(
            classification.skip_reason or "no owner in the stack tag", outcome=Outcome.IGNORED
        )
    try:
        owner = resolve_owner(engine.kube(cluster), ref, engine.policy.controller_flags(cluster))
    except NotFoundError as error:
        return Blocked(f"owner {ref.describe()} is gone: {error}", outcome=Outcome.IGNORED)
    stack_key = aws.PreLoadBalancerKey(cluster, f"{prefix}/stack", stack)
    unplanned: str | None = None
    if engine.policy.mode is Mode.ENFORCE:
        prepared = pre_lb.plan_owner(engine, stack_key, owner, vpc_id)
        if isinstance(prepared, pre_lb.PrePlan):
            done = pre_lb.react(engine, stack_key, owner, vpc_id, prepared)
            return Blocked(done.reason, done.alert, done.outcome)
        unplanned = prepared
    return _blocked(
        stack_key, ref, owner, error_code=error_code, vpc_id=vpc_id, unplanned=unplanned
    )


def _blocked(
    stack_key: aws.PreLoadBalancerKey,
    ref: OwnerRef,
    owner: Owner,
    *,
    error_code: str,
    vpc_id: str,
    unplanned: str | None,
) -> Blocked:
    """The owner stays blocked (audit mode, or an owner frontguard cannot plan): an alert
    that says who is blocked, why, and what fixes it."""
    cluster = stack_key.cluster
    key = f"{pre_lb.BLOCKED_KEY_PREFIX}{stack_key.describe()}"
    objects = [f"{p.namespace}/{p.name}" for p in owner.paths]
    detail = (
        f"the controller's CreateSecurityGroup of its managed SG for {ref.describe()} was "
        f"refused ({error_code}) by fail-closed mode: no load balancer exists for it, and the "
        "controller keeps retrying (FailedDeployModel Events on the object) until the owner "
        "names a security group"
    )
    if unplanned is not None:
        detail += f"; frontguard cannot give it its own SG: {unplanned}"
    logger.warning(
        "managed SG refused: owner blocked",
        extra={
            "cluster": cluster,
            "owner": ref.describe(),
            "objects": objects,
            "error": error_code,
        },
    )
    # A Gateway whose GatewayClass pins its security groups: frontguard's SG cannot be
    # requested through the Gateway, and the class is not fought (as engine/decide.py
    # decides once a load balancer exists): conflict, with the class's way out.
    pinned = owner.gateway is not None and owner.gateway.class_pin is not None
    outcome = Outcome.CONFLICT if pinned else Outcome.ERROR
    return Blocked(
        detail,
        Alert(
            outcome=outcome,
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
        outcome,
    )


def _blocked_fix(ref: OwnerRef, owner: Owner) -> str:
    if owner.gateway is not None and owner.gateway.class_pin is not None:
        return gateway.class_pin_fix(owner.gateway, None)
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
