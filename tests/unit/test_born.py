"""Born protected, pure parts: the verdict over the controller's managed SG and the prefix
lists the policy implies."""

from __future__ import annotations

import pytest
from frontguard.adapters.aws import SecurityGroup
from frontguard.controller.restrictions import Restrictions
from frontguard.engine import born
from frontguard.engine.prefix_lists import (
    capacity,
    desired_lists,
    list_name,
    max_entries,
)
from frontguard.model import Listener, PermissionRule
from frontguard.policy import Policy
from frontguard.sources import Sources

POLICY = Sources.of(["203.0.113.0/24", "198.51.100.0/24"])
LISTENERS = [Listener(80, "HTTP"), Listener(443, "HTTPS")]


def managed(*rules: tuple[int, str], tag: str = "ingress.k8s.aws/resource") -> SecurityGroup:
    return SecurityGroup(
        "sg-0000000000000aaaa",
        "k8s-shop-web",
        "vpc-1",
        {tag: "ManagedLBSecurityGroup"},
        frozenset(PermissionRule("tcp", port, source) for port, source in rules),
    )


BACKEND = SecurityGroup(
    "sg-0000000000000bbbb",
    "k8s-backend",
    "vpc-1",
    {"elbv2.k8s.aws/resource": "backend-sg"},
    frozenset(),
)


def test_managed_sg_at_policy_width_admits_nothing_beyond_the_plan():
    group = managed(*((p, c) for p in (80, 443) for c in POLICY.as_strings()))
    assert born.beyond_plan([group], LISTENERS, POLICY, Restrictions(), {}) == []


def test_owner_narrower_than_the_policy_is_still_refined():
    # Even when the managed SG holds exactly the owner's narrower sources: frontguard refines
    # (its SG then carries the owner's intent, which the owner can no longer widen).
    narrow = managed((443, "203.0.113.0/25"))
    narrower = Restrictions({443: Sources.of(["203.0.113.0/25"])})
    listeners = [Listener(443, "HTTPS")]
    assert "port 443: the owner narrows the policy to 203.0.113.0/25" in born.beyond_plan(
        [narrow], listeners, POLICY, narrower, {}
    )
    wide = managed((443, "203.0.113.0/24"), (443, "198.51.100.0/24"))
    assert born.beyond_plan([wide], listeners, POLICY, narrower, {})


def test_fewer_sources_than_the_policy_is_not_born_protected():
    group = managed((443, "203.0.113.0/24"))
    assert born.beyond_plan([group], [Listener(443, "HTTPS")], POLICY, Restrictions(), {}) == [
        "tcp/443: admits 203.0.113.0/24, not the policy's 198.51.100.0/24, 203.0.113.0/24"
    ]


def test_world_open_and_non_listener_ports_are_beyond():
    group = managed((443, "0.0.0.0/0"), (22, "203.0.113.0/24"))
    beyond = born.beyond_plan([group], LISTENERS, POLICY, Restrictions(), {})
    assert "sg-0000000000000aaaa: tcp/22 from 203.0.113.0/24" in beyond
    assert "sg-0000000000000aaaa: tcp/443 from 0.0.0.0/0" in beyond


def test_owned_prefix_list_counts_by_its_entries():
    owned = {"pl-00000000000000001": POLICY, "pl-00000000000000002": Sources.of(["0.0.0.0/0"])}
    ok = managed((443, "pl-00000000000000001"))
    wide = managed((443, "pl-00000000000000002"))
    listeners = [Listener(443, "HTTPS")]
    assert born.beyond_plan([ok], listeners, POLICY, Restrictions(), owned) == []
    assert born.beyond_plan([wide], listeners, POLICY, Restrictions(), owned)
    # A list frontguard does not own is never read as within the policy.
    assert born.beyond_plan([ok], listeners, POLICY, Restrictions(), {})


def test_class_prefix_list_restriction_expands_to_its_entries():
    owned = {"pl-00000000000000001": POLICY}
    only_list = Restrictions.everywhere(Sources.of(["pl-00000000000000001"]))
    expanded = born.expand_restrictions(only_list, owned)
    group = managed((443, "pl-00000000000000001"))
    assert born.beyond_plan([group], [Listener(443, "HTTPS")], POLICY, expanded, owned) == []
    # Unexpanded, the list-only restriction would close the port: not what the class means.
    assert born.beyond_plan([group], [Listener(443, "HTTPS")], POLICY, only_list, owned)


def test_only_managed_and_backend_sgs_count_as_born():
    group = managed((443, "203.0.113.0/24"), tag="gateway.k8s.aws.alb/resource")
    carried = {group.id: group, BACKEND.id: BACKEND}
    assert born.managed_groups([group.id, BACKEND.id], carried) == [group]
    assert born.managed_groups([BACKEND.id], carried) is None
    other = SecurityGroup("sg-0000000000000cccc", "x", "vpc-1", {}, frozenset())
    assert born.managed_groups([group.id, other.id], {**carried, other.id: other}) is None


def test_desired_lists_expand_vpc_per_born_protected_cluster():
    policy = Policy.from_document(
        {
            "born_protected": ["prod-*"],
            "rules": [
                {"scheme": "internet-facing", "sources": ["203.0.113.0/24", "2001:db8::/32"]},
                {"cluster": "prod-*", "sources": ["vpc", "pl-0123456789abcdef0"]},
            ],
            "default_sources": ["vpc"],
        }
    )
    desired = {
        d.key: d.entries
        for d in desired_lists(policy, {"prod-a": ["10.1.0.0/16"], "dev": ["10.9.0.0/16"]})
    }
    assert desired == {
        "*/rule-0/IPv4": ("203.0.113.0/24",),
        "*/rule-0/IPv6": ("2001:db8::/32",),
        "prod-a/rule-1/IPv4": ("10.1.0.0/16",),
        "prod-a/default/IPv4": ("10.1.0.0/16",),
    }


def test_max_entries_has_headroom_within_the_rules_per_sg_budget():
    policy = Policy.from_document({"max_rules_per_security_group": 60})
    assert capacity(policy) == 30
    assert max_entries(2, policy) == 4
    assert max_entries(20, policy) == 25
    assert max_entries(29, policy) == 30


@pytest.mark.parametrize("entries", [("10.0.0.0/8",), ("10.0.0.0/8", "192.0.2.0/24")])
def test_the_name_records_the_digest_of_the_entries(entries):
    assert list_name("*/rule-0/IPv4", entries) != list_name("*/rule-0/IPv4", ("192.0.2.1/32",))
    assert list_name("*/rule-0/IPv4", entries).startswith("frontguard-all-rule-0-ipv4-")


def test_exposure_is_creation_to_observation():
    from datetime import UTC, datetime, timedelta

    created = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert born.exposure_seconds(created, created + timedelta(seconds=93.25)) == 93.2
    assert born.exposure_seconds(created, created - timedelta(seconds=5)) == 0.0  # clock skew
    assert born.exposure_seconds(None, created) is None
