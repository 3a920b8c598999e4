"""Born protected: judge a load balancer by the sources its SGs admit, not by who owns them.

A load balancer built from class-level defaults (IngressClassParams ``inboundCIDRs`` /
``prefixListsIDs``, a GatewayClass-level LoadBalancerConfiguration's ``sourceRanges`` /
``securityGroupPrefixes``) carries the controller's own managed SG, born with the policy's
sources on its listener ports (LBC:pkg/ingress/model_builder.go, the inbound CIDRs that default to 0.0.0.0/0
only when no source is set; LBC:pkg/gateway/model/model_build_security_group.go). frontguard must not
swap such an SG for its own: that would fight the configuration that keeps the window at 0
(docs/born-protected.md). Pure functions over what the engine read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from frontguard import tags as t
from frontguard.adapters.aws import SecurityGroup
from frontguard.controller.objects import name_of
from frontguard.controller.restrictions import Restrictions
from frontguard.engine import plan
from frontguard.engine.owner import Owner
from frontguard.model import Listener, OwnerKind
from frontguard.sources import Network, Sources, effective_sources

# The controller's managed frontend SG carries ``<prefix>/resource: ManagedLBSecurityGroup``
# (LBC:pkg/deploy/tracking/provider.go, resource-id; LBC:pkg/ingress/model_build_managed_sg.go,
# pkg/gateway/model/model_build_security_group.go; tags.RESOURCE_TAGS lists the prefixes).


def is_managed_lb_group(group: SecurityGroup) -> bool:
    return any(group.tags.get(key) == t.MANAGED_LB_SG for key in t.RESOURCE_TAGS)


def is_backend_group(group: SecurityGroup) -> bool:
    return group.tags.get(t.CONTROLLER_RESOURCE_TAG) == t.BACKEND_SG


def managed_groups(
    security_groups: Sequence[str], carried: Mapping[str, SecurityGroup]
) -> list[SecurityGroup] | None:
    """The controller's managed frontend SG(s) when the load balancer carries only those and
    the controller's backend SG (which admits nothing from outside); ``None`` otherwise."""
    managed: list[SecurityGroup] = []
    for group_id in security_groups:
        group = carried.get(group_id)
        if group is None:
            return None
        if is_managed_lb_group(group):
            managed.append(group)
        elif not is_backend_group(group):
            return None
    return managed or None


def expand_owned(sources: Sources | None, owned: Mapping[str, Sources]) -> Sources | None:
    """``sources`` with frontguard-owned prefix lists replaced by the CIDRs they hold (they
    are kept equal to the policy rule, engine/prefix_lists.py)."""
    if sources is None or not any(p in owned for p in sources.prefix_lists):
        return sources
    values = [str(c) for c in sources.cidrs] + list(sources.security_groups)
    for prefix_list in sources.prefix_lists:
        values.extend(owned[prefix_list].as_strings() if prefix_list in owned else [prefix_list])
    return Sources.of(values)


def expand_restrictions(restrictions: Restrictions, owned: Mapping[str, Sources]) -> Restrictions:
    if not owned:
        return restrictions
    return Restrictions(
        {port: expand_owned(s, owned) for port, s in restrictions.by_port.items()},
        expand_owned(restrictions.default, owned),
        restrictions.fail_narrow,
    )


def _covered(cidr: Network, allowed: Sources) -> bool:
    return any(
        cidr.version == a.version and cidr.subnet_of(a)  # type: ignore[arg-type]
        for a in allowed.cidrs
    )


def _source_within(source: str, allowed: Sources, owned: Mapping[str, Sources]) -> bool:
    if source in allowed.prefix_lists or source in allowed.security_groups:
        return True
    if source in owned:
        entries = owned[source]
        return not entries.prefix_lists and all(_covered(c, allowed) for c in entries.cidrs)
    try:
        network = ipaddress.ip_network(source, strict=False)
    except ValueError:
        return False  # an SG or a prefix list the policy does not name
    return _covered(network, allowed)


