import json

import pytest
from frontguard.errors import ConfigurationError
from frontguard.policy import Mode, Policy
from frontguard.settings import Settings


def test_first_matching_rule_wins_and_default_applies_otherwise():
    policy = Policy.from_document(
        {
            "mode": "enforce",
            "rules": [
                {"cluster": "prod-*", "scheme": "internet-facing", "sources": ["203.0.113.0/24"]},
                {"cluster": "prod-*", "sources": ["10.0.0.0/8"]},
            ],
            "default_sources": ["vpc"],
        }
    )
    assert policy.mode is Mode.ENFORCE
    kwargs = {"namespace": "shop", "kind": "ingress"}
    assert policy.sources_for(cluster="prod-eu", scheme="internet-facing", **kwargs) == (
        "203.0.113.0/24",
    )
    assert policy.sources_for(cluster="prod-eu", scheme="internal", **kwargs) == ("10.0.0.0/8",)
    assert policy.sources_for(cluster="dev", scheme="internal", **kwargs) == ("vpc",)


def test_cluster_globs_select_clusters():
    policy = Policy.from_document({"clusters": ["prod-*", "staging"]})
    assert policy.selects_cluster("prod-eu")
    assert policy.selects_cluster("staging")
    assert not policy.selects_cluster("dev")


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"mode": "fix-everything"}, "mode"),
        ({"rules": [{"sources": ["not-a-cidr"]}]}, "rules.0.sources"),
        ({"rules": [{"scheme": "public", "sources": ["vpc"]}]}, "rules.0.scheme"),
        ({"approved_security_groups": ["default"]}, "approved_security_groups"),
        ({"unknown_switch": True}, "unknown_switch"),
        ({"max_rules_per_security_group": 0}, "max_rules_per_security_group"),
    ],
)
def test_invalid_policy_is_rejected_naming_the_field(document, field):
    with pytest.raises(ConfigurationError, match=field):
        Policy.from_document(document)


def test_policy_that_is_not_json_is_rejected():
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        Policy.from_json("{mode: enforce")


def test_settings_require_a_policy_source():
    with pytest.raises(ConfigurationError, match="FRONTGUARD_POLICY"):
        Settings.from_env({})
    settings = Settings.from_env(
        {"FRONTGUARD_POLICY": json.dumps({}), "FRONTGUARD_DISCOVERY_DELAYS": "0,0"}
    )
    assert settings.discovery_delays == (0.0, 0.0)


def test_warnings_name_world_open_sources_shadowed_and_empty_rules_and_expired_exemptions():
    from datetime import date

    policy = Policy.from_document(
        {
            "rules": [
                {"scheme": "internet-facing", "sources": ["0.0.0.0/1", "2000::/3"]},
                {"namespace": "payments", "scheme": "internet-facing", "sources": ["10.0.0.0/8"]},
                {"namespace": "dev-*", "sources": []},
            ],
            "default_sources": ["::/0"],
            "exemptions": [
                {
                    "cluster": "prod",
                    "namespace": "shop",
                    "kind": "service",
                    "name": "vip",
                    "reason": "r",
                    "approved_by": "sec",
                    "expires": "2020-01-01",
                }
            ],
        }
    )
    assert policy.warnings(today=date(2026, 11, 30)) == [
        "rules[0] admits 0.0.0.0/1, a world-open range",
        "rules[0] admits 2000::/3, a world-open range",
        "rules[2] has no sources: load balancers it matches admit nothing",
        "default_sources admits ::/0, a world-open range",
        "rules[1] never applies: rules[0] matches everything it does, and the first matching "
        "rule wins",
        "exemptions[0] (service shop/vip) expired on 2020-01-01",
    ]
    assert Policy.from_document({"rules": [{"sources": ["10.0.0.0/8"]}]}).warnings() == []
