"""`frontguard render born-protected` end to end: the scan creates frontguard's prefix lists,
the CLI prints the class objects referencing them, the platform applies them, and the
controller builds load balancers born at policy width that frontguard leaves alone."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from frontguard.cli import main
from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.kube import GATEWAY_CLASSES, INGRESS_CLASS_PARAMS, INGRESS_CLASSES, LB_CONFIGURATIONS
from sandbox.wiring import ENFORCE, wire

POLICY: dict[str, Any] = {
    **ENFORCE,
    "born_protected": ["prod"],
    "rules": [{"sources": ["203.0.113.0/24", "198.51.100.0/24"]}],
}


def render(capsys: pytest.CaptureFixture[str], tmp_path: Any, *extra: str) -> list[dict[str, Any]]:
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    code = main(
        ["render", "born-protected", "--cluster", "prod", "--policy", str(policy_file), *extra]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = captured.out
    return [d for d in yaml.safe_load_all(out) if d]


def frontguard_lists(sandbox: Sandbox) -> set[str]:
    return {
        pl["PrefixListId"]
        for pl in sandbox.client("ec2").describe_managed_prefix_lists(
            Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
        )["PrefixLists"]
    }


def test_rendered_objects_make_ingress_and_gateway_born_protected(sandbox, capsys, tmp_path):
    fg = wire(sandbox, POLICY)
    prod = sandbox.cluster("prod")
    prod.ingress("legacy/old", ports=[443])
    scan(fg.runtime.engine)  # creates frontguard's prefix lists
    lists = frontguard_lists(sandbox)

    objects = render(capsys, tmp_path)

    kinds = [o["kind"] for o in objects]
    assert kinds.count("ValidatingAdmissionPolicy") == 1
    [params] = [o for o in objects if o["kind"] == "IngressClassParams"]
    assert set(params["spec"]["prefixListsIDs"]) <= lists
    assert params["spec"]["inboundCIDRs"] == ["198.51.100.0/24", "203.0.113.0/24"]
    # The platform team applies them (frontguard never does).
    by_kind = {
        "IngressClassParams": INGRESS_CLASS_PARAMS,
        "IngressClass": INGRESS_CLASSES,
        "LoadBalancerConfiguration": LB_CONFIGURATIONS,
        "GatewayClass": GATEWAY_CLASSES,
    }
    for obj in objects:
        if obj["kind"] in by_kind:
            prod.kube.put_object(by_kind[obj["kind"]], obj)
    fg.reset_counts()

    web = prod.ingress("shop/web", ports=[80, 443], ingress_class=params["metadata"]["name"])
    edge = prod.gateway("edge/public", ports=[443], gateway_class="frontguard-rule-0-alb")

    for owned in (web, edge):
        managed = owned.managed_sg_id
        assert managed is not None
        [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[managed])[
            "SecurityGroups"
        ]
        sources = {
            r.get("CidrIp") or r.get("CidrIpv6") or r.get("PrefixListId")
            for p in group["IpPermissions"]
            for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", []) + p.get("PrefixListIds", [])
        }
        assert "0.0.0.0/0" not in sources and "::/0" not in sources
        assert fg.deliver(owned.event)["outcome"] == "born-protected"
    assert fg.mutating_aws_calls() == {}


def test_render_deny_and_missing_lists(sandbox, capsys, tmp_path):
    sandbox.cluster("prod")
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))

    code = main(["render", "born-protected", "--cluster", "prod", "--policy", str(policy_file)])

    assert code == 1
    assert "do not exist" in capsys.readouterr().err
    scan(wire(sandbox, POLICY).runtime.engine)
    objects = render(capsys, tmp_path, "--deny")
    [binding] = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["validationActions"] == ["Deny"]
