"""The engine: bring one load balancer behind a policy-conforming frontend security group.

One function, :func:`remediate_load_balancer`, serves the event handler, the scheduled scan
and the CLI. It first *decides*: reads what it needs and computes a :data:`Decision`, a value
(nothing is changed while deciding); then :func:`carry_out` applies it: an alert only, or
frontguard's SG found or created, its rules converged, and the owner's annotations (or
Gateway configuration) patched so that the *controller* attaches the SG.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters import prefix_lists as prefix_list_adapter
from frontguard.adapters.kube import KubeClient, ObjectPath
from frontguard.adapters.state import StateTable
from frontguard.adapters.verify_queue import VerifyRequest, VerifySink
from frontguard.alerts import Alert, AlertSink
from frontguard.controller.ingress import (
    frontend_nlb_health_check_ports,
    frontend_nlb_shares_alb_sgs,
)
from frontguard.controller.objects import annotations_of, name_of, namespace_of
from frontguard.controller.security_groups import (
    BACKEND_SG_REQUIRED,
    MAX_SECURITY_GROUPS,
    AnnotationKeys,
    annotation_keys,
    backend_sg_name,
    is_id,
    named_security_groups,
)
from frontguard.engine import born, exemptions, gateway, plan
from frontguard.engine.owner import ClusterObjects, Owner, resolve_owner
from frontguard.errors import NotFoundError, RetryableError
from frontguard.model import (
    Listener,
    LoadBalancer,
    Outcome,
    OwnerKind,
    OwnerRef,
    PermissionRule,
    classify,
    plan_digest,
)
from frontguard.policy import VPC_SOURCE, ControllerFlags, GitOpsAction, Mode, Policy
from frontguard.sources import Sources

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Engine:
    """Everything the engine needs, handed in: clients, policy, sinks."""

    policy: Policy
    elbv2: ElasticLoadBalancingv2Client
    ec2: EC2Client
    kube: Callable[[str], KubeClient]
    alerts: AlertSink
    verify: VerifySink | None = None
    state: StateTable | None = None  # loop detection; None for one-shot CLI runs
    # Where every outcome is recorded even when no human is alerted (Security Hub findings).
    findings: AlertSink | None = None
    discovery_delays: Sequence[float] = (1.0, 2.0, 4.0)
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Prefetched:
    """What a caller (the scan) already read in bulk, so the engine need not read it again."""

    security_group: aws.SecurityGroup | None
    vpc_cidrs: Mapping[str, list[str]] = field(default_factory=dict)
    cluster: ClusterObjects | None = None
    endpoint_services: Mapping[str, list[str]] | None = None  # NLB ARN → PrivateLink services
    # SGs carrying frontguard's tags for this LB that are not frontguard's (already alerted).
    impostors: tuple[tuple[aws.SecurityGroup, str], ...] = ()
    #: The listeners as the controller's own managed SG states them (its rules are the listen
    #: ports, see engine/scan.py); ``None`` when the scan could not tell, and the engine asks.
    listeners: tuple[Listener, ...] | None = None
    # frontguard's own prefix lists (ID → entries), when the scan has synchronised them.
    prefix_lists: Mapping[str, Sources] | None = None


class LoadBalancerGoneError(NotFoundError):
    """The load balancer never became visible and is not there now."""


class OwnerChange(Protocol):
    """One change the engine requests of the owner, so that the controller attaches the SG."""

    @property
    def target(self) -> str: ...

    def summary(self) -> dict[str, Any]: ...

    def apply(self, kube: KubeClient) -> None: ...


@dataclass(frozen=True)
class AnnotationChange:
    """A merge patch of one Ingress's or Service's annotations."""

    path: ObjectPath
    changes: dict[str, str | None]

    @property
    def target(self) -> str:
        return f"{self.path.namespace}/{self.path.name}"

    def summary(self) -> dict[str, Any]:
        return {self.target: {k: v for k, v in self.changes.items() if k != t.REPLACED_ANNOTATION}}

    def apply(self, kube: KubeClient) -> None:
        kube.patch_annotations(self.path, self.changes)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str
    load_balancer_arn: str
    cluster: str | None = None
    owner: OwnerRef | None = None
    security_group_id: str | None = None
    rules: frozenset[PermissionRule] = frozenset()
    patched: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def log_context(self) -> dict[str, Any]:
        return {
            "load_balancer_arn": self.load_balancer_arn,
            "cluster": self.cluster,
            "owner": self.owner.describe() if self.owner else None,
            "outcome": self.outcome.value,
        }


# --- Decisions: values, computed before anything changes ---------------------------------------


@dataclass(frozen=True)
class Settled:
    """Nothing to change and nobody to tell (ignored, exempt, not handled, compliant).
    ``verify``: frontguard's SG is requested but not attached yet: queue a verification."""

    result: Result
    verify: bool = False


