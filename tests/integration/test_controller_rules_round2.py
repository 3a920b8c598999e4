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
    add_listener_no_member_claims(sandbox, web.lb_arn)

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


def add_listener_no_member_claims(sandbox: Sandbox, lb_arn: str, port: int = 8443) -> None:
    """A listener made around the controller: no member's listen ports claim it."""
    sandbox.client("elbv2").create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )


def open_path_mtu_to_the_world(sandbox: Sandbox, group_id: str) -> None:
    """Someone adds the path-MTU ICMP rule from 0.0.0.0/0 to frontguard's SG."""
    sandbox.client("ec2").authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "icmp",
                "FromPort": 3,
                "ToPort": 4,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )


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

    open_path_mtu_to_the_world(sandbox, ours)

    assert outcomes(scan(fg.runtime.engine)) == {"service/shop/api": "drift"}
    assert icmp_rules(sandbox, ours) == {("icmp", 3, 4, OWNER_CIDR)}


# --- Gateways at run time: LoadBalancerConfiguration on Gateways with several listeners ------


def test_gateway_source_ranges_narrow_every_listener(sandbox):
    """sourceRanges apply to every listener of the Gateway
    (LBC:pkg/gateway/model/model_build_security_group.go): frontguard plans each listener port
    from the owner's /26 within the policy, and the path-MTU rule enableICMP asks for."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    gw = prod.gateway(
        "edge/public",
        ports=[80, 443, 8443],
        config={"scheme": "internet-facing", "sourceRanges": [OWNER_CIDR], "enableICMP": True},
    )

    assert fg.deliver(gw.event)["outcome"] == "remediated"

    ours = our_group(sandbox, gw)
    assert inbound(sandbox, ours) == {
        *{("tcp", port, OWNER_CIDR) for port in (80, 443, 8443)},
        ("icmp", 3, OWNER_CIDR),
    }
    prod.lbc.reconcile()
    assert ours in gw.security_groups()
    assert fg.deliver(gw.event)["outcome"] == "compliant"


def test_gateway_source_ranges_follow_the_class_merging_mode(sandbox):
    """The class configuration's mergingMode decides whose non-nil sourceRanges count
    (LBC:pkg/gateway/lb_config_merger.go Merge, performTakeOneMerges): the class's by default,
    the Gateway's with prefer-gateway."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    by_class = prod.gateway(
        "edge/by-class",
        ports=[80, 443],
        config={"sourceRanges": ["203.0.113.0/24"]},
        class_config={"scheme": "internet-facing", "sourceRanges": [OWNER_CIDR]},
    )
    by_gateway = prod.gateway(
        "edge/by-gateway",
        ports=[80, 443],
        config={"sourceRanges": [OWNER_CIDR]},
        class_config={
            "scheme": "internet-facing",
            "mergingMode": "prefer-gateway",
            "sourceRanges": ["198.51.100.0/24"],
        },
    )

    for gw in (by_class, by_gateway):
        assert fg.deliver(gw.event)["outcome"] == "remediated"
        assert inbound(sandbox, our_group(sandbox, gw)) == {
            ("tcp", 80, OWNER_CIDR),
            ("tcp", 443, OWNER_CIDR),
        }


def test_gateway_empty_source_ranges_are_never_widened_to_the_policy(sandbox):
    """``sourceRanges: []`` is set (non-nil): the controller's managed SG admits no CIDR
    (only prefix lists). frontguard admits no one either and says why, instead of reading it
    as "unrestricted" and opening every listener to the policy's /24."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    gw = prod.gateway(
        "edge/closed", ports=[80, 443], config={"scheme": "internet-facing", "sourceRanges": []}
    )

    assert fg.deliver(gw.event)["outcome"] == "remediated"

    assert inbound(sandbox, our_group(sandbox, gw)) == set()
    [alert] = fg.alerts()
    assert "admits nothing" in alert["warning"]


def test_gateway_prefix_lists_without_source_ranges_do_not_narrow(sandbox):
    """With sourceRanges unset the controller admits 0.0.0.0/0 next to the prefix lists, so
    the owner restricts nothing: frontguard plans the policy's sources, rather than closing
    the listeners to all but a prefix list the policy does not name."""
    fg = enforce(sandbox)
    prod = sandbox.cluster("prod")
    partners = sandbox.client("ec2").create_managed_prefix_list(
        PrefixListName="partners", MaxEntries=5, AddressFamily="IPv4"
    )["PrefixList"]["PrefixListId"]
    gw = prod.gateway(
        "edge/partners",
        ports=[443, 8443],
        config={"scheme": "internet-facing", "securityGroupPrefixes": [partners]},
    )

    assert fg.deliver(gw.event)["outcome"] == "remediated"

    assert inbound(sandbox, our_group(sandbox, gw)) == {
        ("tcp", 443, "203.0.113.0/24"),
        ("tcp", 8443, "203.0.113.0/24"),
    }
