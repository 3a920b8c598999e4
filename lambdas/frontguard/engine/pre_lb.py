"""Fail-closed mode's reaction: frontguard's SG for a load balancer that does not exist yet.

With the Deny on the controller's managed SG (infra/fail_closed.py) the controller creates no
load balancer until its owner names a security group (the SG comes first in its reconcile:
LBC:pkg/deploy/stack_deployer.go). frontguard plans that SG from the owner alone — its listen
ports (controller/ingress.py, controller/service.py, controller/gateway.py) and the policy's
sources (engine/plan.py) — creates it under a name derived from the cluster and the stack tag
(adapters/aws.py ``pre_lb_security_group_name``), and patches the owner exactly as the engine
does for a load balancer (a Gateway: its own LoadBalancerConfiguration, engine/gateway.py).
The controller's retry on that change creates the load balancer behind frontguard's SG: it
is never world-open.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from frontguard import tags as t
from frontguard.adapters import aws, network
from frontguard.alerts import Alert
from frontguard.controller.gateway import gateway_listen_ports
from frontguard.controller.ingress import (
    frontend_nlb_shares_alb_sgs,
    group_listen_ports,
    group_scheme,
)
from frontguard.controller.objects import AnnotationError
from frontguard.controller.service import service_listen_ports, service_scheme
from frontguard.engine import exemptions, plan
from frontguard.engine.decision import Engine, OwnerChange, owner_changes
from frontguard.engine.gateway import GatewayOwner, frontguard_config_name
from frontguard.engine.owner import Owner
from frontguard.engine.remediation_alerts import impostor_alert
from frontguard.model import Listener, LoadBalancer, Outcome, OwnerKind, OwnerRef, PermissionRule
from frontguard.policy import VPC_SOURCE, GitOpsAction

logger = logging.getLogger(__name__)

# Stands in for the load balancer ARN in the alert, its dedupe key and its finding: the load
# balancer does not exist, so the blocked stack is what is reported (once per alert period).
BLOCKED_KEY_PREFIX = "blocked-load-balancer:"


@dataclass(frozen=True)
class PrePlan:
    """What frontguard's pre-load-balancer SG admits, planned from the owner alone."""

    scheme: str
    listeners: tuple[Listener, ...]
    rules: frozenset[PermissionRule]
    closed_ports: tuple[int, ...]


@dataclass(frozen=True)
class Reaction:
    """What the reaction did: its outcome, why, and the alert to send (``None``: nothing new)."""

    outcome: Outcome
    reason: str
    alert: Alert | None = None
    security_group_id: str | None = None


def plan_owner(
    engine: Engine, key: aws.PreLoadBalancerKey, owner: Owner, vpc_id: str
) -> PrePlan | str:
    """The plan for the owner's future load balancer, or why frontguard cannot make one (the
    caller then alerts ``error`` with the fix for a human)."""
    policy = engine.policy
    ref = owner.ref
    if exempt := exemptions.decide(owner.objects, ref, key.cluster, policy):
        return f"the owner is exempt ({exempt.reason}): frontguard does not set it up"
    if not owner.handled:
        return f"the controller does not manage it ({owner.reason})"
    if owner.problem is not None:
        return f"the controller cannot build it as it stands: {owner.problem}"
    if ref.auto_mode and not policy.remediate_auto_mode:
        return "EKS Auto Mode owners are reported, not patched (policy remediate_auto_mode)"
    if not vpc_id:
        return "the refused call names no VPC"
    shape = _future_shape(key, owner)
    if isinstance(shape, str):
        return shape
    lb_type, ports, scheme = shape
    listeners = tuple(Listener(port, protocol) for port, protocol in sorted(ports.items()))
    if not listeners:
        return "it declares no listener port"
    # The load balancer as it will be born: what the policy's rules match on.
    future = LoadBalancer(
        arn=f"{BLOCKED_KEY_PREFIX}{key.describe()}",
        name="",
        type=lb_type,
        scheme=scheme,
        vpc_id=vpc_id,
        security_groups=(),
        tags={t.CLUSTER_TAG: key.cluster, key.stack_tag: key.stack},
    )
    needs_vpc = any(
        VPC_SOURCE
        in policy.sources_for(
            cluster=key.cluster, namespace=namespace, scheme=scheme, kind=ref.policy_kind
        )
        for namespace in owner.namespaces or [""]
    )
    allowed = plan.policy_sources(
        policy,
        lb=future,
        owner=ref,
        namespaces=owner.namespaces,
        vpc_cidrs=network.vpc_cidrs(engine.ec2, vpc_id) if needs_vpc else [],
    )
    source_plan = plan.plan_rules(listeners, allowed, owner.restrictions, path_mtu=owner.path_mtu)
    if plan.exceeds_rule_limit(source_plan.rules, policy):
        return (
            f"the plan needs {len(source_plan.rules)} rules, more than the "
            f"{policy.max_rules_per_security_group} a security group may hold"
        )
    return PrePlan(scheme, listeners, source_plan.rules, source_plan.closed_ports)