@dataclass(frozen=True)
class Report:
    """Nothing to change; a human must act (needs-recreation, conflict, error, audit)."""

    result: Result
    fix: str | None


@dataclass(frozen=True)
class Apply:
    """Set up frontguard's SG with ``rules`` and request it through the owner."""

    result: Result  # the outcome once applied (remediated or drift), before the SG exists
    owner: Owner
    group: aws.SecurityGroup | None  # frontguard's SG when it exists already
    kept: tuple[str, ...]  # approved SGs the owner keeps next to frontguard's
    self_ports: tuple[int, ...] = ()  # ports admitting frontguard's SG itself (frontend NLB)
    fix: str | None = None  # what a human must still do once applied (born-open)


@dataclass(frozen=True)
class Nudge:
    """The LB carries SGs its owner does not ask for (attached around the controller): alert,
    and ask the controller to reconcile, which puts back exactly the owner's list. Never
    ``SetSecurityGroups``: the controller would fight it."""

    result: Result
    owner: Owner
    fix: str


Decision = Settled | Report | Apply | Nudge


def _with_discovery_retries(engine: Engine, what: str, read: Callable[[], T | None]) -> T:
    """Re-read while the controller has not finished creating things, then retry later."""
    for delay in (*engine.discovery_delays, None):
        value = read()
        if value is not None:
            return value
        if delay is None:
            break
        engine.sleep(delay)
    raise RetryableError(f"{what} is not visible yet")


def read_load_balancer(engine: Engine, arn: str) -> LoadBalancer:
    """Re-read a just-created load balancer (it may not be listed yet). Still not there after
    the retries: it is gone (the controller deletes and recreates on some changes); the
    scheduled scan is the backstop for one that shows up later."""

    for delay in (*engine.discovery_delays, None):
        try:
            return aws.describe_load_balancer(engine.elbv2, arn)
        except NotFoundError:
            if delay is None:
                break
            engine.sleep(delay)
    raise LoadBalancerGoneError(f"load balancer {arn} does not exist")


def remediate_load_balancer(
    engine: Engine,
    arn: str,
    *,
    load_balancer: LoadBalancer | None = None,
    drift: bool = False,
    prefetched: Prefetched | None = None,
) -> Result:
    """Decide, then carry the decision out; alert when needed.

    ``drift``: frontguard had remediated this load balancer before (the scan knows), so a
    repair is reported as ``drift`` rather than ``remediated``.
    """
    lb = load_balancer or read_load_balancer(engine, arn)
    decision = decide(engine, lb, drift=drift, prefetched=prefetched)
    result = carry_out(engine, lb, decision)
    level = logging.WARNING if result.outcome is Outcome.ERROR else logging.INFO
    logger.log(level, result.reason, extra=result.log_context())
    return result


