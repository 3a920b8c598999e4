"""Decide what should happen to one load balancer: reads only, changes nothing.

:func:`decide` settles what the load balancer and its owner alone settle (not frontguard's,
exempt, not the controller's, unproven ownership, SG-less NLB, approved SGs only, a
controller that cannot take a custom SG, a class-level pin, too many SGs, PrivateLink); what
is left is planned by :func:`frontguard.engine.decide_plan.decide_plan`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from frontguard import tags as t
from frontguard.adapters import aws, network
from frontguard.controller.ingress import frontend_nlb_shares_alb_sgs
from frontguard.controller.objects import annotations_of
from frontguard.controller.security_groups import (
    BACKEND_SG_REQUIRED,
    MAX_SECURITY_GROUPS,
    AnnotationKeys,
    annotation_keys,
    is_id,
    named_security_groups,
)
from frontguard.engine import exemptions, gateway, plan
from frontguard.engine.decide_plan import decide_plan
from frontguard.engine.decision import Decision, Engine, Prefetched, Report, Result, Settled
from frontguard.engine.owner import Owner, resolve_owner
from frontguard.engine.remediation_alerts import impostor_alert
from frontguard.errors import NotFoundError, RetryableError
from frontguard.model import Listener, LoadBalancer, Outcome, OwnerKind, OwnerRef, classify
from frontguard.policy import ControllerFlags

T = TypeVar("T")
ResultFor = Callable[..., Result]


def with_discovery_retries(engine: Engine, what: str, read: Callable[[], T | None]) -> T:
    """Re-read while the controller has not finished creating things, then retry later."""
    for delay in (*engine.discovery_delays, None):
        value = read()
        if value is not None:
            return value
        if delay is None:
            break
        engine.sleep(delay)
    raise RetryableError(f"{what} is not visible yet")


def decide(
    engine: Engine, lb: LoadBalancer, *, drift: bool = False, prefetched: Prefetched | None = None
) -> Decision:
    """What should happen to ``lb``: reads only, changes nothing."""
    classification = classify(lb.tags)
    ref, cluster = classification.owner, lb.cluster
    if ref is None or ref.kind is OwnerKind.AUTO_MODE:
        reason = classification.skip_reason or "not frontguard's business"
        return Settled(Result(Outcome.IGNORED, reason, lb.arn, cluster, ref))
    assert cluster is not None
    result: ResultFor = functools.partial(
        Result, load_balancer_arn=lb.arn, cluster=cluster, owner=ref
    )
    if not engine.policy.selects_cluster(cluster):
        return Settled(result(Outcome.IGNORED, "cluster not selected by policy"))
    read = _read_owner(engine, lb, ref, engine.policy.controller_flags(cluster), prefetched)
    if isinstance(read, str):
        return Settled(result(Outcome.IGNORED, read))
    owner, claim = read
    verdict = _owner_verdict(lb, owner, engine, result, claim) or _inherits_alb_sgs(
        engine, lb, owner, result
    )
    if verdict is not None:
        return verdict
    return _decide_security_groups(engine, lb, owner, result, drift=drift, prefetched=prefetched)


def _decide_security_groups(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    result: ResultFor,
    *,
    drift: bool,
    prefetched: Prefetched | None,
) -> Decision:
    """The SGs the owner names and frontguard's: what they settle, else the plan."""
    policy, keys = engine.policy, annotation_keys(owner.ref)
    names = _resolve_names(engine, lb, owner, keys)
    if _approved_only(engine, owner, keys, names):
        return Settled(result(Outcome.COMPLIANT, "owner names only approved security groups"))
    flags = policy.controller_flags(lb.cluster or "")
    if backend := _backend_sg_unavailable(lb, owner, keys, flags.enable_backend_security_group):
        return Report(result(Outcome.ERROR, backend), _backend_sg_fix(owner.ref))
    group = _own_security_group(engine, lb, owner.ref, prefetched)
    if owner.gateway is not None and (pin := _class_pin_conflict(engine, owner.gateway, group)):
        return _class_pin_report(owner.gateway, group, pin, result)
    kept = _kept_approved(engine, owner, keys, names, group)
    verdict = _too_many_groups(owner, keys, kept, result) or _privatelink_conflict(
        engine, lb, prefetched, result
    )
    if verdict is not None:
        return verdict
    return decide_plan(
        engine,
        lb,
        owner,
        listeners=_listeners(engine, lb, prefetched),
        group=group,
        kept=kept,
        result=result,
        drift=drift,
        prefetched=prefetched,
    )


