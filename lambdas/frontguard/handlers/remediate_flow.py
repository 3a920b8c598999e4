"""The remediation function's flow: apply one repair the scheduled scan decided on.

The scan decides in bulk; this applies through the same engine as the event path, so a
queued repair costs what an event costs (the event path's budget, tests/integration/
test_budgets.py). It re-reads the load balancer first: the scan's view may be minutes old.

Alerts: one per LB only where a human must act (a conflict, GitOps, an error, an NLB to
recreate). A repair that simply worked is not announced per LB: the scan queued it in its
digest, and the next digest reports it fixed; the verify function still checks it.

Rate: the event source mapping runs at most ``MAX_CONCURRENCY`` of these at once (infra/
remediation.py says how that was chosen) and each waits at least ``pace_seconds`` per LB,
so the account's EC2 mutation buckets keep room for the controller and every other tool;
the clients' adaptive retries slow down further if AWS throttles anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from frontguard.adapters import network
from frontguard.adapters.remediation_queue import RemediationRequest
from frontguard.alerts import Alert, AlertSink
from frontguard.engine.decision import Result
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.engine.scan import SCAN_PROVENANCE
from frontguard.errors import NotFoundError
from frontguard.model import Outcome, classify
from frontguard.runtime import Runtime

logger = logging.getLogger(__name__)

# Outcomes of a queued repair that a human must see on their own.
NEEDS_A_HUMAN = frozenset(
    {
        Outcome.ERROR,
        Outcome.CONFLICT,
        Outcome.NEEDS_RECREATION,
        Outcome.GITOPS_PENDING,
        Outcome.VERIFICATION_FAILED,
        Outcome.AUDIT_FINDING,
    }
)


class NeedsAHumanOnly:
    """Passes on only the alerts a human must act on; the rest go to the log."""

    def __init__(self, sink: AlertSink) -> None:
        self._sink = sink

    def publish(self, alert: Alert) -> None:
        if alert.outcome in NEEDS_A_HUMAN:
            self._sink.publish(alert)
            return
        logger.info(
            "queued repair done: reported by the next scan's digest",
            extra={"load_balancer_arn": alert.load_balancer_arn, "outcome": alert.outcome.value},
        )


def remediate_queued(
    runtime: Runtime,
    request: RemediationRequest,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Result:
    engine = replace(runtime.engine, alerts=NeedsAHumanOnly(runtime.engine.alerts))
    started = clock()
    try:
        try:
            lb = network.describe_load_balancer(engine.elbv2, request.load_balancer_arn)
        except NotFoundError:
            return Result(
                Outcome.IGNORED,
                "load balancer deleted since the scan queued it",
                request.load_balancer_arn,
                request.cluster,
            )
        if classify(lb.tags).owner is None:
            return Result(Outcome.IGNORED, "not created by the controller", lb.arn, request.cluster)
        return remediate_load_balancer(
            engine, lb.arn, load_balancer=lb, drift=request.drift, provenance=SCAN_PROVENANCE
        )
    finally:
        wait = runtime.settings.remediation_pace_seconds - (clock() - started)
        if wait > 0:
            engine.sleep(wait)