def decide(
    engine: Engine, lb: LoadBalancer, *, drift: bool = False, prefetched: Prefetched | None = None
) -> Decision:
    """What should happen to ``lb``: reads only, changes nothing."""
    policy = engine.policy
    classification = classify(lb.tags)
    cluster = lb.cluster
    if classification.owner is None or classification.owner.kind is OwnerKind.AUTO_MODE:
        return Settled(
            Result(
                Outcome.IGNORED,
                classification.skip_reason or "not frontguard's business",
                lb.arn,
                cluster,
                classification.owner,
            )
        )
    ref = classification.owner
    assert cluster is not None
    if not policy.selects_cluster(cluster):
        return Settled(
            Result(Outcome.IGNORED, "cluster not selected by policy", lb.arn, cluster, ref)
        )

    def result(outcome: Outcome, reason: str, **kwargs: Any) -> Result:
        return Result(outcome, reason, lb.arn, cluster, ref, **kwargs)

    flags = policy.controller_flags(cluster)
    read = _read_owner(engine, lb, ref, flags, prefetched)
    if isinstance(read, str):
        return Settled(result(Outcome.IGNORED, read))
    owner, claim = read
    if (verdict := _owner_verdict(lb, owner, policy, result, claim)) is not None:
        return verdict

    if (inherited := _inherits_alb_sgs(engine, lb, owner, result)) is not None:
        return inherited

    keys = annotation_keys(ref)
    names = _resolve_names(engine, lb, owner, keys)
    if owner.gateway is not None:
        if owner.gateway.approved_only(policy):
            return Settled(result(Outcome.COMPLIANT, "owner names only approved security groups"))
    elif plan.approved_only(owner.objects, keys, names, policy):
        return Settled(result(Outcome.COMPLIANT, "owner names only approved security groups"))

    if backend := _backend_sg_unavailable(lb, owner, keys, flags.enable_backend_security_group):
        return Report(result(Outcome.ERROR, backend), _backend_sg_fix(ref))

    group = _own_security_group(engine, lb, ref, prefetched)
    if owner.gateway is not None and (pin := _class_pin_conflict(engine, owner.gateway, group)):
        return Report(
            result(
                Outcome.CONFLICT,
                pin,
                security_group_id=group.id if group else None,
                extra={
                    "class_configuration": owner.gateway.class_config.ref
                    if owner.gateway.class_config
                    else None
                },
            ),
            gateway.class_pin_fix(owner.gateway, group.id if group else None),
        )

    kept = tuple(
        g
        for g in (
            owner.gateway.kept_approved(policy)
            if owner.gateway is not None
            else plan.kept_approved(owner.objects, keys, names, policy)
        )
        if not group or g != group.id
    )
    backend_sgs = 1 if keys.backend_rules is not None or owner.gateway is not None else 0
    if 1 + len(kept) + backend_sgs > MAX_SECURITY_GROUPS:
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

    if (privatelink := _privatelink_conflict(engine, lb, prefetched, result)) is not None:
        return privatelink

    listeners = _listeners(engine, lb, prefetched)
    return _decide_plan(
        engine,
        lb,
        owner,
        listeners=listeners,
        group=group,
        kept=kept,
        result=result,
        drift=drift,
        prefetched=prefetched,
    )


def _listeners(
    engine: Engine, lb: LoadBalancer, prefetched: Prefetched | None
) -> Sequence[Listener]:
    """The scan's listeners (from the controller's managed SG) when it had them; otherwise
    (the event path, the scan's LBs without a managed SG) one read, retried while the
    controller is still creating them."""
    if prefetched is not None and prefetched.listeners:
        return prefetched.listeners
    return _with_discovery_retries(
        engine,
        f"listeners of {lb.arn}",
        lambda: aws.describe_listeners(engine.elbv2, lb.arn) or None,
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
    policy: Policy,
    result: Callable[..., Result],
    claim: str | None,
) -> Decision | None:
    """What the owner alone settles: exempt, not the controller's, not proven its owner,
    a squatted configuration, unbuildable, SG-less."""
    if exempt := exemptions.decide(owner.objects, owner.ref, lb.cluster or "", policy):
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


