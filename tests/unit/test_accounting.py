"""engine/accounting.py: what a repair undid and who did it, from what the decision read."""

from __future__ import annotations

from typing import Any

from frontguard import tags as t
from frontguard.adapters.aws import SecurityGroup
from frontguard.controller.restrictions import Restrictions
from frontguard.engine.accounting import (
    controller_rules_beyond_policy,
    describe_permission,
    last_writer,
    was_open,
)
from frontguard.model import Listener, LoadBalancer, PermissionRule
from frontguard.sources import Sources

POLICY = Sources.of(["203.0.113.0/24"])
OURS = "sg-0000000000000f00d"
PLAN = frozenset({PermissionRule("tcp", 443, "203.0.113.0/24")})


def lb(*groups: str) -> LoadBalancer:
    return LoadBalancer("arn:lb", "lb", "application", "internet-facing", "vpc-1", groups)


def ours(rules: frozenset[PermissionRule] = PLAN, foreign: tuple[Any, ...] = ()) -> SecurityGroup:
    return SecurityGroup(OURS, "frontguard-x", "vpc-1", {}, rules, foreign)


def test_the_controllers_rules_beyond_the_policy_per_listener_port() -> None:
    listeners = [Listener(443, "HTTPS"), Listener(80, "HTTP")]
    restricted = Restrictions({443: Sources.of(["203.0.113.0/24", "192.0.2.0/24"])})

    beyond = controller_rules_beyond_policy(listeners, POLICY, restricted)

    # 443: the owner's second range; 80: nothing set, so the controller's 0.0.0.0/0.
    assert beyond == ["80 from 0.0.0.0/0", "443 from 192.0.2.0/24"]


def test_a_new_load_balancer_was_open_by_the_controllers_rules() -> None:
    assert was_open(lb("sg-managed"), None, PLAN, controller_beyond=["443 from 0.0.0.0/0"]) == [
        "443 from 0.0.0.0/0 (the controller's rule for the owner)"
    ]


def test_an_owners_own_sgs_are_named_not_the_controllers_rules() -> None:
    found = was_open(
        lb("sg-team"),
        ours(),
        PLAN,
        controller_beyond=["443 from 0.0.0.0/0"],
        owner_groups=["sg-team"],
    )

    assert found == ["the owner's own SGs sg-team (their rules were not read)"]


def test_drift_on_frontguards_sg_names_the_extra_rules_and_hand_made_permissions() -> None:
    extra = PermissionRule("tcp", 22, "0.0.0.0/0")
    foreign = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}

    found = was_open(
        lb(OURS, "sg-foreign"),
        ours(PLAN | {extra}, (foreign,)),
        PLAN,
        controller_beyond=["443 from 0.0.0.0/0"],  # not on the LB any more: not named
        foreign_groups=["sg-foreign"],
    )

    assert found == [
        "tcp/22 from 0.0.0.0/0 (on frontguard's SG, outside the plan)",
        "all/all from 10.0.0.0/8 (on frontguard's SG, added outside frontguard)",
        "sg-foreign attached next to frontguard's SG",
    ]


def test_a_compliant_load_balancer_was_open_to_nothing() -> None:
    assert was_open(lb(OURS), ours(), PLAN, controller_beyond=["443 from 0.0.0.0/0"]) == []


def test_permissions_in_one_line() -> None:
    assert (
        describe_permission(
            {
                "IpProtocol": "tcp",
                "FromPort": 8000,
                "ToPort": 8100,
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                "PrefixListIds": [{"PrefixListId": "pl-1"}],
            }
        )
        == "tcp/8000-8100 from ::/0, pl-1"
    )


def managed(manager: str, time: str | None) -> dict[str, Any]:
    return {"manager": manager, "operation": "Update", **({"time": time} if time else {})}


def test_the_last_writer_is_the_latest_managed_fields_entry() -> None:
    objects = [
        {"metadata": {"managedFields": [managed("helm", "2026-12-01T10:00:00Z")]}},
        {
            "metadata": {
                "managedFields": [
                    managed("kubectl-client-side-apply", "2026-12-05T10:00:00Z"),
                    managed("no-time", None),  # an Apply entry has no time: not a write time
                ]
            }
        },
    ]

    assert last_writer(objects) == (
        "kubectl-client-side-apply at 2026-12-05T10:00:00Z "
        "(Kubernetes field manager, named by the client)"
    )


def test_frontguards_own_patch_as_the_last_write_names_nobody() -> None:
    objects = [
        {
            "metadata": {
                "managedFields": [
                    managed("kubectl-edit", "2026-12-01T10:00:00Z"),
                    managed(t.FIELD_MANAGER, "2026-12-05T10:00:00Z"),
                ]
            }
        }
    ]

    assert last_writer(objects) is None
    assert last_writer([{"metadata": {}}]) is None
