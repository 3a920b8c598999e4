"""Effective sources: the policy's sources narrowed by the owner's own restrictions.

Pure functions (DESIGN.md, "Contracts"). Two CIDR blocks are either nested or disjoint, so the
intersection of two blocks is the smaller one when nested and nothing otherwise. A prefix-list
or security-group source survives only when both sides name it. With no owner restriction the
policy's sources stand. The result never admits an address that either side refuses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from frontguard.policy import PREFIX_LIST_ID, SECURITY_GROUP_ID, VPC_SOURCE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Sources:
    """A set of sources, normalised: collapsed CIDRs per family, sorted IDs."""

    cidrs: tuple[Network, ...] = ()
    prefix_lists: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> Sources:
        cidrs: list[Network] = []
        prefix_lists: set[str] = set()
        groups: set[str] = set()
        for value in values:
            text = value.strip()
            if PREFIX_LIST_ID.match(text):
                prefix_lists.add(text)
            elif SECURITY_GROUP_ID.match(text):
                groups.add(text)
            else:
                cidrs.append(ipaddress.ip_network(text, strict=False))
        return cls(_collapse(cidrs), tuple(sorted(prefix_lists)), tuple(sorted(groups)))

    @property
    def empty(self) -> bool:
        return not (self.cidrs or self.prefix_lists or self.security_groups)

    def as_strings(self) -> list[str]:
        return [str(c) for c in self.cidrs] + list(self.prefix_lists) + list(self.security_groups)


def _collapse(networks: Iterable[Network]) -> tuple[Network, ...]:
    networks = list(networks)  # iterated twice below: a generator would lose the IPv6 ones
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    collapsed: list[Network] = [
        *ipaddress.collapse_addresses(v4),
        *ipaddress.collapse_addresses(v6),
    ]
    return tuple(collapsed)


def expand_policy_sources(sources: Iterable[str], vpc_cidrs: Iterable[str]) -> Sources:
    """The policy's sources with ``vpc`` replaced by the load balancer's VPC CIDR blocks."""
    expanded: list[str] = []
    for source in sources:
        if source == VPC_SOURCE:
            expanded.extend(vpc_cidrs)
        else:
            expanded.append(source)
    return Sources.of(expanded)


def _intersect_cidrs(left: Iterable[Network], right: Iterable[Network]) -> list[Network]:
    result: list[Network] = []
    for a in left:
        for b in right:
            if a.version != b.version:
                continue
            if a.subnet_of(b):  # type: ignore[arg-type]
                result.append(a)
            elif b.subnet_of(a):  # type: ignore[arg-type]
                result.append(b)
    return result


@dataclass(frozen=True)
class EffectiveSources:
    allowed: Sources
    # What the owner asked for that the policy does not allow: reported, never admitted.
    beyond_policy: Sources


def effective_sources(policy: Sources, owner: Sources | None) -> EffectiveSources:
    """Intersect the policy's sources with the owner's restriction (``None``: unrestricted)."""
    if owner is None:
        return EffectiveSources(allowed=policy, beyond_policy=Sources())
    cidrs = _collapse(_intersect_cidrs(policy.cidrs, owner.cidrs))
    prefix_lists = tuple(sorted(set(policy.prefix_lists) & set(owner.prefix_lists)))
    groups = tuple(sorted(set(policy.security_groups) & set(owner.security_groups)))
    allowed = Sources(cidrs, prefix_lists, groups)
    beyond = Sources(
        _collapse(c for c in owner.cidrs if not any(_covers(p, c) for p in policy.cidrs)),
        tuple(sorted(set(owner.prefix_lists) - set(policy.prefix_lists))),
        tuple(sorted(set(owner.security_groups) - set(policy.security_groups))),
    )
    return EffectiveSources(allowed=allowed, beyond_policy=beyond)


def _covers(outer: Network, inner: Network) -> bool:
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]
