"""Typed runtime settings read from the environment on first use, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from frontguard.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    policy_json: str | None
    policy_parameter: str | None
    alert_topic_arn: str | None
    verify_queue_url: str | None
    state_table: str | None
    # Findings in AWS Security Hub (adapters/securityhub.py); off unless switched on.
    security_hub: bool = False
    # The scheduled scan's queue of remediations (enforce mode); unset: it applies inline.
    remediation_queue_url: str | None = None
    # The remediation function spends at least this long per LB (see handlers/remediate_flow).
    remediation_pace_seconds: float = 0.8
    # Seconds to wait between re-reads while the controller has not finished creating the LB.
    discovery_delays: tuple[float, ...] = field(default=(1.0, 2.0, 4.0))
    # Fail-closed mode: the controller's IAM role names (infra/fail_closed.py). A refused
    # managed-SG creation is acted on only when one of them made it.
    controller_role_names: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        policy_json = env.get("FRONTGUARD_POLICY") or None
        policy_parameter = env.get("FRONTGUARD_POLICY_PARAMETER") or None
        if policy_json is None and policy_parameter is None:
            raise ConfigurationError(
                "set FRONTGUARD_POLICY (the policy document, JSON) or "
                "FRONTGUARD_POLICY_PARAMETER (an SSM parameter holding it)"
            )
        delays_text = env.get("FRONTGUARD_DISCOVERY_DELAYS")
        try:
            delays = (
                tuple(float(d) for d in delays_text.split(",") if d.strip())
                if delays_text is not None
                else (1.0, 2.0, 4.0)
            )
        except ValueError as error:
            raise ConfigurationError(
                "FRONTGUARD_DISCOVERY_DELAYS must be comma-separated seconds"
            ) from error
        hub_text = (env.get("FRONTGUARD_SECURITY_HUB") or "false").strip().lower()
        if hub_text not in ("true", "false"):
            raise ConfigurationError("FRONTGUARD_SECURITY_HUB must be 'true' or 'false'")
        return cls(
            policy_json=policy_json,
            policy_parameter=policy_parameter,
            alert_topic_arn=env.get("FRONTGUARD_ALERT_TOPIC_ARN") or None,
            verify_queue_url=env.get("FRONTGUARD_VERIFY_QUEUE_URL") or None,
            state_table=env.get("FRONTGUARD_STATE_TABLE") or None,
            remediation_queue_url=env.get("FRONTGUARD_REMEDIATION_QUEUE_URL") or None,
            remediation_pace_seconds=_seconds(env, "FRONTGUARD_REMEDIATION_PACE_SECONDS", 0.8),
            discovery_delays=delays,
            security_hub=hub_text == "true",
            controller_role_names=tuple(
                name.strip()
                for name in (env.get("FRONTGUARD_CONTROLLER_ROLE_NAMES") or "").split(",")
                if name.strip()
            ),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError as error:
        raise ConfigurationError(f"{name} must be a number of seconds") from error
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return value
