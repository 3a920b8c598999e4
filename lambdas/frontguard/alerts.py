"""Alerts (DESIGN.md, "Contracts"): a JSON body for machines, a short subject for humans.

The body always carries ``outcome``, ``load_balancer_arn``, ``cluster``, ``owner``,
``account``, ``region`` and ``detail``; ``summary``, ``why`` and ``fix`` make it readable in
an email client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from frontguard.aws_errors import translate
from frontguard.model import Outcome, OwnerRef

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger(__name__)

SUBJECT_LIMIT = 100

WHY: Mapping[Outcome, str] = {
    Outcome.REMEDIATED: "The load balancer was open beyond policy; it now gets frontguard's "
    "security group through the controller.",
    Outcome.VERIFIED: "The load balancer carries the policy security group.",
    Outcome.VERIFICATION_FAILED: "The load balancer is still not behind the policy security "
    "group: it admits traffic the policy forbids.",
    Outcome.NEEDS_RECREATION: "A Network Load Balancer created without security groups can "
    "never get one, so nothing restricts who reaches it.",
    Outcome.GITOPS_PENDING: "The object is managed by GitOps: a direct patch would be "
    "reverted, so the change must be committed to its source.",
    Outcome.CONFLICT: "Something keeps undoing the security group change; frontguard stopped "
    "to avoid fighting it.",
    Outcome.DRIFT: "The load balancer's protection changed after frontguard set it up.",
    Outcome.AUDIT_FINDING: "The load balancer does not follow the policy (audit mode: nothing "
    "was changed).",
    Outcome.ERROR: "frontguard could not finish and needs a human.",
}


@dataclass(frozen=True)
class Alert:
    outcome: Outcome
    load_balancer_arn: str
    cluster: str | None
    owner: OwnerRef | None
    detail: str
    fix: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def subject(self) -> str:
        name = self.load_balancer_arn.split("/")[-2] if "/" in self.load_balancer_arn else ""
        where = f" in {self.cluster}" if self.cluster else ""
        text = f"frontguard {self.outcome.value}: {name or self.load_balancer_arn}{where}"
        # SNS subjects: ASCII, no line breaks, at most 100 characters.
        text = text.encode("ascii", "replace").decode().replace("\n", " ")
        return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."

    def body(self, *, account: str, region: str) -> dict[str, Any]:
        owner = self.owner.describe() if self.owner else "unknown"
        return {
            "outcome": self.outcome.value,
            "load_balancer_arn": self.load_balancer_arn,
            "cluster": self.cluster,
            "owner": self.owner.as_dict() if self.owner else None,
            "account": account,
            "region": region,
            "detail": self.detail,
            "summary": f"{self.outcome.value}: load balancer {self.load_balancer_arn} "
            f"({owner}) in cluster {self.cluster or 'unknown'}",
            "why": WHY.get(self.outcome, ""),
            "fix": self.fix,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            **dict(self.data),
        }


class AlertSink(Protocol):
    def publish(self, alert: Alert) -> None: ...


class SnsAlerts:
    """Publishes alerts to the SNS topic."""

    def __init__(self, sns: SNSClient, topic_arn: str, *, account: str, region: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self._account = account
        self._region = region

    def publish(self, alert: Alert) -> None:
        body = alert.body(account=self._account, region=self._region)
        try:
            self._sns.publish(
                TopicArn=self._topic_arn,
                Subject=alert.subject(),
                Message=json.dumps(body, indent=2, sort_keys=True, default=str),
            )
        except ClientError as error:
            raise translate(error, "publish alert") from error
        logger.info(
            "alert published",
            extra={
                "outcome": alert.outcome.value,
                "load_balancer_arn": alert.load_balancer_arn,
                "cluster": alert.cluster,
                "owner": alert.owner.describe() if alert.owner else None,
            },
        )


class LogOnlyAlerts:
    """For runs without a topic (the CLI in audit mode): alerts become warning log lines."""

    def __init__(self) -> None:
        self.published: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.published.append(alert)
        logger.warning(
            "alert",
            extra={"outcome": alert.outcome.value, "load_balancer_arn": alert.load_balancer_arn},
        )
