"""Plan frontguard's SG for a load balancer the owner does not settle, and decide from it.

Per listener port, the policy's sources narrowed by the owner's restriction for that port
(engine/plan.py). Then: already compliant (or requested and awaiting the controller), born
protected (the controller's managed SG admits only the plan), too many rules, audit or
EKS Auto Mode (report), or :class:`Apply`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from frontguard.adapters import aws, network
from frontguard.adapters import prefix_lists as prefix_list_adapter
from frontguard.controller.ingress import (
    frontend_nlb_health_check_ports,
    frontend_nlb_shares_alb_sgs,
)
from frontguard.controller.security_groups import (
    annotation_keys,
    backend_sg_name,
    named_security_groups,
)
from frontguard.engine import accounting, born, plan
from frontguard.engine.decision import (
    Apply,
    Decision,
    Engine,
    Nudge,
    OwnerChange,
    Prefetched,
    Report,
    Result,
    Settled,
    owner_changes,
    planned_annotations,
    self_rules,
)
from frontguard.engine.owner import Owner
from frontguard.model import Listener, LoadBalancer, Outcome, PermissionRule
from frontguard.policy import VPC_SOURCE, Mode
from frontguard.sources import Sources

ResultFor = Callable[..., Result]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Planned:
    """The plan for one load balancer, before anything is decided from it."""

    allowed: Sources  # the policy's sources for this LB
    rules: frozenset[PermissionRule]  # frontguard's SG rules, self-references included
    self_ports: tuple[int, ...]
    group: aws.SecurityGroup | None  # frontguard's SG to converge (None: create one)
    summary: dict[str, Any]  # the plan as alerts show it
    narrowed: tuple[plan.NarrowedPort, ...] = ()  # unclaimed ports that failed narrow


def decide_plan(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    *,
    listeners: Sequence[Listener],
    group: aws.SecurityGroup | None,
    kept: tuple[str, ...],
    result: ResultFor,
    drift: bool,
    prefetched: Prefetched | None,
) -> Decision:
    """What to do with frontguard's SG for ``lb``, from the plan."""
    planned = _plan(engine, lb, owner, listeners=listeners, group=group, prefetched=prefetched)
    beyond = _born_check(
        engine, lb, owner, planned, listeners=listeners, result=result, prefetched=prefetched
    )
    if isinstance(beyond, Settled):
        return beyond
    open_at_birth = born.missing_object(owner, planned.allowed) if beyond and not drift else None
    summary = {
        **planned.summary,
        **_born_open_summary(open_at_birth, beyond),
        **_accounted(lb, owner, planned, listeners=listeners),
    }
    rules, group = planned.rules, planned.group
    if plan.exceeds_rule_limit(rules, engine.policy):
        return _rule_limit_report(engine, rules, summary, result)
    changes = owner_changes(owner, group.id if group else "<frontguard-sg>", kept)
    if drift and changes and (writer := accounting.last_writer(owner.objects)):
        # An annotation frontguard had set was changed: the object says who wrote it last.
        summary = {**summary, "actor": writer}
    if group is not None and not changes and not aws.rule_changes(group, rules).changed:
        return _converged(engine, lb, owner, group=group, rules=rules, result=result)
    report_only = owner.ref.auto_mode and not engine.policy.remediate_auto_mode
    if engine.policy.mode is Mode.AUDIT or report_only:
        return _report_only(
            owner,
            planned,
            summary=summary,
            changes=changes,
            open_at_birth=open_at_birth,
            result=result,
            auto_mode=report_only,
        )
    return _apply(
        owner, planned, summary, kept=kept, open_at_birth=open_at_birth, drift=drift, result=result
    )


