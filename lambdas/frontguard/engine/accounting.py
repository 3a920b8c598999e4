"""What frontguard undid, and who did it: the facts every repair reports (issue 22 item 2).

Pure: from what the decision already read (the LB's SG set, frontguard's SG, the plan, the
owner objects), no further call.

*What was open* is told in three parts, each only when it applies:

- the controller's rules for the owner's listeners beyond the policy, when frontguard's SG is
  not on the load balancer (a new LB, or an owner whose annotation was removed): the
  controller's managed SG admits, per listener port, the owner's source ranges, and
  ``0.0.0.0/0`` when there are none (LBC:pkg/ingress/model_builder.go, the merged listen-port
  config inserts ``0.0.0.0/0`` and ``::/0`` when no inbound CIDR or prefix list is set;
  LBC:pkg/service/model_build_managed_sg.go ``buildCIDRsFromSourceRanges``, ``0.0.0.0/0`` and
  ``::/0`` for dual-stack). IPv6 rules are listed only when the owner asked for IPv6 sources:
  the LB's IP address type is not in the bulk read, so a default ``::/0`` of a dual-stack LB
  is not named (the figure is a lower bound, never an invention);
- rules on frontguard's own SG outside the plan (added by hand or by another tool);
- security groups attached next to frontguard's that neither the owner nor the controller
  put there.

*Who*: CloudTrail's ``userIdentity`` when an event brought the change (written by AWS). For
an annotation edit, the Kubernetes object's ``metadata.managedFields``: the entry updated
last, its manager and time. Field managers are named by the client (``--field-manager``),
so that is a hint, not an identity (the API server's audit log is the record); and a writer
left owning no field at all has no entry (Kubernetes drops empty field sets), so the answer
can be "unknown" (https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management).
The scan and the sweep read no CloudTrail: for a change to AWS resources they say "unknown".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.controller.restrictions import Restrictions
from frontguard.model import Listener, LoadBalancer, PermissionRule
from frontguard.sources import Sources, effective_sources

UNKNOWN = "unknown"


def provenance(detected_by: str, actor: str = "") -> dict[str, str]:
    """What every alert of one run carries: what found the change, and who made it."""
    return {"detected_by": detected_by, "actor": actor or UNKNOWN}


# The controller's source when the owner sets none (the module docstring says where).
CONTROLLER_DEFAULT = Sources.of(["0.0.0.0/0"])


def controller_rules_beyond_policy(
    listeners: Iterable[Listener], allowed: Sources, restrictions: Restrictions
) -> list[str]:
    """Per listener port, what the controller's managed SG admits that the policy does not."""
    beyond: set[str] = set()
    for listener in listeners:
        requested = restrictions.for_port(listener.port) or CONTROLLER_DEFAULT
        for source in effective_sources(allowed, requested).beyond_policy.as_strings():
            beyond.add(f"{listener.port} from {source}")
    return sorted(beyond, key=_port_first)


def was_open(
    lb: LoadBalancer,
    group: aws.SecurityGroup | None,
    planned: frozenset[PermissionRule],
    *,
    controller_beyond: Sequence[str],
    owner_groups: Sequence[str] = (),
    foreign_groups: Sequence[str] = (),
) -> list[str]:
    """What the load balancer admitted beyond frontguard's plan, in words (module docstring).

    ``owner_groups``: SGs the owner's annotation names instead of frontguard's. The controller
    then attaches those and creates no managed SG (LBC:pkg/ingress/model_build_load_balancer.go
    buildLoadBalancerSecurityGroups, pkg/service/model_build_load_balancer.go
    buildLoadBalancerSecurityGroups: the managed SG only when the annotation names none), so
    its rules are not what was open: those SGs' rules were, and they are not read here."""
    found: list[str] = []
    if (group is None or group.id not in lb.security_groups) and owner_groups:
        found.append(f"the owner's own SGs {', '.join(owner_groups)} (their rules were not read)")
    elif group is None or group.id not in lb.security_groups:
        found += [f"{rule} (the controller's rule for the owner)" for rule in controller_beyond]
    if group is not None:
        extra = sorted(group.rules - planned, key=lambda r: (r.port, r.protocol, r.source))
        found += [
            f"{r.protocol}/{r.port} from {r.source} (on frontguard's SG, outside the plan)"
            for r in extra
        ]
        found += [
            f"{describe_permission(p)} (on frontguard's SG, added outside frontguard)"
            for p in group.foreign_permissions
        ]
    found += [f"{g} attached next to frontguard's SG" for g in foreign_groups]
    return found


def describe_permission(permission: Mapping[str, Any]) -> str:
    """An EC2 ``IpPermission`` in one line (protocol/ports from sources)."""
    protocol = str(permission.get("IpProtocol", "?"))
    low, high = permission.get("FromPort"), permission.get("ToPort")
    ports = (
        "all" if protocol == "-1" or low is None else (f"{low}" if low == high else f"{low}-{high}")
    )
    sources = [
        *(str(r.get("CidrIp")) for r in permission.get("IpRanges") or []),
        *(str(r.get("CidrIpv6")) for r in permission.get("Ipv6Ranges") or []),
        *(str(r.get("PrefixListId")) for r in permission.get("PrefixListIds") or []),
        *(str(r.get("GroupId")) for r in permission.get("UserIdGroupPairs") or []),
    ]
    return f"{'all' if protocol == '-1' else protocol}/{ports} from {', '.join(sources) or '?'}"


def last_writer(objects: Iterable[Mapping[str, Any]]) -> str | None:
    """The owner objects' most recent field manager and when, from ``managedFields``: who
    last changed them (module docstring: a hint, named by the client)."""
    latest: tuple[str, str] | None = None
    for obj in objects:
        for entry in (obj.get("metadata") or {}).get("managedFields") or []:
            if not isinstance(entry, Mapping) or not entry.get("time"):
                continue
            candidate = (str(entry["time"]), str(entry.get("manager") or UNKNOWN))
            if latest is None or candidate > latest:
                latest = candidate
    if latest is None or latest[1] == t.FIELD_MANAGER:
        # frontguard's own patch is the last recorded write: whoever changed the object since
        # left no entry (or wrote under frontguard's name).
        return None
    when, manager = latest
    return f"{manager[:80]} at {when[:40]} (Kubernetes field manager, named by the client)"


def _port_first(rule: str) -> tuple[int, str]:
    port, _, rest = rule.partition(" ")
    return (int(port) if port.isdigit() else 0, rest)
