import ipaddress

from frontguard.sources import Sources, effective_sources, expand_policy_sources
from hypothesis import given
from hypothesis import strategies as st


def allowed(policy: list[str], owner: list[str] | None) -> list[str]:
    result = effective_sources(Sources.of(policy), None if owner is None else Sources.of(owner))
    return result.allowed.as_strings()


def test_owner_world_open_under_policy_cidr_gives_policy_cidr():
    assert allowed(["203.0.113.0/24"], ["0.0.0.0/0"]) == ["203.0.113.0/24"]


def test_owner_host_inside_policy_cidr_gives_the_host():
    assert allowed(["203.0.113.0/24"], ["203.0.113.10/32"]) == ["203.0.113.10/32"]


def test_disjoint_owner_and_policy_admit_nothing_and_report_the_owner_range():
    result = effective_sources(Sources.of(["203.0.113.0/24"]), Sources.of(["198.51.100.0/24"]))
    assert result.allowed.empty
    assert result.beyond_policy.as_strings() == ["198.51.100.0/24"]


def test_no_owner_restriction_keeps_policy_sources():
    assert allowed(["10.0.0.0/16", "pl-0123456789abcdef0", "sg-0123456789abcdef0"], None) == [
        "10.0.0.0/16",
        "pl-0123456789abcdef0",
        "sg-0123456789abcdef0",
    ]


def test_prefix_list_survives_only_when_both_name_it():
    policy = ["pl-0123456789abcdef0", "pl-00000000000000001"]
    assert allowed(policy, ["pl-0123456789abcdef0"]) == ["pl-0123456789abcdef0"]
    assert allowed(policy, ["10.0.0.0/8"]) == []


def test_security_group_source_dropped_when_owner_restricts_to_cidrs():
    assert allowed(["sg-0123456789abcdef0", "10.0.0.0/8"], ["10.1.0.0/16"]) == ["10.1.0.0/16"]


def test_ipv6_intersects_only_with_ipv6():
    assert allowed(["2001:db8::/32", "10.0.0.0/8"], ["2001:db8:1::/48"]) == ["2001:db8:1::/48"]
    assert allowed(["2001:db8::/32"], ["0.0.0.0/0"]) == []


def test_vpc_expands_to_the_vpc_cidrs():
    sources = expand_policy_sources(["vpc", "pl-0123456789abcdef0"], ["10.0.0.0/16", "10.1.0.0/16"])
    assert sources.as_strings() == ["10.0.0.0/15", "pl-0123456789abcdef0"]


networks = st.one_of(
    st.builds(
        lambda addr, prefix: str(ipaddress.ip_network((addr, prefix), strict=False)),
        st.integers(0, 2**32 - 1),
        st.integers(0, 32),
    ),
    st.builds(
        lambda addr, prefix: str(ipaddress.ip_network((addr, prefix), strict=False)),
        st.integers(0, 2**128 - 1),
        st.integers(0, 128),
    ),
)
ids = st.sampled_from(["pl-0123456789abcdef0", "pl-00000000000000001", "sg-0123456789abcdef0"])
source_lists = st.lists(st.one_of(networks, ids), max_size=6)


def _covered(network: str, by: list[str]) -> bool:
    """Every address of ``network`` lies in the union of ``by`` (compared in canonical form)."""
    net = ipaddress.ip_network(network)
    union = Sources.of(o for o in by if not o.startswith(("pl-", "sg-"))).cidrs
    return any(net.version == other.version and net.subnet_of(other) for other in union)  # type: ignore[arg-type]


@given(policy=source_lists, owner=st.one_of(st.none(), source_lists))
def test_effective_sources_never_admit_what_either_side_refuses(policy, owner):
    result = effective_sources(Sources.of(policy), None if owner is None else Sources.of(owner))
    for source in result.allowed.as_strings():
        if source.startswith(("pl-", "sg-")):
            assert source in policy
            assert owner is None or source in owner
        else:
            assert _covered(source, policy)
            assert owner is None or _covered(source, owner)


@given(policy=source_lists, owner=st.one_of(st.none(), source_lists))
def test_narrowing_twice_equals_narrowing_once(policy, owner):
    owner_sources = None if owner is None else Sources.of(owner)
    once = effective_sources(Sources.of(policy), owner_sources).allowed
    twice = effective_sources(once, owner_sources).allowed
    assert once == twice


def test_ipv6_ranges_beyond_policy_are_reported_too():
    result = effective_sources(Sources.of(["203.0.113.0/24"]), Sources.of(["2001:db8::/32"]))
    assert result.beyond_policy.as_strings() == ["2001:db8::/32"]