def _apply(
    owner: Owner,
    planned: Planned,
    summary: dict[str, Any],
    *,
    kept: tuple[str, ...],
    open_at_birth: born.BornOpen | None,
    drift: bool,
    result: ResultFor,
) -> Apply:
    """Enforce mode: converge frontguard's SG to the plan and request it on the owner."""
    fixes = [
        *([_born_open_fix(open_at_birth)] if open_at_birth else []),
        *([_narrowed_fix(planned.narrowed)] if planned.narrowed else []),
    ]
    return Apply(
        result(
            _applied_outcome(drift=drift, born_open=open_at_birth is not None),
            _applied_reason(owner, drift=drift, open_at_birth=open_at_birth)
            + _narrowed_reason(planned.narrowed),
            rules=planned.rules,
            extra=summary,
        ),
        owner,
        planned.group,
        kept,
        planned.self_ports,
        " ".join(fixes) or None,
    )


def _born_check(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    planned: Planned,
    *,
    listeners: Sequence[Listener],
    result: ResultFor,
    prefetched: Prefetched | None,
) -> Settled | list[str] | None:
    """In a born-protected cluster (opt-in: elsewhere nothing is read, so a policy as wide as
    the controller's default does not stop frontguard from putting its own SG in place), a
    load balancer without frontguard's SG is born protected (settled) or open (what its SGs
    admit beyond the plan)."""
    if not engine.policy.born_protected_cluster(lb.cluster or ""):
        return None
    if planned.group is not None and planned.group.id in lb.security_groups:
        return None
    return _born_verdict(
        engine,
        lb,
        owner,
        listeners=listeners,
        allowed=planned.allowed,
        prefetched=prefetched,
        result=result,
    )


def _plan(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    *,
    listeners: Sequence[Listener],
    group: aws.SecurityGroup | None,
    prefetched: Prefetched | None,
) -> Planned:
    allowed = plan.policy_sources(
        engine.policy,
        lb=lb,
        owner=owner.ref,
        namespaces=owner.namespaces,
        vpc_cidrs=_vpc_cidrs(engine, lb, owner, prefetched),
    )
    source_plan = plan.plan_rules(listeners, allowed, owner.restrictions, path_mtu=owner.path_mtu)
    self_ports = _self_reference_ports(owner, listeners)
    group = _unless_pre_lb_off_plan(group, source_plan.rules, self_ports)
    rules = source_plan.rules | (self_rules(self_ports, group.id) if group else frozenset())
    for narrowed in source_plan.narrowed:
        logger.warning(
            "listener port unclaimed: planned narrow",
            extra={
                "load_balancer_arn": lb.arn,
                "cluster": lb.cluster,
                "owner": owner.ref.describe(),
                "port": narrowed.port,
                "narrowed_to": list(narrowed.admitted),
            },
        )
    return Planned(
        allowed, rules, self_ports, group, _plan_summary(source_plan), source_plan.narrowed
    )


def _vpc_cidrs(
    engine: Engine, lb: LoadBalancer, owner: Owner, prefetched: Prefetched | None
) -> list[str]:
    """The LB's VPC CIDRs, read only when a policy rule for one of its namespaces says ``vpc``."""
    if not any(
        VPC_SOURCE
        in engine.policy.sources_for(
            cluster=lb.cluster or "",
            namespace=namespace,
            scheme=lb.scheme,
            kind=owner.ref.policy_kind,
        )
        for namespace in owner.namespaces or [""]
    ):
        return []
    known = prefetched.vpc_cidrs.get(lb.vpc_id) if prefetched else None
    return known if known is not None else network.vpc_cidrs(engine.ec2, lb.vpc_id)


def _rule_limit_report(
    engine: Engine, rules: frozenset[PermissionRule], summary: dict[str, Any], result: ResultFor
) -> Report:
    limit = engine.policy.max_rules_per_security_group
    return Report(
        result(
            Outcome.ERROR,
            f"plan needs {len(rules)} rules, more than the {limit} a security group may hold",
            rules=rules,
            extra=summary,
        ),
        "Raise the rules-per-security-group quota (and the policy's "
        "max_rules_per_security_group), or use prefix lists instead of many CIDRs.",
    )


