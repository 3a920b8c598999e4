"""frontguard's prefix lists (issue 17 item 1) against moto: created equal to the policy, a
policy change is one ModifyManagedPrefixList and no Kubernetes write, a change by anyone else
alerts drift; the born-protected verdict reads them."""

from __future__ import annotations

from typing import Any

from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, wire

BORN = {**ENFORCE, "born_protected": ["prod"]}


def lists(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    ec2 = sandbox.client("ec2")
    found = {}
    for pl in ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["PrefixLists"]:
        tags = {t["Key"]: t["Value"] for t in pl.get("Tags", [])}
        entries = ec2.get_managed_prefix_list_entries(PrefixListId=pl["PrefixListId"])["Entries"]
        found[tags["frontguard.io/prefix-list"]] = {
            **pl,
            "entries": sorted(e["Cidr"] for e in entries),
        }
    return found


def test_scan_creates_one_list_per_rule_and_family_sized_deliberately(sandbox):
    fg = wire(sandbox, BORN)
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])

    report = scan(fg.runtime.engine)

    found = lists(sandbox)
    assert set(found) == {"*/rule-0/IPv4", "prod/default/IPv4"}
    assert found["*/rule-0/IPv4"]["entries"] == ["198.51.100.0/24", "203.0.113.0/24"]
    assert found["prod/default/IPv4"]["entries"] == ["10.0.0.0/16"]  # `vpc`, expanded
    # 2 entries + headroom 2; capped at 60 rules per SG / 2 listener ports.
    assert int(found["*/rule-0/IPv4"]["MaxEntries"]) == 4
    assert found["*/rule-0/IPv4"]["AddressFamily"] == "IPv4"
    assert report.prefix_lists is not None
    assert sorted(report.prefix_lists["created"]) == ["*/rule-0/IPv4", "prod/default/IPv4"]


def test_a_policy_change_is_one_modify_and_no_kubernetes_write(sandbox):
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    scan(wire(sandbox, BORN).runtime.engine)
    changed = {**BORN, "rules": [{"scheme": "internet-facing", "sources": ["203.0.113.0/24"]}]}
    fg = wire(sandbox, changed)
    fg.reset_counts()
    before = lists(sandbox)["*/rule-0/IPv4"]

    report = scan(fg.runtime.engine)

    after = lists(sandbox)["*/rule-0/IPv4"]
    assert after["PrefixListId"] == before["PrefixListId"]
    assert after["entries"] == ["203.0.113.0/24"]
    assert fg.aws_calls["ec2.ModifyManagedPrefixList"] == 1
    assert fg.aws_calls["ec2.CreateManagedPrefixList"] == 0
    assert report.prefix_lists is not None
    assert report.prefix_lists["modified"] == ["*/rule-0/IPv4"]
    assert report.prefix_lists["drifted"] == []
    assert not [c for c in fg.kube_calls() if c.split(" ")[0] in ("PATCH", "PUT", "POST")]


def test_a_change_by_anyone_else_alerts_drift_and_is_restored(sandbox):
    fg = wire(sandbox, BORN)
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    scan(fg.runtime.engine)
    pl = lists(sandbox)["*/rule-0/IPv4"]
    sandbox.client("ec2").modify_managed_prefix_list(
        PrefixListId=pl["PrefixListId"],
        CurrentVersion=int(pl["Version"]),
        PrefixListName=pl["PrefixListName"],
        AddEntries=[{"Cidr": "0.0.0.0/0"}],
    )

    report = scan(fg.runtime.engine)

    assert report.prefix_lists is not None
    assert report.prefix_lists["drifted"] == ["*/rule-0/IPv4"]
    [alert] = [a for a in fg.alerts() if a.get("prefix_list_id") == pl["PrefixListId"]]
    assert alert["outcome"] == "drift"
    assert "0.0.0.0/0" in alert["entries_found"]
    assert lists(sandbox)["*/rule-0/IPv4"]["entries"] == ["198.51.100.0/24", "203.0.113.0/24"]
    # Restored and renamed in the same call: the next scan finds nothing to do.
    fg.reset_counts()
    again = scan(fg.runtime.engine)
    assert again.prefix_lists is not None
    assert again.prefix_lists["drifted"] == again.prefix_lists["modified"] == []
    assert fg.aws_calls["ec2.ModifyManagedPrefixList"] == 0


