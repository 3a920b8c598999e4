"""What frontguard writes to Security Hub for each outcome (pure planning, no server)."""

from __future__ import annotations

from typing import Any

import pytest
from frontguard.adapters.securityhub import (
    REFRESH_SECONDS,
    Observation,
    SecurityHubFindings,
    finding_id,
)
from frontguard.errors import ConfigurationError
from frontguard.model import Outcome
from frontguard.settings import Settings

ACCOUNT, REGION = "123456789012", "eu-west-1"
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/k8s-shop-web/0123"
NOW = 1_800_000_000.0


def hub(now: float = NOW) -> SecurityHubFindings:
    return SecurityHubFindings(None, account=ACCOUNT, region=REGION, clock=lambda: now)  # type: ignore[arg-type]


def seen(outcome: Outcome, lb: str = LB, detail: str = "open to the world") -> Observation:
    return Observation(lb, outcome, "prod", "ingress/shop/web", detail)


def existing_after(observation: Observation, **overrides: Any) -> dict[str, dict[str, Any]]:
    """The finding as Security Hub holds it after frontguard imported ``observation``."""
    [imported] = hub().plan([observation], {}, present=None).imports
    return {imported["Id"]: {**imported, "Workflow": {"Status": "NEW"}, **overrides}}


def test_a_compliant_load_balancer_without_a_finding_writes_nothing():
    for outcome in (Outcome.COMPLIANT, Outcome.VERIFIED, Outcome.REMEDIATED, Outcome.EXEMPT):
        assert not hub().plan([seen(outcome)], {}, present=[LB])


def test_an_unchanged_open_finding_is_not_reimported_until_a_day_has_passed():
    observation = seen(Outcome.AUDIT_FINDING)
    existing = existing_after(observation)

    assert not hub(NOW + 3600).plan([observation], existing, present=[LB])
    assert hub(NOW + REFRESH_SECONDS).plan([observation], existing, present=[LB]).imports


def test_a_changed_open_finding_is_reimported_with_its_creation_time_kept():
    existing = existing_after(seen(Outcome.AUDIT_FINDING))
    later = hub(NOW + 60).plan([seen(Outcome.NEEDS_RECREATION)], existing, present=[LB])

    [imported] = later.imports
    assert imported["CreatedAt"] == existing[finding_id(LB)]["CreatedAt"]
    assert imported["UpdatedAt"] != imported["CreatedAt"]
    assert imported["Severity"] == {"Label": "HIGH"}


def test_resolving_imports_passed_and_sets_the_workflow_once():
    existing = existing_after(seen(Outcome.AUDIT_FINDING))

    first = hub().plan([seen(Outcome.COMPLIANT)], existing, present=[LB])
    assert [f["Compliance"]["Status"] for f in first.imports] == ["PASSED"]
    assert first.workflow == {"RESOLVED": [finding_id(LB)]}

    resolved = {
        finding_id(LB): {**first.imports[0], "Workflow": {"Status": "RESOLVED"}},
    }
    assert not hub().plan([seen(Outcome.VERIFIED)], resolved, present=[LB])


def test_an_exempted_load_balancer_suppresses_its_finding():
    existing = existing_after(seen(Outcome.AUDIT_FINDING))

    changes = hub().plan([seen(Outcome.EXEMPT)], existing, present=[LB])

    assert not changes.imports
    assert changes.workflow == {"SUPPRESSED": [finding_id(LB)]}


def test_an_error_never_overwrites_what_is_known():
    existing = existing_after(seen(Outcome.AUDIT_FINDING))
    assert not hub().plan([seen(Outcome.ERROR)], existing, present=[LB])

    [fresh] = hub().plan([seen(Outcome.ERROR)], {}, present=[LB]).imports
    assert fresh["Compliance"]["Status"] == "NOT_AVAILABLE"


def test_only_findings_of_vanished_load_balancers_are_archived():
    other = LB.replace("0123", "4567")
    existing = {
        **existing_after(seen(Outcome.AUDIT_FINDING)),
        **existing_after(seen(Outcome.AUDIT_FINDING, lb=other)),
    }

    changes = hub().plan([], existing, present=[other])

    [archived] = changes.imports
    assert (archived["Id"], archived["RecordState"]) == (finding_id(LB), "ARCHIVED")
    assert archived["CreatedAt"] == existing[finding_id(LB)]["CreatedAt"]


def test_texts_stay_within_asff_limits():
    observation = Observation(LB, Outcome.GITOPS_PENDING, "prod", "x" * 400, "d" * 3000, "f" * 900)

    [finding] = hub().plan([observation], {}, present=None).imports

    assert len(finding["Title"]) <= 256
    assert len(finding["Description"]) <= 1024
    assert len(finding["Remediation"]["Recommendation"]["Text"]) <= 512


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("false", False), ("TRUE", True)])
def test_security_hub_switch_is_off_by_default(value, expected):
    env = {"FRONTGUARD_POLICY": "{}"} | ({"FRONTGUARD_SECURITY_HUB": value} if value else {})
    assert Settings.from_env(env).security_hub is expected


def test_security_hub_switch_rejects_other_values():
    with pytest.raises(ConfigurationError, match="FRONTGUARD_SECURITY_HUB"):
        Settings.from_env({"FRONTGUARD_POLICY": "{}", "FRONTGUARD_SECURITY_HUB": "yes"})
