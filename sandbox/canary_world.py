"""A world for `frontguard canary` in the sandbox: the controller, CloudTrail's delivery to
frontguard, frontguard's backstop and its verifications all run on a simulated clock.

The canary polls and sleeps; here each sleep advances the clock and lets the world move, in
the order the real one does within that time:

1. CloudTrail delivers the controller's records of the previous step to frontguard's events
   handler, unless delivery is off (``deliver_events=False``: EventBridge delivers CloudTrail
   events on a best-effort basis,
   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html);
2. the controller reconciles every object (creating, patching and deleting load balancers;
   frontguard's patch is an object change); each new load balancer's ``CreatedTime`` is the
   simulated time it appeared;
3. every ``backstop_seconds`` the backstop runs (the sweep, else the scheduled scan), and the
   controller reconciles again;
4. queued verifications run (the policy's delays are zero in the sandbox).

It drives frontguard's production code (``sandbox.wiring``), so it sits above the wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from frontguard.canary.owners import canary_filter_policy

from sandbox.aws import elbv2_backend
from sandbox.scenario import Cluster
from sandbox.wiring import Frontguard

CANARY_ALERTS_QUEUE = "frontguard-canary-alerts"


@dataclass
class CanaryWorld:
    frontguard: Frontguard
    cluster: Cluster
    deliver_events: bool = True
    backstop_seconds: float = 60.0
    backstop: Callable[[], Any] | None = None  # default: the scheduled scan
    controller_running: bool = True
    # Whole seconds, as a load balancer's CreatedTime is compared with it.
    clock: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    delivered: int = 0
    backstop_runs: int = 0
    _next_backstop: datetime | None = None
    _stamped: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._next_backstop = self.clock + timedelta(seconds=self.backstop_seconds)
        # Events the controller recorded before the canary started are not its to deliver.
        self.delivered = len(self.cluster.lbc.cloudtrail)

    # -- the canary's clock --------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock

    def sleep(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)
        self.tick()

    def tick(self) -> None:
        """One step of the world; CloudTrail delivers what the controller recorded before this
        step (EventBridge delivers within seconds, not at once)."""
        recorded = len(self.cluster.lbc.cloudtrail)
        if self.deliver_events:
            for event in self.cluster.lbc.cloudtrail[self.delivered : recorded]:
                self.frontguard.deliver(event)
        self.delivered = recorded
        self._reconcile()
        assert self._next_backstop is not None
        while self.clock >= self._next_backstop:
            self._next_backstop += timedelta(seconds=self.backstop_seconds)
            self.backstop_runs += 1
            self._run_backstop()
            self._reconcile()
        self.frontguard.run_verifications()
        self._reconcile()

    def _run_backstop(self) -> None:
        if self.backstop is not None:
            self.backstop()
            return
        from frontguard.engine.scan import scan

        scan(self.frontguard.runtime.engine)

    def _reconcile(self) -> None:
        if not self.controller_running:
            return
        self.cluster.lbc.reconcile()
        backend = elbv2_backend()
        for arn, lb in backend.load_balancers.items():
            if arn not in self._stamped:
                self._stamped.add(arn)
                # moto stamps wall time; the world's time is simulated.
                lb.created_time = self.clock.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def canary_alerts_queue(frontguard: Frontguard, namespace: str) -> str:
    """The canary's subscription to the alert topic, as the stack makes it: a queue taking the
    alerts of the canary's namespace and those naming no owner (filter policy on the
    ``namespace`` message attribute), raw delivery."""
    sandbox = frontguard.sandbox
    queue = sandbox.sqs_queue(CANARY_ALERTS_QUEUE)
    sqs, sns = sandbox.client("sqs"), sandbox.client("sns")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=frontguard.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": canary_filter_policy(namespace),
        },
    )
    return queue.url