def _converged(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    *,
    group: aws.SecurityGroup,
    rules: frozenset[PermissionRule],
    result: ResultFor,
) -> Decision:
    """frontguard's SG is requested and its rules match the plan: compliant when attached
    (unless something else is attached next to it); otherwise the controller is yet to attach
    it, or cannot build the owner."""
    if group.id in lb.security_groups:
        if extra := _extra_security_groups(engine, lb, group.id):
            return _extra_sg_decision(
                engine, lb, owner, group=group, extra=extra, rules=rules, result=result
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


def _report_only(
    owner: Owner,
    planned: Planned,
    *,
    summary: dict[str, Any],
    changes: Sequence[OwnerChange],
    open_at_birth: born.BornOpen | None,
    result: ResultFor,
    auto_mode: bool,
) -> Report:
    """Audit mode, or an EKS Auto Mode LB frontguard may not patch: the plan, as a finding."""
    group_id = planned.group.id if planned.group else None
    extra = {**summary, "planned_annotations": planned_annotations(changes)}
    if open_at_birth is not None:
        return Report(
            result(
                Outcome.BORN_OPEN,
                f"created open in a born-protected cluster ({open_at_birth.describe()}); "
                "nothing changed (audit mode)",
                security_group_id=group_id,
                rules=planned.rules,
                extra=extra,
            ),
            _born_open_fix(open_at_birth),
        )
    return Report(
        result(
            Outcome.AUDIT_FINDING,
            (
                "not compliant (EKS Auto Mode: reported only, nothing changed)"
                if auto_mode
                else "not compliant (audit mode: nothing changed)"
            )
            + _narrowed_reason(planned.narrowed),
            security_group_id=group_id,
            rules=planned.rules,
            extra=extra,
        ),
        "EKS Auto Mode's support for the security-group annotations is not documented, so "
        "frontguard only reports its load balancers. Apply the changes shown yourself, or "
        "set remediate_auto_mode: true in the policy to let frontguard apply them."
        if auto_mode
        else "Switch the policy to enforce mode, or apply the annotations shown.",
    )


def _applied_outcome(*, drift: bool, born_open: bool) -> Outcome:
    if drift:
        return Outcome.DRIFT
    return Outcome.BORN_OPEN if born_open else Outcome.REMEDIATED


def _applied_reason(owner: Owner, *, drift: bool, open_at_birth: born.BornOpen | None) -> str:
    how = (
        "frontguard's SG set up and requested through the Gateway's LoadBalancerConfiguration"
        if owner.gateway is not None
        else "frontguard's SG set up and requested through the owner's annotations"
    )
    born_open = (
        f"created open in a born-protected cluster ({open_at_birth.describe()}): "
        if open_at_birth
        else ""
    )
    return ("drift repaired: " if drift else "") + born_open + how


def _narrowed_reason(narrowed: Sequence[plan.NarrowedPort]) -> str:
    """Fail narrow, said in the outcome (issue 26): which port, why, narrowed to what."""
    return "".join(f"; {port.describe()}" for port in narrowed)


def _narrowed_fix(narrowed: Sequence[plan.NarrowedPort]) -> str:
    ports = ", ".join(str(port.port) for port in narrowed)
    return (
        f"Port(s) {ports} admit only what every member of the owner allows. If one should "
        "admit more, name it in the listen-ports annotation of the Ingress it serves (with that "
        "Ingress's inbound-cidrs), and check the controller's feature gates (e.g. "
        "EnableCertificateManagement for create-acm-cert); frontguard then plans it from that "
        "member's restriction."
    )


def _unless_pre_lb_off_plan(
    group: aws.SecurityGroup | None, planned: frozenset[PermissionRule], self_ports: Sequence[int]
) -> aws.SecurityGroup | None:
    """A load balancer born behind frontguard's pre-load-balancer SG (fail-closed mode) keeps
    it while its rules are the plan for the real listeners; otherwise (drift, a new listener)
    the usual path: an SG keyed by the load balancer, and the usual swap (``None``)."""
    if group is None or not aws.is_pre_lb(group):
        return group
    if aws.rule_changes(group, planned | self_rules(self_ports, group.id)).changed:
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
    result: ResultFor,
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
            else prefix_list_adapter.owned_entries(engine.ec2, engine.state)
            if engine.state is not None
            else {}  # nothing proves a list frontguard's without its creation records
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
    lb: LoadBalancer,
    owner: Owner,
    *,
    group: aws.SecurityGroup,
    extra: list[str],
    rules: frozenset[PermissionRule],
    result: ResultFor,
) -> Decision:
    reason = (
        f"the load balancer also carries {', '.join(extra)}, which neither frontguard, the "
        "policy nor the controller put there: its rules apply next to frontguard's"
    )
    audit = engine.policy.mode is Mode.AUDIT
    drift = result(
        # Audit mode changes nothing: like every other departure from the plan, a finding.
        Outcome.AUDIT_FINDING if audit else Outcome.DRIFT,
        reason,
        security_group_id=group.id,
        rules=rules,
        extra={
            "extra_security_groups": extra,
            "was_open": accounting.was_open(
                lb, group, rules, controller_beyond=(), foreign_groups=extra
            ),
        },
    )
    fix = (
        "Find who attached it (CloudTrail SetSecurityGroups on the load balancer). frontguard "
        "asked the controller to reconcile, which puts back exactly the owner's list."
    )
    if audit or owner.gateway is not None:
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


