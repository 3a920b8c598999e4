"""Owner source restrictions, per listen port, as the controller's managed SG would apply them.

Once a custom SG is set the controller ignores every restriction (LBC:docs/guide/ingress/
annotations.md, "inbound-cidrs … will be ignored if security-groups is specified"), so
frontguard carries them into its own SG's rules, port by port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from frontguard.controller.objects import AnnotationError
from frontguard.sources import Sources


@dataclass(frozen=True)
class Restrictions:
    """Per listen port, the sources the owner limits that port to; ``None`` for a port means
    the controller's default (0.0.0.0/0 and ::/0: no restriction). Ports not listed take
    ``default``: a Service's or Gateway's restriction covers all its ports alike. With
    ``fail_narrow`` (an Ingress group) ``default`` is instead the fallback for a listener port
    no member claims (controller/ingress.py ``narrowest``), which an alert must name."""

    by_port: Mapping[int, Sources | None] = field(default_factory=dict)
    default: Sources | None = None
    fail_narrow: bool = False

    def for_port(self, port: int) -> Sources | None:
        return self.by_port.get(port, self.default)

    def narrowed(self, port: int) -> Sources | None:
        """The fail-narrow restriction ``port`` takes because no member claims it; ``None``
        when a member claims it, or nothing narrows it (no member restricts any port)."""
        if not self.fail_narrow or port in self.by_port:
            return None
        return self.default

    @classmethod
    def everywhere(cls, sources: Sources | None) -> Restrictions:
        return cls({}, sources)

    @property
    def unrestricted(self) -> bool:
        return self.default is None and all(s is None for s in self.by_port.values())


UNRESTRICTED = Restrictions()


def parse_cidrs(values: Iterable[object], where: str) -> list[str]:
    """CIDRs as Go's net.ParseCIDR accepts them (host bits allowed), normalised; anything else
    fails the controller's model build (LBC:pkg/ingress/model_build_listener.go
    computeIngressExplicitInboundCIDRs; LBC:pkg/service/model_build_managed_sg.go)."""
    parsed = []
    for value in values:
        try:
            parsed.append(str(ipaddress.ip_network(str(value), strict=False)))
        except ValueError as error:
            raise AnnotationError(f"invalid source range in {where}: {value!r}") from error
    return parsed
