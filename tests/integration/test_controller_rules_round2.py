"""Issue 26 through the real events handler, the sandbox and its controller simulator: a
listener frontguard cannot attribute is never opened to the whole policy, and says so."""

from __future__ import annotations

import logging
from typing import Any

from sandbox import Sandbox
from sandbox.wiring import Frontguard, wire
from tests.integration.test_controller_fidelity import our_group
from tests.integration.test_events import inbound

POLICY = {
    "mode": "enforce",
    "default_sources": ["203.0.113.0/24"],
    "verify_delay_seconds": 0,
    "verify_backoff_seconds": [0, 0],
}
OWNER_CIDR = "203.0.113.64/26"


def enforce(sandbox: Sandbox, **policy: Any) -> Frontguard:
    return wire(sandbox, {**POLICY, **policy})


def test_an_unclaimed_listener_port_is_planned_narrow_and_the_alert_says_why(sandbox, caplog):
    """A listener on 8443 that no member's listen ports claim (made around the controller, or
    by a rule frontguard does not model) takes the members' narrowest restriction, not the
    policy's /24; the alert names the port, the reason and the sources; the log line carries
    the LB ARN and the port."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443], inbound_cidrs=[OWNER_CIDR])
    sandbox.client("elbv2").create_listener(
        LoadBalancerArn=web.lb_arn,
        Protocol="HTTP",
        Port=8443,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )

    with caplog.at_level(logging.WARNING, logger="frontguard"):
        assert fg.deliver(web.event)["outcome"] == "remediated"

    assert inbound(sandbox, our_group(sandbox, web)) == {
        ("tcp", 443, OWNER_CIDR),
        ("tcp", 8443, OWNER_CIDR),
    }
    [alert] = fg.alerts()
    assert alert["outcome"] == "remediated"
    assert "port 8443 belongs to no member's listen ports" in alert["detail"]
    assert OWNER_CIDR in alert["detail"]
    assert alert["fail_narrow_ports"] == [
        {
            "port": 8443,
            "narrowed_to": [OWNER_CIDR],
            "narrowest_restriction": [OWNER_CIDR],
            "why": "no member's listen ports claim it",
        }
    ]
    assert "8443" in alert["fix"]
    [line] = [
        r for r in caplog.records if r.getMessage() == "listener port unclaimed: planned narrow"
    ]
    assert line.__dict__["load_balancer_arn"] == web.lb_arn
    assert line.__dict__["port"] == 8443


def test_claimed_ports_report_no_narrowing(sandbox):
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443], inbound_cidrs=[OWNER_CIDR])

    assert fg.deliver(web.event)["outcome"] == "remediated"

    [alert] = fg.alerts()
    assert "fail_narrow_ports" not in alert
    assert "belongs to no member" not in alert["detail"]