def beyond_plan(
    groups: Sequence[SecurityGroup],
    listeners: Sequence[Listener],
    allowed: Sources,
    restrictions: Restrictions,
    owned: Mapping[str, Sources],
) -> list[str]:
    """Why the managed SGs are not exactly the policy's sources on the listener ports (empty:
    born protected). Per port, the same planning as a remediation: the policy's sources
    narrowed by the owner's restriction. Born protected needs both (a) the owner not
    narrowing the policy on that port, else frontguard refines to the owner's intent as
    before, and (b) the SGs admitting exactly those sources, with frontguard's own prefix
    lists read as their entries."""
    wanted: dict[tuple[str, int], Sources] = {}
    problems: list[str] = []
    for listener in listeners:
        effective = effective_sources(allowed, restrictions.for_port(listener.port)).allowed
        if effective != allowed:
            problems.append(
                f"port {listener.port}: the owner narrows the policy to "
                f"{', '.join(effective.as_strings()) or 'nothing'}"
            )
        for protocol in plan.listener_protocols(listener):
            wanted[(protocol, listener.port)] = allowed
    admitted: dict[tuple[str, int], list[str]] = {}
    for group in groups:
        problems.extend(
            f"{group.id}: {p.get('IpProtocol')} {p.get('FromPort')}-{p.get('ToPort')}"
            for p in group.foreign_permissions
        )
        for rule in sorted(group.rules):
            if (rule.protocol, rule.port) not in wanted:
                problems.append(f"{group.id}: {rule.protocol}/{rule.port} from {rule.source}")
                continue
            if rule.source in owned and rule.source not in allowed.prefix_lists:
                expanded = owned[rule.source].as_strings()
            else:
                expanded = [rule.source]
            admitted.setdefault((rule.protocol, rule.port), []).extend(expanded)
            port_allowed = wanted[(rule.protocol, rule.port)]
            if not all(_source_within(e, port_allowed, {}) for e in expanded):
                problems.append(f"{group.id}: {rule.protocol}/{rule.port} from {rule.source}")
    for (protocol, port), sources in sorted(wanted.items()):
        if Sources.of(admitted.get((protocol, port), [])) != sources and not any(
            f"/{port} from" in p for p in problems
        ):
            problems.append(
                f"{protocol}/{port}: admits "
                f"{', '.join(Sources.of(admitted.get((protocol, port), [])).as_strings()) or 'nothing'}"
                f", not the policy's {', '.join(sources.as_strings())}"
            )
    return problems


@dataclass(frozen=True)
class BornOpen:
    """Why a load balancer of a born-protected cluster was created open: the object that
    should have given it the policy's sources, and what is wrong with it."""

    object: str
    problem: str

    def describe(self) -> str:
        return f"{self.object}: {self.problem}"


def missing_object(owner: Owner, allowed: Sources) -> BornOpen:
    """The class-level object that is missing or drifted for this owner."""
    policy_cidrs = sorted(str(c) for c in allowed.cidrs)
    if owner.gateway is not None:
        gw = owner.gateway
        class_name = name_of(gw.gateway_class) if gw.gateway_class else "<unknown>"
        config = gw.class_config
        if config is None:
            return BornOpen(
                f"GatewayClass/{class_name}",
                "names no LoadBalancerConfiguration (spec.parametersRef): Gateways of the class "
                "get the controller's world-open default",
            )
        spec = config.spec
        if spec.get("sourceRanges") is None:
            return BornOpen(
                f"LoadBalancerConfiguration/{config.ref}",
                "sets no sourceRanges: nil means 0.0.0.0/0 and ::/0 in the controller "
                "(LBC:pkg/gateway/model/model_build_security_group.go)",
            )
        return BornOpen(
            f"LoadBalancerConfiguration/{config.ref}",
            f"drifted: sourceRanges {list(spec.get('sourceRanges') or [])}, "
            f"securityGroupPrefixes {list(spec.get('securityGroupPrefixes') or [])}; "
            f"policy {policy_cidrs}",
        )
    if owner.ref.kind is OwnerKind.SERVICE:
        return BornOpen(
            "MutatingAdmissionPolicy/frontguard-born-protected-services",
            "Services have no class-level sources; the admission policy that gives them the "
            "policy's prefix list (EKS >= 1.36) is missing or did not apply",
        )
    for member in owner.members:
        if member.params is None:
            class_name = str(
                (member.ingress.get("spec") or {}).get("ingressClassName") or "<default>"
            )
            return BornOpen(
                f"IngressClass/{class_name}",
                "names no IngressClassParams with inboundCIDRs/prefixListsIDs: Ingresses of the "
                "class get the controller's world-open default",
            )
    params = owner.members[0].params if owner.members else None
    spec = (params or {}).get("spec") or {}
    name = name_of(params) if params else "<unknown>"
    if not spec.get("inboundCIDRs") and not spec.get("prefixListsIDs"):
        return BornOpen(
            f"IngressClassParams/{name}",
            "sets neither inboundCIDRs nor prefixListsIDs: the controller adds 0.0.0.0/0",
        )
    return BornOpen(
        f"IngressClassParams/{name}",
        f"drifted: inboundCIDRs {list(spec.get('inboundCIDRs') or [])}, prefixListsIDs "
        f"{list(spec.get('prefixListsIDs') or [])}; policy {policy_cidrs}",
    )


def exposure_seconds(created: datetime | None, observed: datetime) -> float | None:
    """How long the load balancer existed before a compliant SG set was observed on it: from
    its CreatedTime (ELBv2 DescribeLoadBalancers) to ``observed``. 0 for one born protected.
    ``None`` when the creation time is unknown. An upper bound of the real window (the LB
    admits traffic only once ``active``; docs/born-protected.md)."""
    if created is None:
        return None
    return max(0.0, round((observed - created).total_seconds(), 1))