def _approved_only(
    engine: Engine, owner: Owner, keys: AnnotationKeys, names: Mapping[str, str]
) -> bool:
    if owner.gateway is not None:
        return owner.gateway.approved_only(engine.policy)
    return plan.approved_only(owner.objects, keys, names, engine.policy)


def _kept_approved(
    engine: Engine,
    owner: Owner,
    keys: AnnotationKeys,
    names: Mapping[str, str],
    group: aws.SecurityGroup | None,
) -> tuple[str, ...]:
    """The approved SGs the owner keeps next to frontguard's."""
    approved = (
        owner.gateway.kept_approved(engine.policy)
        if owner.gateway is not None
        else plan.kept_approved(owner.objects, keys, names, engine.policy)
    )
    return tuple(g for g in approved if not group or g != group.id)


def _class_pin_report(
    owner: gateway.GatewayOwner, group: aws.SecurityGroup | None, pin: str, result: ResultFor
) -> Report:
    return Report(
        result(
            Outcome.CONFLICT,
            pin,
            security_group_id=group.id if group else None,
            extra={"class_configuration": owner.class_config.ref if owner.class_config else None},
        ),
        gateway.class_pin_fix(owner, group.id if group else None),
    )


def _too_many_groups(
    owner: Owner, keys: AnnotationKeys, kept: tuple[str, ...], result: ResultFor
) -> Report | None:
    """frontguard's SG, the kept approved SGs and the backend SG must fit on one LB."""
    backend_sgs = 1 if keys.backend_rules is not None or owner.gateway is not None else 0
    if 1 + len(kept) + backend_sgs <= MAX_SECURITY_GROUPS:
        return None
    return Report(
        result(
            Outcome.ERROR,
            f"frontguard's SG, the {len(kept)} approved SGs the owner keeps"
            + (" and the controller's backend SG" if backend_sgs else "")
            + f" would be more than the {MAX_SECURITY_GROUPS} security groups a load "
            "balancer takes: the controller's SetSecurityGroups would fail",
            extra={"approved_kept": list(kept)},
        ),
        "Drop approved SGs from the owner's annotation (or merge their rules), or raise the "
        "security-groups-per-interface quota; frontguard changed nothing.",
    )


def _listeners(
    engine: Engine, lb: LoadBalancer, prefetched: Prefetched | None
) -> Sequence[Listener]:
    """The scan's listeners (from the controller's managed SG) when it had them; otherwise
    (the event path, the scan's LBs without a managed SG) one read, retried while the
    controller is still creating them."""
    if prefetched is not None and prefetched.listeners:
        return prefetched.listeners
    return with_discovery_retries(
        engine,
        f"listeners of {lb.arn}",
        lambda: network.describe_listeners(engine.elbv2, lb.arn) or None,
    )


_UNPUBLISHED = "the owner's status names no load balancer yet"


def _read_owner(
    engine: Engine,
    lb: LoadBalancer,
    ref: OwnerRef,
    flags: ControllerFlags,
    prefetched: Prefetched | None,
) -> tuple[Owner, str | None] | str:
    """The owner and what (if anything) keeps it from being proven ``lb``'s owner; a string
    when the owner is gone. The controller writes the LB into its owners' status right after
    creating it: the event path waits a moment for that (the scan sees the world later)."""
    kube = engine.kube(lb.cluster or "")
    delays = engine.discovery_delays if prefetched is None else ()
    for delay in (*delays, None):
        try:
            owner = resolve_owner(
                kube, ref, flags, listed=prefetched.cluster if prefetched else None
            )
        except NotFoundError as error:
            return f"owner object not found ({error}); the controller will delete the load balancer"
        claim = _ownership(lb, owner, kube.vpc_id)
        if claim is not _UNPUBLISHED or delay is None:
            break
        engine.sleep(delay)
    if claim is _UNPUBLISHED and prefetched is None and owner.handled:
        raise RetryableError(
            f"{ref.describe()} does not name {lb.dns_name} in its status yet: ownership unproven"
        )
    return owner, claim