def test_a_repeated_change_within_the_alert_period_alerts_once_and_is_restored_each_time(sandbox):
    fg = wire(sandbox, BORN)
    sandbox.cluster("prod").ingress("shop/web", ports=[443])
    scan(fg.runtime.engine)
    ec2 = sandbox.client("ec2")

    def widen() -> str:
        pl = lists(sandbox)["*/rule-0/IPv4"]
        ec2.modify_managed_prefix_list(
            PrefixListId=pl["PrefixListId"],
            CurrentVersion=int(pl["Version"]),
            PrefixListName=pl["PrefixListName"],
            AddEntries=[{"Cidr": "0.0.0.0/0"}],
        )
        return str(pl["PrefixListId"])

    for _ in range(2):
        prefix_list_id = widen()
        report = scan(fg.runtime.engine)
        assert report.prefix_lists is not None
        assert report.prefix_lists["drifted"] == ["*/rule-0/IPv4"]
        assert "0.0.0.0/0" not in lists(sandbox)["*/rule-0/IPv4"]["entries"]

    drift = [a for a in fg.alerts() if a.get("prefix_list_id") == prefix_list_id]
    assert len(drift) == 1  # the state table's dedupe, as for load balancers' findings


def test_a_born_protected_cluster_without_load_balancers_gets_its_vpc_list(sandbox):
    # The usual start: the platform applies the rendered classes before any Ingress exists.
    fg = wire(sandbox, {**ENFORCE, "born_protected": ["prod", "stage-*"]})
    sandbox.cluster("prod")  # no load balancer at all
    fg.reset_counts()

    scan(fg.runtime.engine)

    assert set(lists(sandbox)) == {"*/rule-0/IPv4", "prod/default/IPv4"}
    assert lists(sandbox)["prod/default/IPv4"]["entries"] == ["10.0.0.0/16"]
    # One DescribeCluster for the exact name; a glob is not listed (no eks:ListClusters).
    assert fg.aws_calls["eks.DescribeCluster"] == 1


def test_audit_mode_creates_no_list(sandbox):
    fg = wire(sandbox, {**BORN, "mode": "audit"})
    sandbox.cluster("prod").ingress("shop/web", ports=[443])

    report = scan(fg.runtime.engine)

    assert lists(sandbox) == {}
    assert report.prefix_lists is not None
    assert sorted(report.prefix_lists["pending"]) == ["*/rule-0/IPv4", "prod/default/IPv4"]


def test_without_born_protected_clusters_no_prefix_list_call(sandbox):
    fg = wire(sandbox, ENFORCE)
    sandbox.cluster("prod").ingress("shop/web", ports=[443])
    fg.reset_counts()

    report = scan(fg.runtime.engine)

    assert report.prefix_lists is None
    assert not [c for c in fg.aws_calls if "PrefixList" in c]


def test_class_referencing_frontguards_list_is_born_protected(sandbox):
    fg = wire(sandbox, BORN)
    prod = sandbox.cluster("prod")
    prod.ingress("shop/web", ports=[443])
    scan(fg.runtime.engine)
    pl = lists(sandbox)["*/rule-0/IPv4"]["PrefixListId"]
    prod.ingress_class_params(
        "fg-born", spec={"inboundCIDRs": ["203.0.113.0/24"], "prefixListsIDs": [pl]}
    )
    prod.ingress_class("fg-born", params="fg-born")
    api = prod.ingress("shop/api", ports=[80, 443], ingress_class="fg-born")
    fg.reset_counts()

    result = fg.deliver(api.event)

    assert result["outcome"] == "born-protected"
    assert fg.mutating_aws_calls() == {}
    # The engine read frontguard's lists to judge the rule naming one.
    assert fg.aws_calls["ec2.DescribeManagedPrefixLists"] == 1


def test_class_referencing_a_list_frontguard_does_not_own_is_born_open(sandbox):
    fg = wire(sandbox, BORN)
    prod = sandbox.cluster("prod")
    foreign = sandbox.client("ec2").create_managed_prefix_list(
        PrefixListName="someone-elses",
        AddressFamily="IPv4",
        MaxEntries=5,
        Entries=[{"Cidr": "0.0.0.0/0"}],
    )["PrefixList"]["PrefixListId"]
    prod.ingress_class_params(
        "fg-born", spec={"inboundCIDRs": ["203.0.113.0/24"], "prefixListsIDs": [foreign]}
    )
    prod.ingress_class("fg-born", params="fg-born")
    api = prod.ingress("shop/api", ports=[443], ingress_class="fg-born")

    result = fg.deliver(api.event)

    assert result["outcome"] == "born-open"
    [alert] = fg.alerts()
    assert any(foreign in entry for entry in alert["why_not_born_protected"])