def _born_open_summary(
    open_at_birth: born.BornOpen | None, beyond: list[str] | None
) -> dict[str, Any]:
    if open_at_birth is None:
        return {}
    return {
        "born_open": open_at_birth.describe(),
        "missing_or_drifted_object": open_at_birth.object,
        "why_not_born_protected": beyond,
    }


def _accounted(
    lb: LoadBalancer, owner: Owner, planned: Planned, *, listeners: Sequence[Listener]
) -> dict[str, Any]:
    """What the repair undoes (engine/accounting.py)."""
    beyond = accounting.controller_rules_beyond_policy(
        listeners, planned.allowed, owner.restrictions
    )
    key = annotation_keys(owner.ref).security_groups
    named = {e for obj in owner.objects for e in named_security_groups(obj, key)}
    if owner.gateway is not None or (planned.group is not None and planned.group.id in named):
        # A Gateway's SGs live in its configuration; frontguard's own SG named but not yet
        # attached: the load balancer still carries what it had (the controller's).
        named = set()
    was_open = accounting.was_open(
        lb, planned.group, planned.rules, controller_beyond=beyond, owner_groups=sorted(named)
    )
    return {"was_open": was_open}


def _plan_summary(source_plan: plan.SourcePlan) -> dict[str, Any]:
    """The plan as alerts show it."""
    summary: dict[str, Any] = {
        "planned_rules": [
            f"{r.protocol}/{r.port} from {r.source}" for r in sorted(source_plan.rules)
        ],
        "beyond_policy": source_plan.beyond_policy.as_strings(),
    }
    if source_plan.narrowed:
        summary["fail_narrow_ports"] = [
            {
                "port": port.port,
                "narrowed_to": list(port.admitted),
                "narrowest_restriction": list(port.restriction),
                "why": "no member's listen ports claim it",
            }
            for port in source_plan.narrowed
        ]
    if source_plan.closed_ports:
        # Never widen to make traffic flow: such a port admits nothing, and the alert says why.
        summary["warning"] = (
            "no source is allowed by both the policy and the owner's own restrictions on port(s) "
            f"{', '.join(map(str, source_plan.closed_ports))}: frontguard's security group "
            "admits nothing there. Align the owner's source ranges with the policy, or change "
            "the policy."
        )
    return summary