def _ownership(lb: LoadBalancer, owner: Owner, cluster_vpc: str | None) -> str | None:
    """Why the owner the tags name is not proven to own ``lb`` (``None``: proven). Tags can be
    forged by anyone who may tag load balancers; the controller's own status and the
    cluster's VPC cannot (security review #5): the controller writes each load balancer's DNS
    name into every owner's status (LBC:controllers/ingress/group_controller.go
    updateIngressStatus, LBC:controllers/service/service_controller.go,
    LBC:controllers/gateway/gateway_controller.go)."""
    if cluster_vpc and lb.vpc_id and lb.vpc_id != cluster_vpc:
        return f"the load balancer is in {lb.vpc_id}, the cluster in {cluster_vpc}"
    if not lb.dns_name:
        return None  # nothing to compare (an emulator without DNS names)
    objects = (owner.gateway.gateway,) if owner.gateway is not None else owner.objects
    published = [_status_hostnames(obj) for obj in objects]
    if not all(published):
        return _UNPUBLISHED
    others = sorted({h for names in published for h in names} - {lb.dns_name.lower()})
    if any(lb.dns_name.lower() not in names for names in published):
        return (
            f"{owner.ref.describe()} names {', '.join(others)} in its status, not this load "
            "balancer"
        )
    return None