def _future_shape(
    key: aws.PreLoadBalancerKey, owner: Owner
) -> tuple[str, dict[int, str], str] | str:
    """(type, port → listener protocol, scheme) of the owner's future load balancer as the
    controller will build it, or why it is not planned."""
    ref = owner.ref
    try:
        if ref.kind is OwnerKind.SERVICE:
            service = owner.objects[0]
            return "network", service_listen_ports(service), service_scheme(service)
        if ref.kind in (OwnerKind.INGRESS, OwnerKind.INGRESS_GROUP) and not ref.frontend_nlb:
            if frontend_nlb_shares_alb_sgs(owner.members):
                return "its frontend NLB shares the ALB's SG: planned once both exist"
            return "application", group_listen_ports(owner.members), group_scheme(owner.members)
        if ref.kind is OwnerKind.GATEWAY and owner.gateway is not None:
            # Every listener of the Gateway's spec: a superset of the load balancer's, which
            # gets only the ports that have routes (controller/gateway.py). Never wider: a
            # load balancer accepts traffic only on its listeners' ports and protocols
            # (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html,
            # https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-listeners.html,
            # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-update-security-groups.html),
            # so a rule on a port without a listener admits nothing. When the load balancer
            # exists, the engine compares this SG with the plan for its real listeners
            # (adapters/aws.py split_ownership, engine/decide_plan.py): equal (every listener
            # has routes) → compliant, no swap; a port without a listener → not equal → the
            # usual SG keyed by the load balancer and the swap through the same
            # configuration, from one frontguard SG to the other (never a world-open window).
            if (refusal := _gateway_refusal(owner.gateway)) is not None:
                return refusal
            lb_type = "application" if key.stack_tag == t.GATEWAY_ALB_STACK_TAG else "network"
            return lb_type, gateway_listen_ports(owner.gateway.gateway), owner.gateway.scheme
    except (AnnotationError, ValueError) as error:
        return f"its listeners cannot be read as the controller reads them: {error}"
    return f"{ref.kind.value} listeners are not planned before the load balancer exists"


def _gateway_refusal(owner: GatewayOwner) -> str | None:
    """Why frontguard cannot request its SG through this Gateway (``None``: it can), as the
    engine decides it for a Gateway whose load balancer exists (engine/decide.py)."""
    if owner.class_pin is not None:
        # The class-level configuration's securityGroups win (LBC:pkg/gateway/
        # lb_config_merger.go): the Gateway's own would be ignored. Not fought: conflict.
        return (
            "the GatewayClass's LoadBalancerConfiguration decides security groups "
            f"({', '.join(owner.class_pin) or 'an empty list: the controller keeps its own SG'})"
            ", which win over the Gateway's own configuration"
        )
    if owner.squatted is not None:
        name = f"{owner.namespace}/{frontguard_config_name(owner.name)}"
        return f"LoadBalancerConfiguration {name} was not created by frontguard ({owner.squatted})"
    return None


def react(
    engine: Engine, key: aws.PreLoadBalancerKey, owner: Owner, vpc_id: str, prepared: PrePlan
) -> Reaction:
    """Find or create frontguard's pre-load-balancer SG, converge its rules to the plan and
    request it through the owner. Idempotent: a second refused event reuses the proven SG and
    finds the owner patched. A failure after the SG exists raises (retried with the event;
    the controller's next refusal retries too): never an owner pointing at a half-made SG,
    and an SG never attached is cleaned up by the scan after the grace period."""
    ref = owner.ref
    alert_key = f"{BLOCKED_KEY_PREFIX}{key.describe()}"
    context: dict[str, Any] = {"cluster": key.cluster, "owner": ref.describe(), "vpc_id": vpc_id}
    group = _found_or_created(engine, key, ref, vpc_id, alert_key=alert_key, context=context)
    changed = aws.converge_rules(engine.ec2, group, prepared.rules)
    changes = owner_changes(owner, group.id)
    data = _alert_data(group, prepared, changes, vpc_id)
    if not changes and not changed.changed:
        reason = (
            f"frontguard's pre-load-balancer SG {group.id} is already requested by "
            f"{ref.describe()}; the controller's next retry creates the load balancer with it"
        )
        logger.info("pre-load-balancer SG already requested", extra={**context, "reason": reason})
        return Reaction(Outcome.COMPLIANT, reason, security_group_id=group.id)
    pending = _gitops_pending(
        engine, owner, changes, alert_key=alert_key, key=key, group=group, data=data
    )
    if pending is not None:
        return pending
    kube = engine.kube(key.cluster)
    for change in changes:
        change.apply(kube)
        logger.info(
            "owner patched before its load balancer exists",
            extra={**context, "target": change.target, "security_group_id": group.id},
        )
    reason = (
        f"fail-closed mode refused the controller's world-open SG for {ref.describe()}: "
        f"frontguard created its own SG {group.id} before any load balancer exists and "
        "requested it through the owner; the controller's next retry creates the load "
        "balancer behind it (never world-open)"
    )
    return Reaction(
        Outcome.REMEDIATED,
        reason,
        Alert(
            Outcome.REMEDIATED,
            alert_key,
            key.cluster,
            ref,
            reason,
            fix="Nothing to do; the scan and the CreateLoadBalancer event check the load "
            "balancer once it exists.",
            data=data,
        ),
        group.id,
    )


