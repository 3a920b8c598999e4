"""The scheduled canary (infra/canary.py): the same run as ``frontguard canary``, from a
Lambda on an EventBridge schedule, one cluster per invocation.

One Lambda invocation, not a Step Functions state machine: the run is bounded (10 minutes by
default, at most 14) below Lambda's 15-minute limit, it is the CLI's code path unchanged, and
its idle polling costs cents a month (docs/canary.md, "Cost"). A run killed by the timeout
leaves its owner behind for the next run to remove first, as an interrupted CLI run does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from frontguard.alerts import Alert
from frontguard.canary.owners import DEFAULT_NAMESPACE, Kind
from frontguard.canary.probe import CanarySettings
from frontguard.canary.report import CanaryReport, Status
from frontguard.errors import ConfigurationError, InvalidEventError
from frontguard.model import Outcome
from frontguard.policy import validation_problems

logger = logging.getLogger(__name__)

# Kept of the invocation's time for the report, metrics and alert after the run.
MARGIN_SECONDS = 30.0


class CanaryRequest(BaseModel):
    """The schedule's input (one rule per cluster, infra/canary.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str = Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
    kind: Literal["ingress", "service", "gateway"] = "ingress"
    namespace: str = Field(
        default=DEFAULT_NAMESPACE, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    )
    internet_facing: bool = False
    timeout_seconds: float = Field(default=600, ge=60, le=840)
    max_exposure_seconds: float = Field(default=120, ge=0)

    @classmethod
    def parse(cls, event: Any) -> CanaryRequest:
        """The request an EventBridge rule's constant input makes; anything else is refused."""
        try:
            return cls.model_validate(event)
        except ValidationError as error:
            problems = validation_problems(error, "<event>")
            raise InvalidEventError(f"not a canary request: {problems}") from error

    def settings(self, remaining_seconds: float) -> CanarySettings:
        """The run's settings, its wall time bounded by what the invocation has left."""
        budget = min(self.timeout_seconds, remaining_seconds - MARGIN_SECONDS)
        if budget < 60:
            raise ConfigurationError(
                f"the canary needs at least 60 s; the invocation has {remaining_seconds:.0f} s"
            )
        return CanarySettings(
            cluster=self.cluster,
            kind=Kind(self.kind),
            namespace=self.namespace,
            internet_facing=self.internet_facing,
            timeout_seconds=budget,
        )


@dataclass(frozen=True)
class CanaryEnvironment:
    alert_topic_arn: str
    alerts_queue_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CanaryEnvironment:
        topic = env.get("FRONTGUARD_ALERT_TOPIC_ARN")
        if not topic:
            raise ConfigurationError("set FRONTGUARD_ALERT_TOPIC_ARN")
        return cls(topic, env.get("FRONTGUARD_CANARY_QUEUE_URL") or None)


def failure_alert(request: CanaryRequest, report: CanaryReport) -> Alert | None:
    """``canary-failed`` when a stage failed or the exposure exceeded the configured bound;
    ``None`` when the run is healthy."""
    failed = [s for s in report.stages if s.status is Status.FAILED]
    exposure = report.exposure_seconds
    too_slow = exposure is not None and exposure > request.max_exposure_seconds
    if not failed and not too_slow:
        return None
    detail = "; ".join(f"{s.name}: {s.detail}" for s in failed)
    if too_slow:
        detail = (
            f"exposure {exposure:.0f} s exceeds the bound of {request.max_exposure_seconds:.0f} s"
            + (f"; {detail}" if detail else "")
        )
    fixes = [s.fix for s in failed if s.fix]
    return Alert(
        outcome=Outcome.CANARY_FAILED,
        load_balancer_arn=report.load_balancer_arn or f"canary:{request.cluster}",
        cluster=request.cluster,
        owner=None,
        detail=detail,
        fix=" ".join(fixes)
        or "Compare with `frontguard canary` run by hand; the sweep period bounds the exposure "
        "when CloudTrail events are lost (docs/canary.md).",
        data={"canary": report.as_dict()},
    )
