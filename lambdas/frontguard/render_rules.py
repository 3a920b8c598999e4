"""The policy as the rendered objects read it: one view per policy rule that applies to a
cluster, with the CIDRs and prefix lists of frontguard's lists for it. Shared by the class
objects and admission policy (render.py) and the Service policy (render_services.py)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from frontguard.adapters.prefix_lists import PrefixList
from frontguard.engine.prefix_lists import lists_for_cluster, policy_rules
from frontguard.errors import ConfigurationError
from frontguard.policy import PREFIX_LIST_ID, SECURITY_GROUP_ID, VPC_SOURCE, Policy


@dataclass(frozen=True)
class RuleView:
    rule: str  # "rule-<i>" | "default"
    namespace: str
    scheme: str
    kind: str
    cidrs: tuple[str, ...]
    prefix_lists: tuple[str, ...]

    @property
    def class_name(self) -> str:
        return f"frontguard-{self.rule}"


def rules_for(policy: Policy, cluster: str, owned: Mapping[str, PrefixList]) -> list[RuleView]:
    by_rule = lists_for_cluster(policy, cluster, owned)
    details = {f"rule-{i}": r for i, r in enumerate(policy.rules)}
    views: list[RuleView] = []
    for rule_id, glob, sources in policy_rules(policy):
        if not fnmatchcase(cluster, glob):
            continue
        if views and views[-1].namespace == views[-1].scheme == views[-1].kind == "*":
            break  # an earlier rule takes everything: later ones never apply
        lists = by_rule.get(rule_id, [])
        wants_list = any(
            s == VPC_SOURCE or not (PREFIX_LIST_ID.match(s) or SECURITY_GROUP_ID.match(s))
            for s in sources
        )
        if wants_list and not lists:
            raise ConfigurationError(
                f"frontguard's prefix lists for {rule_id} of cluster {cluster} do not exist: "
                f"add {cluster} to the policy's born_protected and let the scan create them"
            )
        cidrs = tuple(sorted({e for pl in lists for e in pl.entries}, key=cidr_key))
        rule = details.get(rule_id)
        views.append(
            RuleView(
                rule_id,
                rule.namespace if rule else "*",
                rule.scheme if rule else "*",
                rule.kind if rule else "*",
                cidrs,
                tuple(
                    sorted(
                        {pl.id for pl in lists} | {s for s in sources if PREFIX_LIST_ID.match(s)}
                    )
                ),
            )
        )
    return views


def cidr_key(cidr: str) -> tuple[int, str]:
    return (ipaddress.ip_network(cidr).version, cidr)