def _found_or_created(
    engine: Engine,
    key: aws.PreLoadBalancerKey,
    ref: OwnerRef,
    vpc_id: str,
    *,
    alert_key: str,
    context: dict[str, Any],
) -> aws.SecurityGroup:
    """frontguard's proven pre-load-balancer SG for the stack, or a new one; impostors and a
    squatted name are alerted, never used."""
    lookup = aws.lookup_pre_lb_security_group(engine.ec2, key, vpc_id)
    if lookup.impostors:
        engine.alerts.publish(impostor_alert(alert_key, key.cluster, ref, lookup.impostors))
    if lookup.group is not None:
        return lookup.group
    group = aws.create_pre_lb_security_group(engine.ec2, key, vpc_id=vpc_id, owner=ref)
    logger.info(
        "pre-load-balancer security group created",
        extra={**context, "security_group_id": group.id},
    )
    if group.squatter is not None and not lookup.impostors:
        engine.alerts.publish(_squatted_alert(alert_key, key, ref, group))
    return group


def _alert_data(
    group: aws.SecurityGroup, prepared: PrePlan, changes: Sequence[OwnerChange], vpc_id: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "security_group_id": group.id,
        "blocked_by": "fail-closed",
        "pre_load_balancer": True,
        "vpc_id": vpc_id,
        "scheme": prepared.scheme,
        "planned_rules": [f"{r.protocol}/{r.port} from {r.source}" for r in sorted(prepared.rules)],
        "planned_annotations": {k: v for c in changes for k, v in c.summary().items()},
        "exposure_seconds": 0.0,
    }
    if prepared.closed_ports:
        data["warning"] = (
            "no source is allowed by both the policy and the owner's own restrictions on "
            f"port(s) {', '.join(map(str, prepared.closed_ports))}: frontguard's security "
            "group admits nothing there"
        )
    return data


def _gitops_pending(
    engine: Engine,
    owner: Owner,
    changes: Sequence[OwnerChange],
    *,
    alert_key: str,
    key: aws.PreLoadBalancerKey,
    group: aws.SecurityGroup,
    data: dict[str, Any],
) -> Reaction | None:
    """A GitOps-managed owner gets the annotations to commit, not a patch (policy gitops)."""
    markers = [m for obj in owner.objects for m in plan.gitops_markers(obj)]
    if not (changes and markers and engine.policy.gitops is GitOpsAction.ALERT):
        return None
    reason = (
        f"owner is managed by {', '.join(sorted(set(markers)))}: frontguard's "
        f"pre-load-balancer SG {group.id} is ready; commit the annotations shown"
    )
    return Reaction(
        Outcome.GITOPS_PENDING,
        reason,
        Alert(
            Outcome.GITOPS_PENDING,
            alert_key,
            key.cluster,
            owner.ref,
            reason,
            data=data,
            fix="Commit these annotations to the object's source repository: "
            + ", ".join(f"{k}={v}" for k, v in data["planned_annotations"].items()),
        ),
        group.id,
    )


def _squatted_alert(
    alert_key: str, key: aws.PreLoadBalancerKey, ref: OwnerRef, group: aws.SecurityGroup
) -> Alert:
    """``conflict``: frontguard's pre-load-balancer SG name was taken by an SG it did not
    create (security review r2, R2-8). Protection went on under a random name."""
    return Alert(
        outcome=Outcome.CONFLICT,
        load_balancer_arn=alert_key,
        cluster=key.cluster,
        owner=ref,
        detail=f"the name of frontguard's pre-load-balancer SG for {key.describe()} is taken by "
        f"{group.squatter}, which frontguard did not create: frontguard made {group.id} "
        f"({group.name}) instead and requested it for {ref.describe()}",
        fix=f"Find who created {group.squatter} (CloudTrail CreateSecurityGroup) and why; "
        "delete it if it is not needed. frontguard never uses, changes or deletes it.",
        data={"squatting_security_group": group.squatter, "security_group_id": group.id},
    )
