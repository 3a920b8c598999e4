"""Issue 26: rules frontguard cannot attribute to an owner's wish never widen access, and ICMP
rules are judged like any other."""

from __future__ import annotations

from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.wiring import Frontguard
from tests.integration.test_controller_fidelity import our_group
from tests.integration.test_controller_rules_round2 import (
    PATH_MTU,
    add_listener_no_member_claims,
    icmp_rules,
    open_path_mtu_to_the_world,
)
from tests.integration.test_events import inbound
from tests.integration.test_scan import outcomes
from tests.security.catalogue import attack

OWNER_CIDR = "203.0.113.64/26"  # within ENFORCE's internet-facing 203.0.113.0/24


@attack(
    "new",
    "elasticloadbalancing:CreateListener on a controller ALB",
    "add a listener no Ingress of the ALB claims (8443) next to a 443 the owner restricts to a "
    "/26, so that frontguard opens it to the policy's full width",
    "8443 admits only the owner's /26 (the narrowest member restriction), and the alert names "
    "the port, why, and what it admits",
)
def test_a_hand_made_listener_is_planned_narrow_and_reported(sandbox: Sandbox, fg: Frontguard):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443], inbound_cidrs=[OWNER_CIDR])
    add_listener_no_member_claims(sandbox, web.lb_arn)

    assert fg.deliver(web.event)["outcome"] == "remediated"

    assert inbound(sandbox, our_group(sandbox, web)) == {
        ("tcp", 443, OWNER_CIDR),
        ("tcp", 8443, OWNER_CIDR),
    }
    [alert] = fg.alerts()
    assert [p["port"] for p in alert["fail_narrow_ports"]] == [8443]


@attack(
    "new",
    "ec2:AuthorizeSecurityGroupIngress on frontguard's SG",
    "add ICMP type 3 code 4 from 0.0.0.0/0 next to the path-MTU rule a Service asked for, "
    "counting on the scan to skip ICMP rules",
    "the scheduled scan reports drift and revokes it; only the path-MTU rule from the planned "
    "sources stays",
)
def test_a_world_open_icmp_rule_on_frontguards_sg_is_revoked(sandbox: Sandbox, fg: Frontguard):
    prod = sandbox.cluster("prod")
    api = prod.service(
        "shop/api", ports=[("TCP", 443)], source_ranges=[OWNER_CIDR], annotations={PATH_MTU: "on"}
    )
    fg.deliver(api.event)
    prod.lbc.reconcile()
    ours = our_group(sandbox, api)
    open_path_mtu_to_the_world(sandbox, ours)

    assert outcomes(scan(fg.runtime.engine)) == {"service/shop/api": "drift"}

    assert icmp_rules(sandbox, ours) == {("icmp", 3, 4, OWNER_CIDR)}
