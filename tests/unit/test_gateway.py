"""Gateway decisions without servers: which configuration the controller sees, what to patch."""

import json
from typing import Any

from frontguard.engine import gateway
from frontguard.engine.gateway import Configuration, GatewayOwner
from frontguard.policy import Policy
from frontguard.sources import Sources

OURS = "sg-0123456789abcdef0"
TEAM = "sg-0aaaaaaaaaaaaaaaa"
OTHER = "sg-0bbbbbbbbbbbbbbbb"


def config(name: str, spec: dict[str, Any], *, version: str = "v1", **meta: Any) -> Configuration:
    metadata = {"name": name, "namespace": "edge", **meta}
    return Configuration({"metadata": metadata, "spec": spec}, version)


def owner(
    own: Configuration | None = None,
    *,
    referenced: bool = True,
    class_config: Configuration | None = None,
    controller: str = "gateway.k8s.aws/alb",
) -> GatewayOwner:
    return GatewayOwner(
        {"metadata": {"name": "public", "namespace": "edge"}, "spec": {"gatewayClassName": "c"}},
        {"metadata": {"name": "c"}, "spec": {"controllerName": controller}},
        own,
        referenced and own is not None,
        class_config,
    )


def test_class_level_security_groups_win_and_restrictions_merge_field_by_field():
    found = owner(
        config("own", {"securityGroups": [TEAM], "sourceRanges": ["203.0.113.0/24"]}),
        class_config=config("cls", {"securityGroups": [OTHER]}),
    )
    assert found.class_pin == [OTHER]
    assert found.security_groups == [OTHER]
    assert found.restriction() == Sources.of(["203.0.113.0/24"])


def test_security_group_prefixes_restrict_and_an_unreferenced_configuration_does_not_count():
    """Issue 26: prefix lists are added next to sourceRanges, whose nil means 0.0.0.0/0 and
    ::/0 (LBC:pkg/gateway/model/model_build_security_group.go): alone they restrict nothing;
    an empty sourceRanges is set and admits no CIDR."""
    pl = "pl-0123456789abcdef0"
    prefixes = owner(config("own", {"securityGroupPrefixes": [pl]}))
    assert prefixes.restriction() is None
    ranged = owner(config("own", {"sourceRanges": ["10.0.0.0/8"], "securityGroupPrefixes": [pl]}))
    assert ranged.restriction() == Sources.of(["10.0.0.0/8", pl])
    emptied = owner(config("own", {"sourceRanges": []}))
    assert emptied.restriction() == Sources.of([])
    unreferenced = owner(config("own", {"sourceRanges": ["10.0.0.0/8"]}), referenced=False)
    assert unreferenced.restriction() is None


def test_only_the_controllers_gateway_classes_are_handled():
    assert owner().handled
    assert owner(controller="gateway.k8s.aws/nlb").handled
    assert not owner(controller="istio.io/gateway-controller").handled


def test_change_creates_a_configuration_and_points_the_gateway_at_it():
    [change] = gateway.change_for(owner(), [OURS])
    assert change.config_name == "frontguard-public"
    summary = change.summary()
    assert summary["LoadBalancerConfiguration edge/frontguard-public (create)"] == {
        "spec.securityGroups": OURS,
        "spec.manageBackendSecurityGroupRules": "true",
    }
    assert "Gateway edge/public" in summary
    assert json.loads(change._replaced() or "") == {
        "created": True,
        "gateway.spec.infrastructure.parametersRef": None,
        "spec.manageBackendSecurityGroupRules": None,
        "spec.securityGroups": None,
    }


def test_change_keeps_approved_groups_and_is_empty_once_applied():
    policy = Policy(approved_security_groups=frozenset({TEAM}))
    own = config("own", {"securityGroups": [TEAM, OTHER], "scheme": "internal"})
    [change] = gateway.change_for(owner(own), [OURS, *owner(own).kept_approved(policy)])
    assert change.security_groups == (OURS, TEAM)
    assert list(change.summary()) == ["LoadBalancerConfiguration edge/own (patch)"]

    done = config(
        "own",
        {"securityGroups": [OURS, TEAM], "manageBackendSecurityGroupRules": True},
        annotations={"frontguard.io/replaced": "{}"},
    )
    assert gateway.change_for(owner(done), [OURS, *owner(done).kept_approved(policy)]) == []
    assert owner(done).approved_only(policy) is False  # frontguard's SG is not a team SG