def _status_hostnames(obj: Mapping[str, Any]) -> set[str]:
    status = obj.get("status") or {}
    names = [a.get("value") for a in status.get("addresses") or []]
    names += [i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
    return {str(n).lower() for n in names if n}


def _owner_verdict(
    lb: LoadBalancer,
    owner: Owner,
    engine: Engine,
    result: ResultFor,
    claim: str | None,
) -> Decision | None:
    """What the owner alone settles: exempt, not the controller's, not proven its owner,
    a squatted configuration, unbuildable, SG-less."""
    if exempt := exemptions.decide(owner.objects, owner.ref, lb.cluster or "", engine.policy):
        if exempt.outcome is Outcome.EXEMPT_UNAPPROVED:
            return Report(result(exempt.outcome, exempt.reason), exemptions.UNAPPROVED_FIX)
        return Settled(result(exempt.outcome, exempt.reason))
    if not owner.handled:
        return Settled(
            result(
                Outcome.NOT_CONTROLLER_HANDLED,
                f"the controller does not manage this object ({owner.reason}); "
                "annotations would be ignored",
            )
        )
    if claim is not None:
        return Report(
            result(
                Outcome.CONFLICT,
                f"the load balancer's tags name {owner.ref.describe()} as its owner, but "
                f"{claim}: frontguard changes nothing for it",
                extra={"dns_name": lb.dns_name, "vpc_id": lb.vpc_id},
            ),
            "If this load balancer was not made by the controller for that object, find who "
            "created or tagged it (CloudTrail CreateLoadBalancer / AddTags) and remove it or "
            "its controller tags; reserve the controller's tag keys with an SCP "
            "(docs/deploy.md). If the controller made it, check the object's status and the "
            "controller's Events.",
        )
    if owner.gateway is not None and owner.gateway.squatted is not None:
        return _squatted_configuration(owner.gateway, result)
    if owner.problem is not None:
        return Report(
            result(
                Outcome.ERROR,
                f"the controller cannot build {owner.ref.describe()} as it stands: {owner.problem}",
                extra={"problem": owner.problem},
            ),
            "Fix the value the message names on the owner object; until then the controller "
            "deploys nothing for it and frontguard plans nothing from a value it cannot read.",
        )
    if lb.type == "network" and not lb.security_groups:
        return Report(
            result(
                Outcome.NEEDS_RECREATION,
                "NLB was created without security groups and can never get one",
            ),
            _needs_recreation_fix(owner),
        )
    return None


def _inherits_alb_sgs(
    engine: Engine, lb: LoadBalancer, owner: Owner, result: ResultFor
) -> Decision | None:
    """A frontend NLB without its own SG annotation carries the ALB's SGs
    (LBC:pkg/ingress/model_build_frontend_nlb.go buildFrontendNlbSpec): it is governed through
    the ALB, whose SG then admits itself for the NLB's traffic. Giving it an SG of its own
    would break that path, so frontguard only judges it: compliant when every SG it carries
    is frontguard's or approved, else left to the ALB's remediation."""
    if not owner.ref.frontend_nlb or not owner.members:
        return None
    if not frontend_nlb_shares_alb_sgs(owner.members):
        return None
    carried = aws.describe_security_groups(engine.ec2, lb.security_groups)
    approved = engine.policy.approved_security_groups
    if (
        lb.security_groups
        and all(
            group_id in approved
            or (group_id in carried and carried[group_id].managed_by_frontguard)
            or _is_backend_sg(carried.get(group_id))
            for group_id in lb.security_groups
        )
        and any(
            g in approved or (g in carried and carried[g].managed_by_frontguard)
            for g in lb.security_groups
        )
    ):
        return Settled(
            result(
                Outcome.COMPLIANT,
                "the frontend NLB takes the ALB's security groups, which are frontguard's or "
                "approved",
            )
        )
    return Settled(
        result(
            Outcome.IGNORED,
            "the frontend NLB takes the ALB's security groups: frontguard remediates it "
            "through the ALB's annotations",
        )
    )


def _is_backend_sg(group: aws.SecurityGroup | None) -> bool:
    return group is not None and group.tags.get(t.CONTROLLER_RESOURCE_TAG) == t.BACKEND_SG


def _privatelink_conflict(
    engine: Engine,
    lb: LoadBalancer,
    prefetched: Prefetched | None,
    result: ResultFor,
) -> Report | None:
    """An NLB behind a VPC endpoint service: AWS evaluates PrivateLink consumers' client IPs
    against its SG by default, so the policy's SG could cut them off (docs/controller-rules.md,
    "PrivateLink")."""
    if lb.type != "network" or engine.policy.privatelink != "alert":
        return None
    services = (
        prefetched.endpoint_services
        if prefetched is not None and prefetched.endpoint_services is not None
        else network.endpoint_services_by_load_balancer(engine.ec2)
    ).get(lb.arn)
    if not services:
        return None
    return Report(
        result(
            Outcome.CONFLICT,
            f"the NLB backs VPC endpoint service(s) {', '.join(services)}: AWS checks "
            "PrivateLink consumers' client addresses against its SG, so replacing the "
            "world-open SG with the policy's would cut them off; frontguard changed "
            "nothing",
            extra={"endpoint_services": services},
        ),
        "Add the consumers' client CIDRs to the policy rule for this load balancer "
        "and set the policy's privatelink: remediate, or exempt the owner. "
        "(docs.aws.amazon.com/elasticloadbalancing/latest/network/"
        "load-balancer-security-groups.html)",
    )


def _resolve_names(
    engine: Engine, lb: LoadBalancer, owner: Owner, keys: AnnotationKeys
) -> dict[str, str]:
    """SG names in the owner's annotation, resolved as the controller resolves them. One call,
    and only when a name is written (IDs need none)."""
    if owner.gateway is not None:
        return {}
    names = sorted(
        {
            entry
            for obj in owner.objects
            for entry in named_security_groups(obj, keys.security_groups)
            if not is_id(entry)
        }
    )
    return aws.resolve_security_group_names(engine.ec2, names, lb.vpc_id) if names else {}


def _backend_sg_unavailable(
    lb: LoadBalancer, owner: Owner, keys: AnnotationKeys, enabled: bool
) -> str | None:
    """With ``--enable-backend-security-group=false`` the controller refuses a custom SG with
    managed backend rules ("backendSG feature is required…", LBC:pkg/ingress/
    model_build_load_balancer.go buildLoadBalancerSecurityGroups; pkg/service/…;
    pkg/gateway/model/model_build_security_group.go) and then deploys nothing for the owner.
    Known from the policy's controller flags, or seen on the load balancer: with the feature
    on, the controller's managed-SG path always attaches the backend SG too, so a load
    balancer carrying one SG while its owner names none was built with the feature off."""
    if keys.backend_rules is None and owner.gateway is None:
        return None  # a frontend NLB's explicit list takes no backend SG
    names_own = any(keys.security_groups in annotations_of(obj) for obj in owner.objects) or bool(
        owner.gateway and owner.gateway.security_groups
    )
    off = not enabled or (not names_own and len(lb.security_groups) == 1)
    if not off:
        return None
    return (
        "the controller runs without its backend security group "
        "(--enable-backend-security-group=false): asking it to manage backend rules next to "
        f'frontguard\'s SG would fail every reconcile of the owner ("{BACKEND_SG_REQUIRED}"); '
        "frontguard changed nothing"
    )


def _backend_sg_fix(ref: OwnerRef) -> str:
    return (
        "Turn the controller's backend security group on (Helm value "
        "enableBackendSecurityGroup=true, flag --enable-backend-security-group), then "
        f"frontguard remediates {ref.describe()} on its next run; or exempt it in the policy "
        "and open the node rules yourself. If the flag is on, set the policy's "
        "controller.enable_backend_security_group accordingly."
    )


def _class_pin_conflict(
    engine: Engine, owner: gateway.GatewayOwner, group: aws.SecurityGroup | None
) -> str | None:
    """A GatewayClass-level configuration that decides security groups wins (its mergingMode
    is not ``prefer-gateway``): do not fight it. Accepted once it names frontguard's SG (and
    otherwise only approved SGs)."""
    pin = owner.class_pin
    if pin is None:
        return None
    if (
        group is not None
        and group.id in pin
        and set(pin) - {group.id} <= set(engine.policy.approved_security_groups)
    ):
        return None
    return (
        "the GatewayClass's LoadBalancerConfiguration decides security groups "
        f"({', '.join(sorted(pin)) or 'an empty list: the controller keeps its own SG'}), "
        "which win over the Gateway's own configuration"
    )


def _squatted_configuration(owner: gateway.GatewayOwner, result: ResultFor) -> Decision:
    name = gateway.frontguard_config_name(owner.name)
    return Report(
        result(
            Outcome.CONFLICT,
            f"LoadBalancerConfiguration {owner.namespace}/{name} exists but was not created by "
            f"frontguard ({owner.squatted}): not adopted",
        ),
        f"Find who created {owner.namespace}/{name} and delete it (frontguard then creates its "
        "own), or reference a configuration of your own from the Gateway's "
        "spec.infrastructure.parametersRef.",
    )


def _own_security_group(
    engine: Engine, lb: LoadBalancer, ref: OwnerRef, prefetched: Prefetched | None
) -> aws.SecurityGroup | None:
    """frontguard's SG for ``lb`` (proven, not merely tagged); impostors raise a ``conflict``
    alert (the scan alerts for what it prefetched)."""
    if prefetched is not None:
        return prefetched.security_group
    lookup = aws.lookup_security_group(
        engine.ec2, lb.arn, lb.vpc_id, tags=lb.tags, attached=lb.security_groups
    )
    if lookup.impostors:
        engine.alerts.publish(impostor_alert(lb.arn, lb.cluster, ref, lookup.impostors))
    return lookup.group


def _needs_recreation_fix(owner: Owner) -> str:
    ref = owner.ref
    if owner.gateway is not None:
        return (
            "Recreate the Gateway so the controller builds a new NLB with a security group: "
            "remove disableSecurityGroup from its LoadBalancerConfiguration (and the class's), "
            f"then delete and re-apply Gateway {ref.namespace}/{ref.name}. Its addresses will "
            "change. frontguard never deletes load balancers itself."
        )
    where = f"-n {ref.namespace} {ref.name}" if ref.namespace else ""
    return (
        "Recreate the Service so the controller builds a new NLB with a security group: remove "
        "the annotation service.beta.kubernetes.io/aws-load-balancer-disable-nlb-sg if set, "
        f"then delete and re-apply the Service (kubectl get service {where} -o yaml > svc.yaml; "
        "kubectl delete -f svc.yaml; kubectl apply -f svc.yaml). Its DNS name will change. "
        "frontguard never deletes load balancers itself."
    )