def _decide_plan(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    *,
    listeners: Sequence[Listener],
    group: aws.SecurityGroup | None,
    kept: tuple[str, ...],
    result: Callable[..., Result],
    drift: bool,
    prefetched: Prefetched | None,
) -> Decision:
    policy = engine.policy
    ref = owner.ref
    vpc_cidrs: list[str] = []
    if any(
        VPC_SOURCE
        in policy.sources_for(
            cluster=lb.cluster or "", namespace=namespace, scheme=lb.scheme, kind=ref.policy_kind
        )
        for namespace in owner.namespaces or [""]
    ):
        known = prefetched.vpc_cidrs.get(lb.vpc_id) if prefetched else None
        vpc_cidrs = known if known is not None else aws.vpc_cidrs(engine.ec2, lb.vpc_id)
    allowed = plan.policy_sources(
        policy, lb=lb, owner=ref, namespaces=owner.namespaces, vpc_cidrs=vpc_cidrs
    )
    source_plan = plan.plan_rules(listeners, allowed, owner.restrictions)
    self_ports = _self_reference_ports(owner, listeners)
    group = _unless_pre_lb_off_plan(group, source_plan.rules, self_ports)
    rules = source_plan.rules | (_self_rules(self_ports, group.id) if group else frozenset())
    plan_data = _plan_summary(source_plan)
    open_at_birth: born.BornOpen | None = None
    # Opt-in per cluster: elsewhere nothing changes (not even a read), so a policy as wide as
    # the controller's default does not stop frontguard from putting its own SG in place.
    if policy.born_protected_cluster(lb.cluster or "") and (
        group is None or group.id not in lb.security_groups
    ):
        verdict = _born_verdict(
            engine,
            lb,
            owner,
            listeners=listeners,
            allowed=allowed,
            prefetched=prefetched,
            result=result,
        )
        if isinstance(verdict, Settled):
            return verdict
        if verdict and not drift:
            open_at_birth = born.missing_object(owner, allowed)
            plan_data = {
                **plan_data,
                "born_open": open_at_birth.describe(),
                "missing_or_drifted_object": open_at_birth.object,
                "why_not_born_protected": verdict,
            }

    if plan.exceeds_rule_limit(rules, policy):
        return Report(
            result(
                Outcome.ERROR,
                f"plan needs {len(rules)} rules, more than the {policy.max_rules_per_security_group}"
                " a security group may hold",
                rules=rules,
                extra=plan_data,
            ),
            "Raise the rules-per-security-group quota (and the policy's "
            "max_rules_per_security_group), or use prefix lists instead of many CIDRs.",
        )

    sg_id = group.id if group else "<frontguard-sg>"
    changes = _owner_changes(owner, sg_id, kept)
    rules_converged = group is not None and not aws.rule_changes(group, rules).changed
    if rules_converged and not changes:
        assert group is not None
        if group.id in lb.security_groups:
            extra = _extra_security_groups(engine, lb, group.id)
            if extra:
                return _extra_sg_decision(
                    engine, owner, group=group, extra=extra, rules=rules, result=result
                )
            return Settled(
                result(
                    Outcome.COMPLIANT,
                    "frontguard's SG is annotated and its rules match the plan",
                    security_group_id=group.id,
                    rules=rules,
                )
            )
        # Requested but not attached: an earlier run patched and failed before queueing its
        # verification, or the controller cannot build the owner (then it is an open finding).
        failure = _controller_failure(engine, lb, owner)
        if failure is not None:
            return Report(
                result(
                    Outcome.ERROR,
                    "frontguard's SG is requested but the controller fails to build the owner: "
                    + failure,
                    security_group_id=group.id,
                    rules=rules,
                ),
                "Fix what the controller's event says; frontguard's annotations are right.",
            )
        return Settled(
            result(
                Outcome.COMPLIANT,
                "frontguard's SG is annotated and its rules match the plan; the controller has "
                "not attached it yet: verification queued",
                security_group_id=group.id,
                rules=rules,
            ),
            verify=True,
        )

    report_only = ref.auto_mode and not policy.remediate_auto_mode
    if open_at_birth is not None and (policy.mode is Mode.AUDIT or report_only):
        return Report(
            result(
                Outcome.BORN_OPEN,
                f"created open in a born-protected cluster ({open_at_birth.describe()}); "
                "nothing changed (audit mode)",
                security_group_id=group.id if group else None,
                rules=rules,
                extra={**plan_data, "planned_annotations": _planned_annotations(changes)},
            ),
            _born_open_fix(open_at_birth),
        )
    if policy.mode is Mode.AUDIT or report_only:
        return Report(
            result(
                Outcome.AUDIT_FINDING,
                "not compliant (EKS Auto Mode: reported only, nothing changed)"
                if report_only
                else "not compliant (audit mode: nothing changed)",
                security_group_id=group.id if group else None,
                rules=rules,
                extra={**plan_data, "planned_annotations": _planned_annotations(changes)},
            ),
            "EKS Auto Mode's support for the security-group annotations is not documented, so "
            "frontguard only reports its load balancers. Apply the changes shown yourself, or "
            "set remediate_auto_mode: true in the policy to let frontguard apply them."
            if report_only
            else "Switch the policy to enforce mode, or apply the annotations shown.",
        )
    return Apply(
        result(
            Outcome.DRIFT if drift else Outcome.BORN_OPEN if open_at_birth else Outcome.REMEDIATED,
            ("drift repaired: " if drift else "")
            + (
                f"created open in a born-protected cluster ({open_at_birth.describe()}): "
                if open_at_birth
                else ""
            )
            + (
                "frontguard's SG set up and requested through the Gateway's "
                "LoadBalancerConfiguration"
                if owner.gateway is not None
                else "frontguard's SG set up and requested through the owner's annotations"
            ),
            rules=rules,
            extra=plan_data,
        ),
        owner,
        group,
        kept,
        self_ports,
        _born_open_fix(open_at_birth) if open_at_birth else None,
    )


