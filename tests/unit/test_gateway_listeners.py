"""A Gateway's listener ports and scheme as the controller builds them, read from the Gateway
and its merged configuration alone (fail-closed mode plans frontguard's SG from them before
the load balancer exists). Pure; no servers."""

from __future__ import annotations

from typing import Any

import pytest
from frontguard.controller.gateway import gateway_listen_ports, gateway_scheme


def gateway(*listeners: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"gatewayClassName": "alb", "listeners": list(listeners)}}


def test_every_spec_listener_is_planned_with_its_protocol():
    ports = gateway_listen_ports(
        gateway(
            {"name": "web", "port": 80, "protocol": "HTTP"},
            {"name": "tls", "port": 443, "protocol": "HTTPS"},
            {"name": "alt", "port": 8443, "protocol": "HTTPS", "hostname": "a.example.com"},
        )
    )
    assert ports == {80: "HTTP", 443: "HTTPS", 8443: "HTTPS"}


def test_tls_passthrough_is_tcp_and_tls_termination_stays_tls():
    ports = gateway_listen_ports(
        gateway(
            {"name": "pass", "port": 443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
            {"name": "term", "port": 8443, "protocol": "TLS", "tls": {"mode": "Terminate"}},
        )
    )
    assert ports == {443: "TCP", 8443: "TLS"}


def test_tcp_and_udp_on_one_port_merge_into_tcp_udp():
    ports = gateway_listen_ports(
        gateway(
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "dns-udp", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp-again", "port": 53, "protocol": "TCP"},
            {"name": "game", "port": 7777, "protocol": "UDP"},
        )
    )
    assert ports == {53: "TCP_UDP", 7777: "UDP"}


@pytest.mark.parametrize(
    "listeners",
    [
        ({"port": 443, "protocol": "HTTPS"}, {"port": 443, "protocol": "HTTP"}),
        ({"port": 0, "protocol": "HTTP"},),
        ({"port": "80", "protocol": "HTTP"},),
        ({"port": True, "protocol": "HTTP"},),
        ({"port": 80},),
        ("not-a-listener",),
    ],
)
def test_listeners_the_controller_cannot_build_are_refused(listeners):
    with pytest.raises(ValueError):
        gateway_listen_ports(gateway(*listeners))


def test_a_gateway_without_listeners_plans_no_port():
    assert gateway_listen_ports({"spec": {}}) == {}


@pytest.mark.parametrize(
    ("value", "scheme"),
    [(None, "internal"), ("internal", "internal"), ("internet-facing", "internet-facing")],
)
def test_the_scheme_defaults_to_the_controllers_default(value, scheme):
    assert gateway_scheme(value) == scheme


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="unknown scheme"):
        gateway_scheme("public")
