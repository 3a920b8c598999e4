"""The engine: bring one load balancer behind a policy-conforming frontend security group.

One function, :func:`remediate_load_balancer`, serves the event handler, the scheduled scan
and the CLI. It first *decides* (engine/decide.py, engine/decide_plan.py): reads what it
needs and computes a :data:`~frontguard.engine.decision.Decision`, a value (nothing is
changed while deciding); then :func:`~frontguard.engine.carry_out.carry_out` applies it: an
alert only, or frontguard's SG found or created, its rules converged, and the owner's
annotations (or Gateway configuration) patched so that the *controller* attaches the SG.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from frontguard.adapters import network
from frontguard.alerts import Alert, AlertSink
from frontguard.engine.carry_out import carry_out
from frontguard.engine.decide import decide
from frontguard.engine.decision import Engine, LoadBalancerGoneError, Prefetched, Result
from frontguard.errors import NotFoundError
from frontguard.model import LoadBalancer, Outcome

logger = logging.getLogger(__name__)


def read_load_balancer(engine: Engine, arn: str) -> LoadBalancer:
    """Re-read a just-created load balancer (it may not be listed yet). Still not there after
    the retries: it is gone (the controller deletes and recreates on some changes); the
    scheduled scan is the backstop for one that shows up later."""

    for delay in (*engine.discovery_delays, None):
        try:
            return network.describe_load_balancer(engine.elbv2, arn)
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
    provenance: Mapping[str, str] | None = None,
) -> Result:
    """Decide, then carry the decision out; alert when needed.

    ``drift``: frontguard had remediated this load balancer before (the scan knows), so a
    repair is reported as ``drift`` rather than ``remediated``.
    ``provenance``: how the load balancer came to frontguard (``detected_by``) and who made
    the change it answers (``actor``); every alert of this run carries them.
    """
    if provenance:
        engine = replace(engine, alerts=_WithProvenance(engine.alerts, dict(provenance)))
    lb = load_balancer or read_load_balancer(engine, arn)
    decision = decide(engine, lb, drift=drift, prefetched=prefetched)
    result = carry_out(engine, lb, decision)
    level = logging.WARNING if result.outcome is Outcome.ERROR else logging.INFO
    logger.log(level, result.reason, extra=result.log_context())
    return result


@dataclass(frozen=True)
class _WithProvenance:
    """An alert sink that adds the run's provenance to every alert it passes on."""

    sink: AlertSink
    provenance: dict[str, str]

    def publish(self, alert: Alert) -> None:
        self.sink.publish(replace(alert, data={**self.provenance, **alert.data}))
