"""The sweep: a cheap, frequent pass that does not depend on CloudTrail (issue 22).

AWS delivers CloudTrail events to EventBridge on a best-effort basis
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html), so a lost
``CreateLoadBalancer`` or drift event must cost one sweep period, not the hourly scan. Each
sweep reads, in bulk only, every load balancer's page entry (its SG set) and frontguard's own
SGs (their rules), and compares a fingerprint per load balancer with the previous sweep's
(kept in the state table). A new or changed load balancer goes through the same decision as
the event path (:func:`frontguard.engine.remediate.remediate_load_balancer`), with
``detected_by: sweep``; tags (DescribeTags) and Kubernetes are read for those alone.

The first sweep records its baseline and acts on nothing: the scan covers what existed
before (its digest reports it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from frontguard.adapters import aws, network
from frontguard.engine import accounting
from frontguard.engine.decision import Engine
from frontguard.engine.remediate import remediate_load_balancer
from frontguard.errors import FrontguardError
from frontguard.model import classify

logger = logging.getLogger(__name__)

STATE_KEY = "sweep#fingerprints"
# Load balancers per stored shard: ~23 bytes each compressed (BENCHMARKS.md), so a shard stays
# near 280 KB, below DynamoDB's 400 KB item limit. One Query reads up to 1 MB of shards.
SHARD_LOAD_BALANCERS = 12_000
DETECTED_BY = "sweep"


class FingerprintStore(Protocol):
    """Where the previous sweep's fingerprints live (adapters/state.py StateTable)."""

    def load_blobs(self, key: str) -> list[bytes]: ...

    def save_blobs(self, key: str, blobs: Sequence[bytes]) -> None: ...


@dataclass
class SweepReport:
    load_balancers: int = 0
    baseline: bool = False  # the first sweep: recorded, nothing acted on
    changed: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # ARN → outcome
    errors: dict[str, str] = field(default_factory=dict)  # ARN → problem

    def as_dict(self) -> dict[str, Any]:
        return {
            "load_balancers": self.load_balancers,
            "baseline": self.baseline,
            "changed": len(self.changed),
            "outcomes": self.outcomes,
            "errors": self.errors,
        }


def _digest(text: str, size: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[: size * 2]


def rules_digest(group: aws.SecurityGroup) -> str:
    """What frontguard's SG admits, as a digest (rules and anything added by hand)."""
    rules = sorted(f"{r.protocol}/{r.port}/{r.source}" for r in group.rules)
    foreign = sorted(json.dumps(p, sort_keys=True, default=str) for p in group.foreign_permissions)
    return _digest("|".join([*rules, "#", *foreign]))


def stored_key(arn: str) -> str:
    """A load balancer's key in the stored fingerprints: a digest of its ARN."""
    return _digest(arn, 10)


def fingerprints(
    load_balancers: Mapping[str, list[str]], own_rules: Mapping[str, str]
) -> dict[str, str]:
    """Per load balancer ARN, a digest of its SG set and of the rules of frontguard's SGs
    among them."""
    return {
        arn: _digest(",".join(f"{g}:{own_rules.get(g, '')}" for g in sorted(security_groups)))
        for arn, security_groups in load_balancers.items()
    }


def _encode(values: Mapping[str, str]) -> bytes:
    return zlib.compress(json.dumps(values, separators=(",", ":"), sort_keys=True).encode())


def _decode(blob: bytes) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(zlib.decompress(blob))
    return loaded


def sweep(engine: Engine, store: FingerprintStore) -> SweepReport:
    """One sweep: bulk reads, then the decision for each new or changed load balancer."""
    report = SweepReport()
    pages = network.list_load_balancer_entries(engine.elbv2)
    by_arn = {str(raw["LoadBalancerArn"]): raw for raw in pages}
    report.load_balancers = len(by_arn)
    own_rules = {g.id: rules_digest(g) for g in aws.iter_frontguard_security_groups(engine.ec2)}
    seen = fingerprints(
        {arn: list(raw.get("SecurityGroups") or []) for arn, raw in by_arn.items()}, own_rules
    )
    keys = {arn: stored_key(arn) for arn in by_arn}
    current = {keys[arn]: value for arn, value in seen.items()}
    stored = store.load_blobs(STATE_KEY)
    if not stored:
        store.save_blobs(STATE_KEY, _shards(current, 0))
        report.baseline = True
        return report
    previous: dict[str, str] = {}
    for blob in stored:
        previous.update(_decode(blob))
    changed = [arn for arn in sorted(by_arn) if previous.get(keys[arn]) != seen[arn]]
    tags = network.tags_of(engine.elbv2, changed)
    for arn in changed:
        lb = network.load_balancer_of(by_arn[arn], tags.get(arn, {}))
        if classify(lb.tags).owner is None:
            continue  # not the controller's: not frontguard's business, and no Kubernetes read
        report.changed.append(arn)
        try:
            result = remediate_load_balancer(
                engine,
                arn,
                load_balancer=lb,
                drift=keys[arn] in previous,
                provenance=accounting.provenance(DETECTED_BY),
            )
        except FrontguardError as error:
            # One load balancer's failure is its own: the others are still swept, and the
            # fingerprint is kept as it was so that the next sweep tries it again.
            report.errors[arn] = str(error)
            current[keys[arn]] = previous.get(keys[arn], "")
            logger.warning(
                "sweep: load balancer not settled",
                extra={"load_balancer_arn": arn, "problem": str(error)},
            )
            continue
        report.outcomes[arn] = result.outcome.value
    if current != previous:
        store.save_blobs(STATE_KEY, _shards(current, len(stored)))
    return report


def _shards(values: Mapping[str, str], stored: int) -> list[bytes]:
    """The fingerprints in shards of at most about ``SHARD_LOAD_BALANCERS``, by the key's own
    digest. Never fewer shards than are stored: an emptied shard is rewritten empty, so no
    stale one survives (no delete needed)."""
    count = max(stored, math.ceil(len(values) / SHARD_LOAD_BALANCERS), 1)
    shards: list[dict[str, str]] = [{} for _ in range(count)]
    for key, value in values.items():
        shards[int(key[:8], 16) % count][key] = value
    return [_encode(shard) for shard in shards]
