"""The earliest signal of a new load balancer: the controller's managed SG.

The controller creates its managed SG and then, in the same reconcile, the load balancer
(LBC:pkg/deploy/stack_deployer.go: the SG synthesizer runs before the load balancer
synthesizer and a failure stops the reconcile). The SG's event names the stack; this finds
the load balancer(s) of that stack, re-reading a few times while the controller has not
created it yet.
"""

from __future__ import annotations

import logging

from frontguard.adapters.tagging import TaggingClient, load_balancers_of_stack
from frontguard.engine.remediate import Engine

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
