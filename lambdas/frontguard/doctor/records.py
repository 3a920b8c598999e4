"""The CloudTrail records the EventBridge rules are checked against, and what each must match.

Each record is wrapped in the envelope EventBridge gives CloudTrail events ("AWS API Call via
CloudTrail": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

OWN_ROLE_PLACEHOLDER: Final = "${FRONTGUARD_ROLE_ARN}"
# record file -> the rule (by its construct name) that must match it; None: no rule may.
EXPECTED: Final[Mapping[str, str | None]] = {
    "ec2-AuthorizeSecurityGroupIngress.elastic-integrations-fixture.json": "Ec2Drift",
    "eventbridge-ec2-RevokeSecurityGroupIngress.real-2019.json": "Ec2Drift",
    "ec2-DeleteSecurityGroup.real-DependencyViolation.json": None,
    "constructed-elbv2-CreateLoadBalancer.lbc.json": "CreateLoadBalancer",
    "constructed-elbv2-SetSecurityGroups.lbc.json": "Elbv2Drift",
    "constructed-ec2-ModifySecurityGroupRules.console.json": "Ec2Drift",
    "constructed-ec2-AuthorizeSecurityGroupIngress.frontguard.json": None,
    "constructed-ec2-CreateSecurityGroup.lbc-managed.json": "CreateManagedSecurityGroup",
    "constructed-ec2-CreateSecurityGroup.lbc-backend.json": None,
    "constructed-ec2-CreateSecurityGroup.lbc-denied.json": None,
}
RULES: Final = ("CreateLoadBalancer", "CreateManagedSecurityGroup", "Elbv2Drift", "Ec2Drift")


@dataclass(frozen=True)
class Record:
    name: str
    event: dict[str, Any]  # the EventBridge event
    expected_rule: str | None

    @property
    def label(self) -> str:
        """``<eventName> (<who>)``: the file name without its origin prefix."""
        stem = self.name.removesuffix(".json")
        for prefix in ("constructed-", "eventbridge-"):
            stem = stem.removeprefix(prefix)
        return stem


def envelope(record: Mapping[str, Any]) -> dict[str, Any]:
    """The EventBridge event for a CloudTrail record (an envelope is returned as is)."""
    if "detail" in record:
        return dict(record)
    service = str(record["eventSource"]).removesuffix(".amazonaws.com")
    return {
        "version": "0",
        "id": str(record.get("eventID", "00000000-0000-0000-0000-000000000000")),
        "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{service}",
        "account": str(record.get("recipientAccountId", "123456789012")),
        "time": str(record.get("eventTime", "2026-01-01T00:00:00Z")),
        "region": str(record.get("awsRegion", "eu-west-1")),
        "resources": [],
        "detail": dict(record),
    }


def load(own_role_arn: str) -> list[Record]:
    """Every shipped record as an EventBridge event; frontguard's own call carries
    ``own_role_arn`` as its session issuer."""
    folder = resources.files(__package__) / "records"
    found = []
    for name, rule in EXPECTED.items():
        text = (folder / name).read_text(encoding="utf-8")
        text = text.replace(OWN_ROLE_PLACEHOLDER, own_role_arn)
        found.append(Record(name, envelope(json.loads(text)), rule))
    return found