def _unless_pre_lb_off_plan(
    group: aws.SecurityGroup | None, planned: frozenset[PermissionRule], self_ports: Sequence[int]
) -> aws.SecurityGroup | None:
    """A load balancer born behind frontguard's pre-load-balancer SG (fail-closed mode) keeps
    it while its rules are the plan for the real listeners; otherwise (drift, a new listener)
    the usual path: an SG keyed by the load balancer, and the usual swap (``None``)."""
    if group is None or not aws.is_pre_lb(group):
        return group
    if aws.rule_changes(group, planned | _self_rules(self_ports, group.id)).changed:
        return None
    return group


def _born_verdict(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    *,
    listeners: Sequence[Listener],
    allowed: Sources,
    prefetched: Prefetched | None,
    result: Callable[..., Result],
) -> Settled | list[str] | None:
    """``Settled(born-protected)`` when the load balancer carries only the controller's managed
    SG (and its backend SG) and that admits nothing beyond the plan; else what it admits beyond
    the plan (``None``: it does not carry the controller's managed SG)."""
    carried = aws.describe_security_groups(engine.ec2, lb.security_groups)
    groups = born.managed_groups(lb.security_groups, carried)
    if groups is None:
        return None
    owned: Mapping[str, Sources] = {}
    unknown = {
        r.source
        for g in groups
        for r in g.rules
        if r.source.startswith("pl-") and r.source not in allowed.prefix_lists
    }
    if unknown:
        owned = (
            prefetched.prefix_lists
            if prefetched is not None and prefetched.prefix_lists is not None
            else prefix_list_adapter.owned_entries(engine.ec2)
        )
    restrictions = born.expand_restrictions(owner.restrictions, owned)
    beyond = born.beyond_plan(groups, listeners, allowed, restrictions, owned)
    if beyond:
        return beyond
    return Settled(
        result(
            Outcome.BORN_PROTECTED,
            "the controller's managed SG admits only the policy's sources on the listener ports "
            "(class-level defaults): compliant, left as it is",
            security_group_id=groups[0].id,
            rules=frozenset(r for g in groups for r in g.rules),
            extra={"exposure_seconds": 0.0},  # born at policy width: never open
        )
    )


def _born_open_fix(missing: born.BornOpen) -> str:
    return (
        f"Fix or apply {missing.object} as `frontguard render born-protected --cluster "
        "<name>` prints it (the controller re-reconciles every Ingress of a class when its "
        "params change), so new load balancers are born at policy width; "
        "see docs/born-protected.md."
    )


