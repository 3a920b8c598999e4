"""One canary run: a throw-away owner, the real controller's load balancer, and what
frontguard did about it, measured on the account.

Stages, each passed, warned or failed with the likely cause and the fix:

1. ``leftovers``: owners an interrupted run left (by label) are deleted first;
2. ``owner``: the owner is created (internal scheme unless asked otherwise);
3. ``load-balancer``: the controller created its load balancer (found by the controller's
   stack tags, https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html);
4. ``protection``: the load balancer is behind frontguard's SG (proven frontguard's by the
   facts fixed at its creation, not by tags) and no longer carries the controller's
   world-open managed SG, or was born protected. Exposure = first observation protected −
   the load balancer's ``CreatedTime`` (0 when born protected), to within the poll interval;
5. ``alert``: frontguard's alert for it reached the alert topic (through the canary's
   subscription), which says which path acted (``detected_by``);
6. ``verification``: frontguard's verification result for it;
7. ``cleanup``: the owner is deleted and the controller deleted the load balancer.
   frontguard's SG, then unreferenced, is deleted by frontguard's scan after the policy's
   ``cleanup_grace_hours``; the canary has no right to delete it (least privilege).

The canary changes nothing on AWS itself: the controller and frontguard do the work it
measures. It needs only reads there, and create/delete of its own objects in its namespace.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from frontguard.adapters import aws, tagging
from frontguard.adapters.kube import CORE, KubeApiError, KubeClient, ObjectPath
from frontguard.canary import observe
from frontguard.canary.alerts import ACTED, VERIFICATION, AlertInbox, path_of
from frontguard.canary.owners import (
    CANARY_LABEL,
    COLLECTIONS,
    CanaryOwner,
    Kind,
    canary_owner,
)
from frontguard.canary.report import CanaryReport, Stage, Status
from frontguard.errors import FrontguardError, NotFoundError
from frontguard.model import LoadBalancer

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class CanarySettings:
    cluster: str
    kind: Kind = Kind.INGRESS
    namespace: str = "frontguard-canary"
    internet_facing: bool = False
    timeout_seconds: float = 600.0  # the whole run's wall time, clean-up included
    cleanup_seconds: float = 180.0  # kept of the timeout for the clean-up
    poll_seconds: float = 5.0
    ingress_class: str = "alb"
    gateway_class: str = "alb"
    run_id: str = ""


@dataclass(frozen=True)
class CanaryClients:
    kube: KubeClient
    elbv2: Any
    ec2: Any
    tagging: tagging.TaggingClient
    sqs: Any = None
    alerts_queue_url: str | None = None  # the canary's subscription to the alert topic


Progress = Callable[[str, float], None]  # (what is awaited, seconds waited so far)


def new_run_id(now: datetime) -> str:
    """Sortable and unique: the start time plus 4 random hex digits (a Kubernetes name part)."""
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


class Canary:
    """One run. ``report`` is filled as the run goes, so an interrupted caller still has it."""

    def __init__(
        self,
        settings: CanarySettings,
        clients: CanaryClients,
        *,
        clock: Clock | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.clock = clock or SystemClock()
        self.progress = progress or (lambda _what, _seconds: None)
        self.started = self.clock.now()
        run_id = settings.run_id or new_run_id(self.started)
        self.owner: CanaryOwner = canary_owner(
            settings.kind,
            namespace=settings.namespace,
            run_id=run_id,
            internet_facing=settings.internet_facing,
            ingress_class=settings.ingress_class,
            gateway_class=settings.gateway_class,
        )
        self.report = CanaryReport(
            cluster=settings.cluster,
            kind=settings.kind.value,
            namespace=settings.namespace,
            owner=self.owner.name,
            run_id=run_id,
            started_at=self.started,
            precision_seconds=settings.poll_seconds,
        )
        total = timedelta(seconds=settings.timeout_seconds)
        reserve = timedelta(seconds=min(settings.cleanup_seconds, settings.timeout_seconds / 2))
        self.measure_until = self.started + total - reserve
        self.cleanup_until = self.started + total
        self.alerts = AlertInbox(clients.sqs, clients.alerts_queue_url, self.owner)
        self._stage = "leftovers"

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> CanaryReport:
        """Every stage, then the clean-up, whatever happened (Ctrl-C included). An AWS or
        Kubernetes error ends the stage it happened in as failed, with what was refused."""
        try:
            self._measure()
        except FrontguardError as error:
            self._record(
                self._stage,
                Status.FAILED,
                f"stopped by an error: {error}",
                "Check the caller's rights: AWS reads (elasticloadbalancing:Describe*, "
                "ec2:DescribeSecurityGroups, tag:GetResources, eks:DescribeCluster) and, in the "
                "cluster, the canary namespace's Role (infra/rbac.yaml).",
            )
        finally:
            self._stage = "cleanup"
            try:
                self._clean_up()
            except FrontguardError as error:
                self._record(
                    "cleanup",
                    Status.FAILED,
                    f"stopped by an error: {error}",
                    f"Delete what is left: kubectl -n {self.settings.namespace} delete "
                    f"services,ingresses,gateways,httproutes,loadbalancerconfigurations -l "
                    f"{CANARY_LABEL} (the controller then deletes the load balancer).",
                )
        return self.report

    def _measure(self) -> None:
        self._stage = "leftovers"
        self._remove_leftovers()
        self._stage = "owner"
        if not self._create_owner():
            return
        self._stage = "load-balancer"
        lb = self._await_load_balancer()
        if lb is None:
            return
        self._stage = "protection"
        self._await_protection(lb)
        self._stage = "alert"
        self._await_alerts(lb)

    def _record(self, name: str, status: Status, detail: str, fix: str = "") -> None:
        elapsed = round((self.clock.now() - self.started).total_seconds(), 1)
        self.report.stages.append(Stage(name, status, detail, fix, elapsed))
        level = logging.WARNING if status is Status.FAILED else logging.INFO
        logger.log(
            level,
            "canary stage",
            extra={
                "stage": name,
                "status": status.value,
                "detail": detail,
                "cluster": self.settings.cluster,
                "run_id": self.report.run_id,
            },
        )

    def _wait(self, what: str, until: datetime, check: Callable[[], T | None]) -> T | None:
        """Poll ``check`` until it answers or ``until`` passes, reporting progress."""
        while True:
            value = check()
            if value is not None:
                return value
            now = self.clock.now()
            if now >= until:
                return None
            self.progress(what, (now - self.started).total_seconds())
            self.clock.sleep(min(self.settings.poll_seconds, (until - now).total_seconds()))

    # -- 1. leftovers -------------------------------------------------------------------------

    def _canary_objects(self) -> list[ObjectPath]:
        found: list[ObjectPath] = []
        namespace = self.settings.namespace
        for collection in COLLECTIONS:
            base, _, plural = collection.rpartition("/")
            try:
                items = self.clients.kube.list_items(
                    f"{base}/namespaces/{namespace}/{plural}", labelSelector=CANARY_LABEL
                )
            except NotFoundError:
                continue  # the API (e.g. the Gateway API's CRDs) is not installed
            found += [
                ObjectPath(collection, namespace, str(item["metadata"]["name"])) for item in items
            ]
        return found

    def _remove_leftovers(self) -> None:
        try:
            leftovers = self._canary_objects()
        except FrontguardError as error:
            self._record(
                "leftovers",
                Status.WARNED,
                f"cannot list earlier canary objects: {error}",
                "Check the canary's Kubernetes access (infra/rbac.yaml, the frontguard-canary "
                "Role in its namespace).",
            )
            return
        for path in leftovers:
            self._delete(path)
            self.report.leftovers_removed.append(
                f"{path.collection.rsplit('/', 1)[-1]}/{path.name}"
            )
        if leftovers:
            self._record(
                "leftovers",
                Status.WARNED,
                f"removed {len(leftovers)} object(s) an interrupted run left: "
                + ", ".join(self.report.leftovers_removed)
                + "; the controller deletes their load balancers",
            )
        else:
            self._record("leftovers", Status.PASSED, "no earlier canary objects")

    # -- 2. owner -----------------------------------------------------------------------------

    def _create_owner(self) -> bool:
        for path, body in self.owner.objects:
            try:
                self.clients.kube.create(path, body)
            except FrontguardError as error:
                status = error.status if isinstance(error, KubeApiError) else 0
                if isinstance(error, NotFoundError):
                    status = 404
                self._record(
                    "owner",
                    Status.FAILED,
                    f"cannot create {path.collection.rsplit('/', 1)[-1]} "
                    f"{path.namespace}/{path.name}: {error}",
                    _create_fix(status, self.settings.namespace),
                )
                return False
        self._record(
            "owner",
            Status.PASSED,
            f"{self.settings.kind.value} {self.owner.stack} created "
            f"({'internet-facing' if self.settings.internet_facing else 'internal'})",
        )
        return True

    # -- 3. load balancer ---------------------------------------------------------------------

    def _find_load_balancer(self) -> LoadBalancer | None:
        return observe.find_load_balancer(
            self.clients.tagging, self.clients.elbv2, self.settings.cluster, self.owner
        )

    def _await_load_balancer(self) -> LoadBalancer | None:
        lb = self._wait(
            "the controller's load balancer", self.measure_until, self._find_load_balancer
        )
        if lb is None:
            self._record(
                "load-balancer",
                Status.FAILED,
                "the controller created no load balancer for the canary within "
                f"{self._budget():.0f} s" + self._controller_word(),
                "Check that the AWS Load Balancer Controller runs in the cluster and serves "
                f"the class ({self.settings.ingress_class if self.settings.kind is Kind.INGRESS else self.settings.gateway_class}), "
                "that the subnets carry the kubernetes.io/role/(internal-)elb tags, and the "
                "controller's logs (kubectl -n kube-system logs deploy/aws-load-balancer-controller).",
            )
            return None
        self.report.load_balancer_arn = lb.arn
        self.report.created_at = lb.created
        self._record("load-balancer", Status.PASSED, f"{lb.name} created at {_when(lb.created)}")
        return lb

    def _controller_word(self) -> str:
        """The controller's latest warning Event on the owner, if any (FailedBuildModel,
        FailedDeployModel: controllers/ingress/group_controller.go, service_controller.go)."""
        try:
            events = self.clients.kube.events_for(self.settings.namespace, self.owner.name)
        except FrontguardError:
            return ""
        warnings = [e for e in events if e.get("type") == "Warning"]
        if not warnings:
            return ""
        latest = warnings[-1]
        return f"; the controller says: {latest.get('reason', '')}: {latest.get('message', '')}"

    # -- 4. protection ------------------------------------------------------------------------

    def _protection(self, arn: str) -> tuple[datetime, aws.SecurityGroup | None] | None:
        """(when observed, frontguard's SG) once the load balancer is behind frontguard's SG
        and no longer carries the controller's managed SG; ``(when, None)`` once frontguard
        says ``born-protected`` (the controller's own SG admits only the policy's sources)."""
        self.alerts.read()
        group = observe.frontguard_group_alone(self.clients.elbv2, self.clients.ec2, arn)
        if group is not None:
            return self.clock.now(), group
        if self.alerts.latest(arn, ("born-protected",)) is not None:
            return self.clock.now(), None
        return None

    def _await_protection(self, lb: LoadBalancer) -> None:
        first = self._protection(lb.arn)
        seen = first or self._wait(
            "frontguard's security group on the load balancer",
            self.measure_until,
            lambda: self._protection(lb.arn),
        )
        if seen is None:
            self._record(
                "protection",
                Status.FAILED,
                f"the load balancer was still not behind frontguard's SG after "
                f"{self._budget():.0f} s" + self._why_unprotected(lb.arn),
                "Run `frontguard doctor` (the CloudTrail rule, the sweep schedule, frontguard's "
                "EKS access entry and RBAC, the policy's mode); the alert topic and the "
                "functions' logs say what frontguard decided.",
            )
            return
        observed, group = seen
        # Born protected: frontguard's pre-load-balancer SG (fail-closed mode) exists before
        # the load balancer, and the controller's born-protected SG admits only the policy. An
        # SG keyed by the load balancer is made after it: however early it is seen, the load
        # balancer was open until then.
        born = first is not None and (group is None or aws.is_pre_lb(group))
        self.report.security_group_id = group.id if group else None
        self.report.protected_at = observed
        self.report.born_protected = born
        exposure = 0.0 if born else max(0.0, (observed - (lb.created or observed)).total_seconds())
        self.report.exposure_seconds = round(exposure, 1)
        if born:
            self.report.path = "fail-closed" if group is not None else "born-protected"
        self._record(
            "protection",
            Status.PASSED,
            "born behind the policy's sources (exposure 0 s)"
            if born
            else f"behind frontguard's SG {self.report.security_group_id} within "
            f"{exposure:.0f} s of its creation (polled every {self.settings.poll_seconds:.0f} s)",
        )

    def _why_unprotected(self, arn: str) -> str:
        alert = self.alerts.latest(arn, None)
        if alert is None:
            return (
                "; no alert from frontguard either: it never acted (the CreateLoadBalancer "
                "event lost and no sweep, or frontguard cannot reach the account or cluster)"
            )
        return f"; frontguard's alert says {alert.get('outcome')}: {alert.get('detail', '')}"

    # -- 5./6. alerts -------------------------------------------------------------------------

    def _await_alerts(self, lb: LoadBalancer) -> None:
        if not self.alerts.subscribed:
            for name in ("alert", "verification"):
                self._record(
                    name,
                    Status.SKIPPED,
                    "no alert subscription to read (deploy frontguard with the canary enabled, "
                    "or pass --alerts-queue)",
                )
            return
        self._await_acted(lb)
        if self.report.born_protected and self.report.security_group_id is None:
            self._record("verification", Status.SKIPPED, "born protected: nothing to verify")
            return
        self._await_verification(lb)

    def _await_acted(self, lb: LoadBalancer) -> None:
        acted = self._wait(
            "frontguard's alert",
            self.measure_until,
            lambda: self.alerts.fresh(lb.arn, ACTED),
        )
        if acted is None:
            status = Status.WARNED if self.report.born_protected else Status.FAILED
            self._record(
                "alert",
                status,
                "no alert from frontguard about the canary's load balancer reached the topic",
                ""
                if status is Status.WARNED
                else "Check the alert topic's subscriptions and "
                "frontguard's logs; `frontguard doctor --publish` sends a test alert.",
            )
            return
        self.report.alert = str(acted.get("outcome"))
        self.report.path = self.report.path or path_of(acted)
        self._record(
            "alert",
            Status.PASSED,
            f"{acted.get('outcome')} (detected by {self.report.path})",
        )

    def _await_verification(self, lb: LoadBalancer) -> None:
        verdict = self._wait(
            "frontguard's verification",
            self.measure_until,
            lambda: self.alerts.fresh(lb.arn, VERIFICATION),
        )
        if verdict is None:
            self._record(
                "verification",
                Status.WARNED,
                "no verification result within the run (verify_delay_seconds may be longer "
                "than the canary's timeout)",
            )
            return
        self.report.verification = str(verdict.get("outcome"))
        failed = verdict.get("outcome") != "verified"
        self._record(
            "verification",
            Status.FAILED if failed else Status.PASSED,
            f"{verdict.get('outcome')}: {verdict.get('detail', '')}"[:300],
            str(verdict.get("fix") or "") if failed else "",
        )

    # -- 7. clean-up --------------------------------------------------------------------------

    def _delete(self, path: ObjectPath) -> None:
        with contextlib.suppress(NotFoundError):  # already gone
            self.clients.kube.delete(path)

    def _clean_up(self) -> None:
        problems: list[str] = []
        for path in [p for p, _ in reversed(self.owner.objects)]:
            try:
                self._delete(path)
            except FrontguardError as error:
                problems.append(f"{path.name}: {error}")
        if problems:
            self._record(
                "cleanup",
                Status.FAILED,
                "could not delete the canary's objects: " + "; ".join(problems),
                f"Delete them: kubectl delete -n {self.settings.namespace} "
                f"services,ingresses,gateways,httproutes -l {CANARY_LABEL}",
            )
            return
        arn = self.report.load_balancer_arn
        if arn is None:
            arn = _arn_or_none(self._find_load_balancer_quietly())
        if arn is None:
            self._record("cleanup", Status.PASSED, "the canary's objects are deleted")
            return
        gone = self._wait(
            "the controller's deletion of the load balancer",
            self.cleanup_until,
            lambda: True if observe.load_balancer_gone(self.clients.elbv2, arn) else None,
        )
        if gone is None:
            self._record(
                "cleanup",
                Status.FAILED,
                f"the controller has not deleted {arn} yet",
                "The controller deletes it once it sees the owner gone; if it does not, check "
                "its logs. Never delete it by hand while the controller still tracks it.",
            )
            return
        sg = self.report.security_group_id
        self._record(
            "cleanup",
            Status.PASSED,
            "the canary's objects and load balancer are deleted"
            + (
                f"; frontguard's SG {sg} is unreferenced and deleted by frontguard's scan "
                "after cleanup_grace_hours"
                if sg and not observe.security_group_gone(self.clients.ec2, sg)
                else ""
            ),
        )

    def _find_load_balancer_quietly(self) -> LoadBalancer | None:
        try:
            return self._find_load_balancer()
        except FrontguardError:
            return None

    def _budget(self) -> float:
        return (self.measure_until - self.started).total_seconds()


def _arn_or_none(lb: LoadBalancer | None) -> str | None:
    return lb.arn if lb is not None else None


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "?"


def _create_fix(status: int, namespace: str) -> str:
    if status in (401, 403):
        return (
            f"Grant the canary create/delete of its objects in namespace {namespace}: apply "
            "infra/rbac.yaml (the frontguard-canary Role) and map your principal (or the "
            "canary function's role) to the frontguard-canary group with an EKS access entry."
        )
    if status == 404:
        return (
            f"Create the namespace ({CORE}/namespaces/{namespace}: kubectl create namespace "
            f"{namespace}, or apply infra/rbac.yaml), and for --kind gateway install the "
            "Gateway API CRDs."
        )
    return "Retry; if it persists, check the cluster's API server."
