"""Listener ports from the controller's managed SG, and when the scan must ask AWS instead."""

from __future__ import annotations

from frontguard import tags as t
from frontguard.adapters.aws import SecurityGroup
from frontguard.engine.scan import listeners_from_controller_sg
from frontguard.model import Listener, LoadBalancer, OwnerKind, OwnerRef, PermissionRule

STACK = {t.CLUSTER_TAG: "prod", t.SERVICE_STACK_TAG: "shop/dns"}
DNS = OwnerRef(OwnerKind.SERVICE, "shop", "dns")


def managed(group_id: str, rules: set[tuple[str, int]], **tags: str) -> SecurityGroup:
    return SecurityGroup(
        id=group_id,
        name=group_id,
        vpc_id="vpc-1",
        tags={**STACK, t.SERVICE_RESOURCE_TAG: t.MANAGED_LB_SG, **tags},
        rules=frozenset(PermissionRule(p, port, "0.0.0.0/0") for p, port in rules),
        foreign_permissions=({"IpProtocol": "icmp"},),  # path-MTU discovery: not a listener
    )


def lb(*groups: str, tags: dict[str, str] | None = None) -> LoadBalancer:
    return LoadBalancer(
        arn="arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/dns/1",
        name="dns",
        type="network",
        scheme="internet-facing",
        vpc_id="vpc-1",
        security_groups=groups,
        tags={**STACK, t.SERVICE_RESOURCE_TAG: "LoadBalancer", **(tags or {})},
    )


def test_ports_and_protocols_come_from_the_managed_sgs_rules():
    found = {"sg-m": managed("sg-m", {("tcp", 53), ("udp", 53), ("tcp", 853), ("udp", 123)})}

    assert listeners_from_controller_sg(lb("sg-m", "sg-backend"), DNS, found) == (
        Listener(53, "TCP_UDP"),
        Listener(123, "UDP"),
        Listener(853, "TCP"),
    )


def test_without_a_sound_managed_sg_the_engine_reads_the_listeners():
    found = {
        "sg-m": managed("sg-m", {("tcp", 443)}),
        "sg-other": managed("sg-other", {("tcp", 80)}, **{t.SERVICE_STACK_TAG: "shop/other"}),
        "sg-empty": managed("sg-empty", set()),
    }
    front = OwnerRef(OwnerKind.INGRESS, "shop", "web", frontend_nlb=True)
    gateway = OwnerRef(OwnerKind.GATEWAY, "edge", "public")

    assert listeners_from_controller_sg(lb("sg-custom"), DNS, found) is None  # none attached
    assert listeners_from_controller_sg(lb("sg-m", "sg-other"), DNS, found) is None  # two
    assert listeners_from_controller_sg(lb("sg-other"), DNS, found) is None  # another stack's
    assert listeners_from_controller_sg(lb("sg-empty"), DNS, found) is None  # no rule
    assert listeners_from_controller_sg(lb("sg-m"), front, found) is None  # shares the ALB's
    assert listeners_from_controller_sg(lb("sg-m"), gateway, found) is None
