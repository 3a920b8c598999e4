"""The engine: bring one load balancer behind a policy-conforming frontend security group.

One function, :func:`remediate_load_balancer`, serves the event handler, the scheduled scan
and the CLI. It decides (each decision logged with its reason), plans, and in ``enforce``
mode applies: frontguard's SG found by its tags or created, its rules converged to the plan,
and the owner's annotations patched so that the *controller* attaches the SG.
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
from frontguard.adapters.kube import (
    ELBV2,
    NETWORKING,
    KubeClient,
    KubeObject,
    ObjectPath,
    ingress_path,
    service_path,
)
from frontguard.adapters.state import StateTable
from frontguard.adapters.verify_queue import VerifyRequest, VerifySink
from frontguard.alerts import Alert, AlertSink
from frontguard.engine import gateway, plan
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
from frontguard.policy import VPC_SOURCE, GitOpsAction, Mode, Policy
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


@dataclass(frozen=True)
class Owner:
    """The owner objects of one load balancer, as read from the cluster."""

    ref: OwnerRef
    objects: tuple[KubeObject, ...]
    paths: tuple[ObjectPath, ...]
    handled: bool
    restriction: Sources | None
    gateway: gateway.GatewayOwner | None = None  # Gateway API owners only


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
    def attempt() -> LoadBalancer | None:
        try:
            return aws.describe_load_balancer(engine.elbv2, arn)
        except NotFoundError:
            return None

    return _with_discovery_retries(engine, f"load balancer {arn}", attempt)


# --- Owner resolution -----------------------------------------------------------------------


def _alb_classes(kube: KubeClient, *, auto_mode: bool = False) -> tuple[set[str], dict[str, str]]:
    """Names of IngressClasses the controller serves, and their IngressClassParams names."""
    names: set[str] = set()
    params: dict[str, str] = {}
    controller = t.AUTO_MODE_ALB_CONTROLLER if auto_mode else t.ALB_CONTROLLER
    for ingress_class in kube.ingress_classes():
        spec = ingress_class.get("spec", {})
        if spec.get("controller") != controller:
            continue
        name = ingress_class["metadata"]["name"]
        names.add(name)
        ref = spec.get("parameters") or {}
        if ref.get("kind") == "IngressClassParams" and ref.get("name"):
            params[name] = ref["name"]
    return names, params


def _class_of(ingress: KubeObject) -> str | None:
    name = ingress.get("spec", {}).get("ingressClassName") or plan.annotations_of(ingress).get(
        "kubernetes.io/ingress.class"
    )
    return str(name) if name else None


def resolve_owner(kube: KubeClient, ref: OwnerRef) -> Owner:
    """Read the owner objects named by the stack tag (NotFoundError when they are gone)."""
    params_api = t.AUTO_MODE_PARAMS_API if ref.auto_mode else ELBV2
    if ref.kind is OwnerKind.SERVICE:
        assert ref.namespace and ref.name
        path = service_path(ref.namespace, ref.name)
        service = kube.get(path)
        handled = (
            service.get("spec", {}).get("loadBalancerClass") == t.AUTO_MODE_NLB_CLASS
            if ref.auto_mode
            else plan.service_handled(service)
        )
        return Owner(ref, (service,), (path,), handled, plan.service_restriction(service))

    if ref.kind is OwnerKind.GATEWAY:
        assert ref.namespace and ref.name
        found = gateway.resolve(kube, ref.namespace, ref.name)
        paths = (found.path,) + ((found.config.path,) if found.config else ())
        return Owner(ref, found.objects, paths, found.handled, found.restriction(), gateway=found)

    if ref.kind is OwnerKind.INGRESS:
        assert ref.namespace and ref.name
        path = ingress_path(ref.namespace, ref.name)
        ingress = kube.get(path)
        classes, class_params = _alb_classes(kube, auto_mode=ref.auto_mode)
        params_name = class_params.get(_class_of(ingress) or "")
        params = kube.ingress_class_params(params_name, params_api) if params_name else None
        return Owner(
            ref,
            (ingress,),
            (path,),
            plan.ingress_handled(ingress, classes),
            plan.ingress_restriction(ingress, params),
        )

    if ref.kind is OwnerKind.INGRESS_GROUP:
        assert ref.group
        classes, class_params = _alb_classes(kube, auto_mode=ref.auto_mode)
        params_by_class = {
            cls: kube.ingress_class_params(name, params_api) for cls, name in class_params.items()
        }
        members: list[KubeObject] = []
        for ingress in kube.list_paged(f"{NETWORKING}/ingresses"):
            class_name = _class_of(ingress) or ""
            class_group = (
                params_by_class.get(class_name, {}).get("spec", {}).get("group", {}).get("name")
            )
            group = plan.annotations_of(ingress).get(t.INGRESS_GROUP_ANNOTATION) or class_group
            if group == ref.group:
                members.append(ingress)
        if not members:
            raise NotFoundError(f"no Ingress is a member of group {ref.group}")
        members.sort(key=plan.object_id)
        return Owner(
            ref,
            tuple(members),
            tuple(ingress_path(m["metadata"]["namespace"], m["metadata"]["name"]) for m in members),
            all(plan.ingress_handled(m, classes) for m in members),
            plan.group_restriction(
                [
                    plan.ingress_restriction(m, params_by_class.get(_class_of(m) or ""))
                    for m in members
                ]
            ),
        )

    raise NotFoundError(f"owner kind {ref.kind.value} is not resolved here")


# --- The engine -----------------------------------------------------------------------------


def remediate_load_balancer(
    engine: Engine,
    arn: str,
    *,
    load_balancer: LoadBalancer | None = None,
    drift: bool = False,
    prefetched: Prefetched | None = None,
) -> Result:
    """Decide, plan and (in enforce mode) apply for one load balancer; alert when needed.

    ``drift``: frontguard had remediated this load balancer before (the scan knows), so a
    repair is reported as ``drift`` rather than ``remediated``.
    """
    lb = load_balancer or read_load_balancer(engine, arn)
    result = _decide_and_apply(engine, lb, drift=drift, prefetched=prefetched)
    level = logging.WARNING if result.outcome is Outcome.ERROR else logging.INFO
    logger.log(level, result.reason, extra=result.log_context())
    return result


def _decide_and_apply(
    engine: Engine, lb: LoadBalancer, *, drift: bool, prefetched: Prefetched | None
) -> Result:
    policy = engine.policy
    classification = classify(lb.tags)
    cluster = lb.cluster
    if classification.owner is None or classification.owner.kind is OwnerKind.AUTO_MODE:
        return Result(
            Outcome.IGNORED,
            classification.skip_reason or "not frontguard's business",
            lb.arn,
            cluster,
            classification.owner,
        )
    ref = classification.owner
    assert cluster is not None
    if not policy.selects_cluster(cluster):
        return Result(Outcome.IGNORED, "cluster not selected by policy", lb.arn, cluster, ref)

    kube = engine.kube(cluster)
    try:
        owner = resolve_owner(kube, ref)
    except NotFoundError as error:
        return Result(
            Outcome.IGNORED,
            f"owner object not found ({error}); the controller will delete the load balancer",
            lb.arn,
            cluster,
            ref,
        )

    def result(outcome: Outcome, reason: str, **kwargs: Any) -> Result:
        return Result(outcome, reason, lb.arn, cluster, ref, **kwargs)

    if (reason := plan.exempt_reason(owner.objects, policy)) is not None:
        return result(Outcome.EXEMPT, reason)
    if not owner.handled:
        return result(
            Outcome.NOT_CONTROLLER_HANDLED,
            "the controller does not handle this object (class/type); annotations would be ignored",
        )
    if lb.type == "network" and not lb.security_groups:
        outcome = result(
            Outcome.NEEDS_RECREATION,
            "NLB was created without security groups and can never get one",
        )
        engine.alerts.publish(_needs_recreation_alert(outcome))
        return outcome
    if owner.gateway is not None:
        if owner.gateway.approved_only(policy):
            return result(Outcome.COMPLIANT, "owner names only approved security groups")
        if (pinned := _class_pin_conflict(engine, lb, owner.gateway, result)) is not None:
            return pinned
    elif all(plan.approved_only(obj, ref, policy) for obj in owner.objects):
        return result(Outcome.COMPLIANT, "owner names only approved security groups")

    listeners = _with_discovery_retries(
        engine,
        f"listeners of {lb.arn}",
        lambda: aws.describe_listeners(engine.elbv2, lb.arn) or None,
    )
    return _plan_and_apply(engine, lb, owner, listeners, result, drift=drift, prefetched=prefetched)


def _class_pin_conflict(
    engine: Engine, lb: LoadBalancer, owner: gateway.GatewayOwner, result: Callable[..., Result]
) -> Result | None:
    """A GatewayClass-level configuration that pins security groups wins: do not fight it.

    The pin is accepted once it names frontguard's SG (and otherwise only approved SGs).
    """
    pin = set(owner.class_pin)
    if not pin:
        return None
    group = aws.find_security_group(engine.ec2, lb.arn)
    if (
        group is not None
        and group.id in pin
        and pin - {group.id} <= set(engine.policy.approved_security_groups)
    ):
        return None
    outcome = result(
        Outcome.CONFLICT,
        f"the GatewayClass's LoadBalancerConfiguration pins security groups "
        f"({', '.join(sorted(pin))}), which win over the Gateway's own configuration",
        security_group_id=group.id if group else None,
        extra={"class_configuration": owner.class_config.ref if owner.class_config else None},
    )
    engine.alerts.publish(
        _alert(outcome, gateway.class_pin_fix(owner, group.id if group else None))
    )
    return outcome


def _plan_and_apply(
    engine: Engine,
    lb: LoadBalancer,
    owner: Owner,
    listeners: Sequence[Listener],
    result: Callable[..., Result],
    *,
    drift: bool,
    prefetched: Prefetched | None,
) -> Result:
    policy = engine.policy
    ref = owner.ref
    cluster = lb.cluster or ""
    namespace = owner.objects[0].get("metadata", {}).get("namespace", "")
    policy_sources = policy.sources_for(
        cluster=cluster, namespace=namespace, scheme=lb.scheme, kind=ref.policy_kind
    )
    vpc_cidrs: list[str] = []
    if VPC_SOURCE in policy_sources:
        known = prefetched.vpc_cidrs.get(lb.vpc_id) if prefetched else None
        vpc_cidrs = known if known is not None else aws.vpc_cidrs(engine.ec2, lb.vpc_id)
    source_plan = plan.plan_sources(
        lb=lb,
        owner=ref,
        namespace=namespace,
        policy=policy,
        vpc_cidrs=vpc_cidrs,
        restriction=owner.restriction,
        listeners=listeners,
    )
    rules = source_plan.rules
    plan_data = _plan_summary(source_plan)
    if plan.exceeds_rule_limit(rules, policy):
        outcome = result(
            Outcome.ERROR,
            f"plan needs {len(rules)} rules, more than the {policy.max_rules_per_security_group}"
            " a security group may hold",
            rules=rules,
            extra=plan_data,
        )
        engine.alerts.publish(
            _alert(
                outcome,
                "Raise the rules-per-security-group quota (and the policy's "
                "max_rules_per_security_group), or use prefix lists instead of many CIDRs.",
            )
        )
        return outcome

    group = (
        prefetched.security_group
        if prefetched is not None
        else aws.find_security_group(engine.ec2, lb.arn)
    )
    sg_id = group.id if group else "<frontguard-sg>"
    patches = _owner_changes(owner, sg_id, policy)
    rules_converged = group is not None and not aws.rule_changes(group, rules).changed
    if rules_converged and not patches:
        assert group is not None
        return _compliant(
            engine,
            lb,
            group,
            rules,
            result,
            reason="frontguard's SG is annotated and its rules match the plan",
        )

    report_only = ref.auto_mode and not policy.remediate_auto_mode
    if policy.mode is Mode.AUDIT or report_only:
        outcome = result(
            Outcome.AUDIT_FINDING,
            "not compliant (EKS Auto Mode: reported only, nothing changed)"
            if report_only
            else "not compliant (audit mode: nothing changed)",
            security_group_id=group.id if group else None,
            rules=rules,
            extra={**plan_data, "planned_annotations": _planned_annotations(patches)},
        )
        fix = (
            "EKS Auto Mode's support for the security-group annotations is not documented, so "
            "frontguard only reports its load balancers. Apply the changes shown yourself, or "
            "set remediate_auto_mode: true in the policy to let frontguard apply them."
            if report_only
            else "Switch the policy to enforce mode, or apply the annotations shown."
        )
        engine.alerts.publish(_alert(outcome, fix))
        return outcome

    if group is None:
        group = aws.create_security_group(engine.ec2, lb, cluster=cluster, owner=ref)
        logger.info(
            "security group created",
            extra={"load_balancer_arn": lb.arn, "cluster": cluster, "security_group_id": group.id},
        )
    changes = aws.converge_rules(engine.ec2, group, rules)
    patches = _owner_changes(owner, group.id, policy)
    if not patches and not changes.changed:
        return _compliant(engine, lb, group, rules, result, reason="already compliant")

    markers = [m for obj in owner.objects for m in plan.gitops_markers(obj)]
    if patches and markers and policy.gitops is GitOpsAction.ALERT:
        outcome = result(
            Outcome.GITOPS_PENDING,
            f"owner is managed by {', '.join(sorted(set(markers)))}: annotations must be committed",
            security_group_id=group.id,
            rules=rules,
            extra={**plan_data, "planned_annotations": _planned_annotations(patches)},
        )
        engine.alerts.publish(_gitops_alert(outcome, patches))
        return outcome

    # Only a re-patch counts towards loop detection: frontguard had set the owner up before
    # and someone changed it since. A first remediation delivered many times at once is not a
    # loop, however many concurrent runs patch it.
    if engine.state is not None and _previously_patched(owner):
        recent = engine.state.record_event(f"patches#{lb.arn}", policy.loop_window_minutes * 60)
        if recent > policy.loop_threshold:
            outcome = result(
                Outcome.CONFLICT,
                f"re-patched {recent - 1} times within {policy.loop_window_minutes} minutes: "
                "something keeps undoing it; remediation stopped for this load balancer",
                security_group_id=group.id,
                rules=rules,
                extra={**plan_data, "planned_annotations": _planned_annotations(patches)},
            )
            engine.alerts.publish(
                _alert(
                    outcome,
                    "Find what reverts the annotations (a GitOps tool, a Helm release, a person: "
                    "the object's managedFields name it) and commit frontguard's annotations "
                    "there, or exempt the object with frontguard.io/exempt.",
                )
            )
            return outcome

    patched: list[str] = []
    for change in patches:
        kube = engine.kube(cluster)
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

    outcome = result(
        Outcome.DRIFT if drift else Outcome.REMEDIATED,
        ("drift repaired: " if drift else "")
        + (
            "frontguard's SG set up and requested through the Gateway's LoadBalancerConfiguration"
            if owner.gateway is not None
            else "frontguard's SG set up and requested through the owner's annotations"
        ),
        security_group_id=group.id,
        rules=rules,
        patched=tuple(patched),
        extra={
            **plan_data,
            "rules_added": len(changes.added),
            "rules_removed": len(changes.removed),
        },
    )
    _request_verification(engine, lb, group, rules)
    engine.alerts.publish(
        _alert(outcome, "Nothing to do; frontguard will verify that the controller applied it.")
    )
    return outcome


def _plan_summary(source_plan: plan.SourcePlan) -> dict[str, Any]:
    """The plan as alerts show it."""
    summary: dict[str, Any] = {
        "planned_rules": [
            f"{r.protocol}/{r.port} from {r.source}" for r in sorted(source_plan.rules)
        ],
        "beyond_policy": source_plan.effective.beyond_policy.as_strings(),
    }
    if not source_plan.rules:
        # Never widen to make traffic flow: the SG admits nothing, and the alert says why.
        summary["warning"] = (
            "no source is allowed by both the policy and the owner's own restrictions: "
            "frontguard's security group admits nothing. Align the owner's source ranges "
            "with the policy, or change the policy."
        )
    return summary


def _request_verification(
    engine: Engine, lb: LoadBalancer, group: aws.SecurityGroup, rules: frozenset[PermissionRule]
) -> None:
    classification = classify(lb.tags)
    if engine.verify is None or classification.owner is None:
        return
    engine.verify.enqueue(
        VerifyRequest(
            load_balancer_arn=lb.arn,
            cluster=lb.cluster or "",
            security_group_id=group.id,
            owner=classification.owner.as_dict(),
            plan_digest=plan_digest(rules),
            requested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
        engine.policy.verify_delay_seconds,
    )


def _compliant(
    engine: Engine,
    lb: LoadBalancer,
    group: aws.SecurityGroup,
    rules: frozenset[PermissionRule],
    result: Callable[..., Result],
    *,
    reason: str,
) -> Result:
    """Nothing to change. If the controller has not attached the SG yet (an earlier run patched
    and then failed before queueing its verification, or the controller is failing), make
    sure a verification will look."""
    if group.id not in lb.security_groups:
        _request_verification(engine, lb, group, rules)
        reason += "; the controller has not attached it yet: verification queued"
    return result(Outcome.COMPLIANT, reason, security_group_id=group.id, rules=rules)


def _previously_patched(owner: Owner) -> bool:
    """frontguard patched this owner before (it records what it replaced the first time)."""
    return any(t.REPLACED_ANNOTATION in plan.annotations_of(obj) for obj in owner.objects)


def _owner_changes(owner: Owner, sg_id: str, policy: Policy) -> list[OwnerChange]:
    """What to change on the owner so the controller attaches ``sg_id``; empty when nothing."""
    if owner.gateway is not None:
        if owner.gateway.class_pin:
            return []  # the class-level pin names frontguard's SG (else: conflict, earlier)
        return list(gateway.change_for(owner.gateway, sg_id, policy))
    return [
        AnnotationChange(path, changes)
        for path, changes in _annotation_patches(owner, sg_id, policy)
    ]


def _annotation_patches(
    owner: Owner, sg_id: str, policy: Policy
) -> list[tuple[ObjectPath, dict[str, str | None]]]:
    """Per owner object, the annotations to patch; identical values across an IngressGroup."""
    desired = plan.desired_security_groups(owner.objects[0], owner.ref, sg_id, policy)
    if owner.ref.kind is OwnerKind.INGRESS_GROUP:
        # Every member must carry the identical value, or the whole group stops reconciling.
        kept = {
            g
            for obj in owner.objects
            for g in plan.annotated_groups(obj, owner.ref)
            if g in policy.approved_security_groups and g != sg_id
        }
        desired = ",".join([sg_id, *sorted(kept)])
    patches = []
    for obj, path in zip(owner.objects, owner.paths, strict=True):
        patch = plan.annotation_patch(obj, owner.ref, desired)
        if patch is not None:
            patches.append((path, patch))
    return patches


def _planned_annotations(patches: Sequence[OwnerChange]) -> dict[str, Any]:
    return {key: value for change in patches for key, value in change.summary().items()}


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


def _needs_recreation_alert(result: Result) -> Alert:
    owner = result.owner
    where = f"-n {owner.namespace} {owner.name}" if owner and owner.namespace else ""
    return _alert(
        result,
        "Recreate the Service so the controller builds a new NLB with a security group: remove "
        "the annotation service.beta.kubernetes.io/aws-load-balancer-disable-nlb-sg if set, "
        f"then delete and re-apply the Service (kubectl get service {where} -o yaml > svc.yaml; "
        "kubectl delete -f svc.yaml; kubectl apply -f svc.yaml). Its DNS name will change. "
        "frontguard never deletes load balancers itself.",
    )


def _gitops_alert(result: Result, patches: Sequence[OwnerChange]) -> Alert:
    lines = []
    for target, changes in _planned_annotations(patches).items():
        lines.append(f"{target}:")
        lines.extend(f'  {key}: "{value}"' for key, value in changes.items())
    return _alert(
        result,
        "Commit these annotations to the object's source repository:\n" + "\n".join(lines),
    )
