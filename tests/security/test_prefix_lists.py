"""frontguard's prefix lists are its own by the record of their creation, never by their tags
(security review r2, R2-2), and any change to them is reported (R2-3)."""

from __future__ import annotations

from typing import Any

from frontguard.adapters.prefix_lists import owned
from frontguard.engine.prefix_lists import list_name
from frontguard.engine.scan import scan
from frontguard.handlers.scan_flow import DriftCall, parse_scan_event

from sandbox import Sandbox
from sandbox.wiring import wire
from tests.integration.test_prefix_lists import BORN, lists
from tests.security.catalogue import attack

BASTION = "192.0.2.10/32"


def entries(sandbox: Sandbox, list_id: str) -> list[str]:
    found = sandbox.client("ec2").get_managed_prefix_list_entries(PrefixListId=list_id)
    return sorted(e["Cidr"] for e in found["Entries"])


def copy_of_frontguards_tags(sandbox: Sandbox, key: str) -> str:
    """A developer's own list (their bastion's source), carrying frontguard's tags."""
    created = sandbox.client("ec2").create_managed_prefix_list(
        PrefixListName="team-bastion",
        AddressFamily="IPv4",
        MaxEntries=5,
        Entries=[{"Cidr": BASTION}],
        TagSpecifications=[
            {
                "ResourceType": "prefix-list",
                "Tags": [
                    {"Key": "frontguard.io/managed-by", "Value": "frontguard"},
                    {"Key": "frontguard.io/prefix-list", "Value": key},
                    {"Key": "frontguard.io/cluster", "Value": "*"},
                ],
            }
        ],
    )
    return str(created["PrefixList"]["PrefixListId"])


def alerts_of(fg: Any, outcome: str) -> list[dict[str, Any]]:
    return [a for a in fg.alerts() if a["outcome"] == outcome]


@attack(
    "R2-2",
    "ec2:CreateManagedPrefixList + CreateTags (the SCP did not reserve frontguard's tags)",
    "copy every tag of frontguard's prefix list onto one's own list (a bastion's source) so "
    "frontguard rewrites it to the policy's sources and renders its ID",
    "not frontguard's (no creation record): never modified, referenced or rendered; a "
    "conflict alert names it; frontguard creates and uses its own list",
)
def test_a_look_alike_prefix_list_is_never_modified_nor_used(sandbox: Sandbox) -> None:
    fg = wire(sandbox, BORN)
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    fake = copy_of_frontguards_tags(sandbox, "*/rule-0/IPv4")

    report = scan(fg.runtime.engine)

    assert entries(sandbox, fake) == [BASTION]
    assert report.prefix_lists is not None
    assert report.prefix_lists["look_alikes"] == [fake]
    assert "*/rule-0/IPv4" in report.prefix_lists["created"]
    [conflict] = [a for a in alerts_of(fg, "conflict") if fake in a["detail"]]
    assert "did not create it" in conflict["detail"]
    assert fg.runtime.engine.state is not None
    proven = owned(fg.runtime.engine.ec2, fg.runtime.engine.state)
    assert fake not in {pl.id for pl in proven.lists.values()}
    assert proven.lists["*/rule-0/IPv4"].entries == ("198.51.100.0/24", "203.0.113.0/24")

    # Again: the look-alike is still left alone, frontguard's own list is not duplicated.
    again = scan(fg.runtime.engine)
    assert again.prefix_lists is not None and again.prefix_lists["created"] == []
    assert entries(sandbox, fake) == [BASTION]


def tamper(sandbox: Sandbox, list_id: str, key: str) -> None:
    """Entries set to the world, the name's digest suffix forged to match them."""
    ec2 = sandbox.client("ec2")
    pl = ec2.describe_managed_prefix_lists(PrefixListIds=[list_id])["PrefixLists"][0]
    ec2.modify_managed_prefix_list(
        PrefixListId=list_id,
        CurrentVersion=int(pl["Version"]),
        PrefixListName=list_name(key, ["0.0.0.0/0"]),
        AddEntries=[{"Cidr": "0.0.0.0/0"}],
        RemoveEntries=[{"Cidr": c} for c in entries(sandbox, list_id)],
    )


@attack(
    "R2-3",
    "ec2:ModifyManagedPrefixList on frontguard's list",
    "set its entries to 0.0.0.0/0 and rename it so the name's digest matches the new entries",
    "a drift alert naming the list and the entries found, in audit and in enforce mode; "
    "enforce restores the policy's sources",
)
def test_tampering_with_frontguards_list_is_reported_in_every_mode(sandbox: Sandbox) -> None:
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    scan(wire(sandbox, BORN).runtime.engine)
    key = "*/rule-0/IPv4"
    list_id = lists(sandbox)[key]["PrefixListId"]
    tamper(sandbox, list_id, key)

    audit = wire(sandbox, {**BORN, "mode": "audit"})
    scan(audit.runtime.engine)
    [found] = [a for a in alerts_of(audit, "drift") if list_id in a["detail"]]
    assert "0.0.0.0/0" in found["detail"]
    assert entries(sandbox, list_id) == ["0.0.0.0/0"]  # audit: left as found

    enforce = wire(sandbox, {**BORN, "alert_period_hours": 0.0001})
    scan(enforce.runtime.engine)
    assert entries(sandbox, list_id) == ["198.51.100.0/24", "203.0.113.0/24"]


def test_a_policy_change_is_not_reported_as_tampering(sandbox: Sandbox) -> None:
    """Control: what frontguard itself wrote (its recorded digest) is not drift."""
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    scan(wire(sandbox, BORN).runtime.engine)
    changed = wire(sandbox, {**BORN, "rules": [{"sources": ["203.0.113.0/24"]}]})

    report = scan(changed.runtime.engine)

    assert report.prefix_lists is not None and report.prefix_lists["drifted"] == []
    assert entries(sandbox, lists(sandbox)["*/rule-0/IPv4"]["PrefixListId"]) == ["203.0.113.0/24"]
    assert [a for a in alerts_of(changed, "drift")] == []


def test_a_change_to_frontguards_list_is_checked_by_its_drift_event(sandbox: Sandbox) -> None:
    """R2-3, promptly: the drift rule's ModifyManagedPrefixList reaches the scan function,
    which checks the lists at once (no wait for the schedule)."""
    from frontguard.handlers.scan_flow import handle_drift_event

    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    fg = wire(sandbox, BORN)
    scan(fg.runtime.engine)
    key = "*/rule-0/IPv4"
    list_id = lists(sandbox)[key]["PrefixListId"]
    tamper(sandbox, list_id, key)
    event: dict[str, Any] = {
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "detail": {
            "eventSource": "ec2.amazonaws.com",
            "eventName": "ModifyManagedPrefixList",
            "requestParameters": {"ModifyManagedPrefixListRequest": {"PrefixListId": list_id}},
        },
    }

    result = handle_drift_event(fg.runtime, drift_call(event))

    assert result["outcome"] == "prefix-lists-checked"
    assert [a for a in alerts_of(fg, "drift") if list_id in a["detail"]]
    assert entries(sandbox, list_id) == ["198.51.100.0/24", "203.0.113.0/24"]
    other = handle_drift_event(
        fg.runtime,
        drift_call(
            {
                **event,
                "detail": {**event["detail"], "requestParameters": {"prefixListId": "pl-0abc"}},
            }
        ),
    )
    assert other["outcome"] == "ignored"


def drift_call(event: dict[str, Any]) -> DriftCall:
    call = parse_scan_event(event)
    assert isinstance(call, DriftCall)
    return call
