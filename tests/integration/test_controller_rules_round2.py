"""Issue 26 through the real events handler, the sandbox and its controller simulator: a
listener frontguard cannot attribute is never opened to the whole policy, and says so."""

from __future__ import annotations

import logging
from typing import Any

from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.scenario import ControllerOptions
from sandbox.wiring import Frontguard, wire
from tests.integration.test_controller_fidelity import our_group
from tests.integration.test_events import inbound
from tests.integration.test_scan import outcomes

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


def test_create_acm_cert_keeps_the_owners_inbound_cidrs_on_443(sandbox):
    """The issue's case 1: with the controller's EnableCertificateManagement gate on, an
    Ingress with ``create-acm-cert: "true"`` listens on 443 (the simulator's own reading of
    pkg/ingress/model_builder.go and model_build_listener.go). frontguard attributes 443 to
    the Ingress (no fail-narrow report) and admits only the owner's /26, not the policy's /24,
    before and after the controller swaps the SGs."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod", controller=ControllerOptions(enable_certificate_management=True))
    web = prod.ingress(
        "shop/web",
        ports=None,
        annotations={"alb.ingress.kubernetes.io/create-acm-cert": "true"},
        inbound_cidrs=[OWNER_CIDR],
        spec={"rules": [{"host": "shop.example.com", "http": {"paths": []}}]},
    )

    assert fg.deliver(web.event)["outcome"] == "remediated"

    ours = our_group(sandbox, web)
    assert inbound(sandbox, ours) == {("tcp", 443, OWNER_CIDR)}
    [alert] = fg.alerts()
    assert alert["planned_rules"] == [f"tcp/443 from {OWNER_CIDR}"]
    assert "fail_narrow_ports" not in alert
    prod.lbc.reconcile()
    assert web.security_groups()[0] == ours
    assert inbound(sandbox, ours) == {("tcp", 443, OWNER_CIDR)}


PATH_MTU = "service.beta.kubernetes.io/aws-load-balancer-enable-icmp-for-path-mtu-discovery"


def icmp_rules(sandbox: Sandbox, group_id: str) -> set[tuple[str, int, int, str]]:
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return {
        (p["IpProtocol"], p["FromPort"], p["ToPort"], r.get("CidrIp") or r.get("CidrIpv6"))
        for p in group["IpPermissions"]
        if p["IpProtocol"].startswith("icmp")
        for r in [*p.get("IpRanges", []), *p.get("Ipv6Ranges", [])]
    }


def test_path_mtu_icmp_is_kept_from_the_planned_sources(sandbox):
    """The issue's case 2: a Service asking for path-MTU discovery keeps ICMP type 3 code 4
    on frontguard's SG, from the planned sources (the owner's /26 within the policy), not the
    world, after the controller swaps the SGs."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    api = prod.service(
        "shop/api",
        ports=[("TCP", 443)],
        source_ranges=[OWNER_CIDR, "192.0.2.0/24"],
        annotations={PATH_MTU: "on"},
    )

    assert fg.deliver(api.event)["outcome"] == "remediated"

    ours = our_group(sandbox, api)
    assert inbound(sandbox, ours) == {("tcp", 443, OWNER_CIDR), ("icmp", 3, OWNER_CIDR)}
    assert icmp_rules(sandbox, ours) == {("icmp", 3, 4, OWNER_CIDR)}
    prod.lbc.reconcile()
    assert ours in api.security_groups()
    assert fg.deliver(api.event)["outcome"] == "compliant"


def test_the_scan_judges_icmp_rules_like_any_other(sandbox):
    """An allowed-source path-MTU rule the owner asked for is compliant; a world-open one on
    frontguard's SG is not: the scan repairs it (drift) and only the planned one stays."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    api = prod.service(
        "shop/api", ports=[("TCP", 443)], source_ranges=[OWNER_CIDR], annotations={PATH_MTU: "on"}
    )
    # The scan reads the listeners from the controller's managed SG: its ICMP rule is none.
    assert outcomes(scan(fg.runtime.engine)) == {"service/shop/api": "remediated"}
    ours = our_group(sandbox, api)
    assert inbound(sandbox, ours) == {("tcp", 443, OWNER_CIDR), ("icmp", 3, OWNER_CIDR)}
    prod.lbc.reconcile()

    assert outcomes(scan(fg.runtime.engine)) == {"service/shop/api": "compliant"}

    sandbox.client("ec2").authorize_security_group_ingress(
        GroupId=ours,
        IpPermissions=[
            {
                "IpProtocol": "icmp",
                "FromPort": 3,
                "ToPort": 4,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )

    assert outcomes(scan(fg.runtime.engine)) == {"service/shop/api": "drift"}
    assert icmp_rules(sandbox, ours) == {("icmp", 3, 4, OWNER_CIDR)}