def _privatelink_conflict(
    engine: Engine,
    lb: LoadBalancer,
    prefetched: Prefetched | None,
    result: Callable[..., Result],
) -> Report | None:
    """An NLB behind a VPC endpoint service: AWS evaluates PrivateLink consumers' client IPs
    against its SG by default, so the policy's SG could cut them off (docs/controller-rules.md,
    "PrivateLink")."""
    if lb.type != "network" or engine.policy.privatelink != "alert":
        return None
    services = (
        prefetched.endpoint_services
        if prefetched is not None and prefetched.endpoint_services is not None
        else aws.endpoint_services_by_load_balancer(engine.ec2)
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


def _inherits_alb_sgs(
    engine: Engine, lb: LoadBalancer, owner: Owner, result: Callable[..., Result]
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


def _extra_security_groups(engine: Engine, lb: LoadBalancer, ours: str) -> list[str]:
    """SGs on the LB beyond frontguard's, the approved ones and the controller's backend SG
    (known by the name the controller gives it in the LB's VPC, not by a tag). One call, and
    only when the LB carries something beyond frontguard's and approved SGs."""
    candidates = sorted(
        set(lb.security_groups) - {ours} - set(engine.policy.approved_security_groups)
    )
    if not candidates:
        return []
    described = aws.describe_security_groups(engine.ec2, candidates)
    backend = backend_sg_name(lb.cluster or "")
    return [
        group_id
        for group_id in candidates
        if not (
            group_id in described
            and described[group_id].name == backend
            and described[group_id].vpc_id == lb.vpc_id
        )
    ]


def _extra_sg_decision(
    engine: Engine,
    owner: Owner,
    *,
    group: aws.SecurityGroup,
    extra: list[str],
    rules: frozenset[PermissionRule],
    result: Callable[..., Result],
) -> Decision:
    reason = (
        f"the load balancer also carries {', '.join(extra)}, which neither frontguard, the "
        "policy nor the controller put there: its rules apply next to frontguard's"
    )
    drift = result(
        Outcome.DRIFT,
        reason,
        security_group_id=group.id,
        rules=rules,
        extra={"extra_security_groups": extra},
    )
    fix = (
        "Find who attached it (CloudTrail SetSecurityGroups on the load balancer). frontguard "
        "asked the controller to reconcile, which puts back exactly the owner's list."
    )
    if engine.policy.mode is Mode.AUDIT or owner.gateway is not None:
        return Report(
            drift,
            fix.replace(
                "frontguard asked the controller to reconcile, which",
                "Any change to the owner makes the controller reconcile, which",
            ),
        )
    return Nudge(drift, owner, fix)


def _self_reference_ports(owner: Owner, listeners: Sequence[Listener]) -> tuple[int, ...]:
    if owner.ref.frontend_nlb or not owner.members:
        return ()
    if not frontend_nlb_shares_alb_sgs(owner.members):
        return ()
    rules = plan.frontend_nlb_rules(
        listeners, frontend_nlb_health_check_ports(owner.members), "self"
    )
    return tuple(sorted(r.port for r in rules))


def _self_rules(ports: Sequence[int], group_id: str) -> frozenset[PermissionRule]:
    return frozenset(PermissionRule("tcp", port, group_id) for port in ports)


# --- Carrying a decision out -------------------------------------------------------------------


def carry_out(engine: Engine, lb: LoadBalancer, decision: Decision) -> Result:
    """The one place where a decision changes the world."""
    if isinstance(decision, Nudge):
        kube = engine.kube(lb.cluster or "")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for path in decision.owner.paths[: len(decision.owner.objects)]:
            kube.patch_annotations(path, {t.RECONCILE_ANNOTATION: stamp})
        if decision.result.security_group_id:
            _request_verification(
                engine, lb, decision.result.security_group_id, decision.result.rules
            )
        engine.alerts.publish(_alert(decision.result, decision.fix))
        return decision.result
    if isinstance(decision, Settled):
        if decision.verify and decision.result.security_group_id:
            _request_verification(
                engine, lb, decision.result.security_group_id, decision.result.rules
            )
        return decision.result
    if isinstance(decision, Report):
        engine.alerts.publish(_alert(decision.result, decision.fix))
        return decision.result
    return _apply(engine, lb, decision)


def _apply(engine: Engine, lb: LoadBalancer, decision: Apply) -> Result:
    policy = engine.policy
    owner, planned = decision.owner, decision.result
    cluster = planned.cluster or ""
    group = decision.group
    if group is None:
        group = aws.create_security_group(engine.ec2, lb, cluster=cluster, owner=owner.ref)
        logger.info(
            "security group created",
            extra={"load_balancer_arn": lb.arn, "cluster": cluster, "security_group_id": group.id},
        )
    rules = planned.rules | _self_rules(decision.self_ports, group.id)
    rule_changes = aws.converge_rules(engine.ec2, group, rules)
    changes = _owner_changes(owner, group.id, decision.kept)

    def outcome(kind: Outcome, reason: str, **kwargs: Any) -> Result:
        return Result(kind, reason, lb.arn, cluster, owner.ref, group.id, rules, **kwargs)

    if not changes and not rule_changes.changed:
        return carry_out(
            engine,
            lb,
            Settled(
                outcome(Outcome.COMPLIANT, "already compliant"),
                verify=group.id not in lb.security_groups,
            ),
        )

    markers = [m for obj in owner.objects for m in plan.gitops_markers(obj)]
    if changes and markers and policy.gitops is GitOpsAction.ALERT:
        result = outcome(
            Outcome.GITOPS_PENDING,
            f"owner is managed by {', '.join(sorted(set(markers)))}: annotations must be committed",
            extra={**planned.extra, "planned_annotations": _planned_annotations(changes)},
        )
        engine.alerts.publish(_gitops_alert(result, changes))
        return result

    # Only a re-patch counts towards loop detection: frontguard had set the owner up before
    # and someone changed it since. A first remediation delivered many times at once is not a
    # loop, however many concurrent runs patch it.
    if changes and engine.state is not None and _repatches(owner, changes):
        recent = engine.state.record_event(f"patches#{lb.arn}", policy.loop_window_minutes * 60)
        if recent > policy.loop_threshold:
            result = outcome(
                Outcome.CONFLICT,
                f"re-patched {recent - 1} times within {policy.loop_window_minutes} minutes: "
                "something keeps undoing it; remediation stopped for this load balancer",
                extra={**planned.extra, "planned_annotations": _planned_annotations(changes)},
            )
            engine.alerts.publish(
                _alert(
                    result,
                    "Find what reverts the annotations (a GitOps tool, a Helm release, a person: "
                    "the object's managedFields name it) and commit frontguard's annotations "
                    "there, or ask the security team for an exemption in the policy.",
                )
            )
            return result

    patched: list[str] = []
    kube = engine.kube(cluster)
    for change in changes:
        change.apply(kube)
        patched.append(change.target)
        logger.info(
            "annotations patched" if isinstance(change, AnnotationChange) else "owner patched",
            extra={
                "load_balancer_arn": lb.arn,
                "cluster": cluster,
                "owner": change.target,
                "security_group_id": group.id,
            },
        )
    result = outcome(
        planned.outcome,
        planned.reason,
        patched=tuple(patched),
        extra={
            **planned.extra,
            # Open so far; verification reports exposure_seconds once the SG is on it.
            "open_seconds_so_far": born.exposure_seconds(lb.created, datetime.now(UTC)),
            "rules_added": len(rule_changes.added),
            "rules_removed": len(rule_changes.removed),
        },
    )
    _request_verification(engine, lb, group.id, rules)
    engine.alerts.publish(
        _alert(
            result,
            decision.fix or "Nothing to do; frontguard will verify that the controller applied it.",
        )
    )
    return result


# --- Helpers -----------------------------------------------------------------------------------


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


def _controller_failure(engine: Engine, lb: LoadBalancer, owner: Owner) -> str | None:
    """The controller's latest word on the owner objects, when it is a build/deploy failure
    not followed by a successful reconcile (one Events list per object; only in the rare case
    "requested but not attached")."""
    from frontguard.engine.events import latest_failure

    kube = engine.kube(lb.cluster or "")
    for obj in owner.objects:
        failure = latest_failure(kube, obj)
        if failure is not None:
            return failure
    return None


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


def _plan_summary(source_plan: plan.SourcePlan) -> dict[str, Any]:
    """The plan as alerts show it."""
    summary: dict[str, Any] = {
        "planned_rules": [
            f"{r.protocol}/{r.port} from {r.source}" for r in sorted(source_plan.rules)
        ],
        "beyond_policy": source_plan.beyond_policy.as_strings(),
    }
    if source_plan.closed_ports:
        # Never widen to make traffic flow: such a port admits nothing, and the alert says why.
        summary["warning"] = (
            "no source is allowed by both the policy and the owner's own restrictions on port(s) "
            f"{', '.join(map(str, source_plan.closed_ports))}: frontguard's security group "
            "admits nothing there. Align the owner's source ranges with the policy, or change "
            "the policy."
        )
    return summary


def _request_verification(
    engine: Engine, lb: LoadBalancer, group_id: str, rules: frozenset[PermissionRule]
) -> None:
    classification = classify(lb.tags)
    if engine.verify is None or classification.owner is None:
        return
    engine.verify.enqueue(
        VerifyRequest(
            load_balancer_arn=lb.arn,
            cluster=lb.cluster or "",
            security_group_id=group_id,
            owner=classification.owner.as_dict(),
            plan_digest=plan_digest(rules),
            requested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
        engine.policy.verify_delay_seconds,
    )


def _repatches(owner: Owner, changes: Sequence[OwnerChange]) -> bool:
    """A change targets an object frontguard had patched before (it records what it replaced
    the first time) and that differs now. Members of a group that a concurrent run has not
    reached yet carry no record: finishing that run's work is not a loop."""
    targets = {change.target for change in changes}
    return any(
        t.REPLACED_ANNOTATION in annotations_of(obj)
        and (f"{namespace_of(obj)}/{name_of(obj)}" in targets or owner.gateway is not None)
        for obj in owner.objects
    )


def owner_changes(owner: Owner, sg_id: str, kept: Sequence[str] = ()) -> list[OwnerChange]:
    """What the engine changes on ``owner`` so the controller attaches ``sg_id`` (also before
    its load balancer exists: engine/pre_lb.py)."""
    return _owner_changes(owner, sg_id, kept)


def _owner_changes(owner: Owner, sg_id: str, kept: Sequence[str]) -> list[OwnerChange]:
    """What to change on the owner so the controller attaches ``sg_id``; empty when nothing.
    The value is identical on every member of an IngressGroup: members carrying different
    lists stop the whole group (LBC:pkg/ingress/model_build_load_balancer.go
    buildFrontendSGNameOrIDsFromAnnotation)."""
    desired = [sg_id, *(g for g in kept if g != sg_id)]
    if owner.gateway is not None:
        if owner.gateway.class_pin is not None:
            return []  # the class-level pin names frontguard's SG (else: conflict, earlier)
        return list(gateway.change_for(owner.gateway, desired))
    keys = annotation_keys(owner.ref)
    changes: list[OwnerChange] = []
    for obj, path in zip(owner.objects, owner.paths, strict=True):
        patch = plan.annotation_patch(obj, keys, desired)
        if patch is not None:
            changes.append(AnnotationChange(path, patch))
    return changes


def _planned_annotations(changes: Sequence[OwnerChange]) -> dict[str, Any]:
    return {key: value for change in changes for key, value in change.summary().items()}


def _squatted_configuration(owner: gateway.GatewayOwner, result: Callable[..., Result]) -> Decision:
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


def impostor_alert(
    lb_arn: str,
    cluster: str | None,
    owner: OwnerRef | None,
    impostors: Sequence[tuple[aws.SecurityGroup, str]],
) -> Alert:
    """``conflict``: SGs carry frontguard's tags for ``lb_arn`` but were not created by it.

    frontguard never converges, attaches or deletes them; someone with ``ec2:CreateTags``
    tagged them (by mistake, or to make frontguard rewrite or delete them)."""
    named = "; ".join(f"{group.id} ({problem})" for group, problem in impostors)
    return Alert(
        outcome=Outcome.CONFLICT,
        load_balancer_arn=lb_arn,
        cluster=cluster,
        owner=owner,
        detail=f"security groups carry frontguard's tags but were not created by frontguard: "
        f"{named}. frontguard leaves them alone (never changes, attaches or deletes them).",
        fix="Find who tagged them (CloudTrail CreateTags) and remove the frontguard.io/* tags. "
        "Reserve frontguard's tag keys with an SCP (docs/scp.md) so only frontguard can set "
        "them.",
        data={"impostor_security_groups": [group.id for group, _ in impostors]},
    )


def _alert(result: Result, fix: str | None) -> Alert:
    return Alert(
        outcome=result.outcome,
        load_balancer_arn=result.load_balancer_arn,
        cluster=result.cluster,
        owner=result.owner,
        detail=result.reason,
        fix=fix,
        data={"security_group_id": result.security_group_id, **result.extra},
    )


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


def _gitops_alert(result: Result, changes: Sequence[OwnerChange]) -> Alert:
    lines = []
    for target, values in _planned_annotations(changes).items():
        lines.append(f"{target}:")
        lines.extend(f'  {key}: "{value}"' for key, value in values.items())
    return _alert(
        result,
        "Commit these annotations to the object's source repository:\n" + "\n".join(lines),
    )
