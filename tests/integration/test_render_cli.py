"""`frontguard render born-protected` end to end: the scan creates frontguard's prefix lists,
the CLI prints the class objects referencing them, the platform applies them, and the
controller builds load balancers born at policy width that frontguard leaves alone."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import yaml
from frontguard.cli import common, main
from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.aws import ACCOUNT_ID, REGION
from sandbox.kube import GATEWAY_CLASSES, INGRESS_CLASS_PARAMS, INGRESS_CLASSES, LB_CONFIGURATIONS
from sandbox.wiring import ENFORCE, STATE_TABLE, wire
from tests.admission import admit

PREFIX_LISTS = "service.beta.kubernetes.io/aws-load-balancer-security-group-prefix-lists"
POLICY: dict[str, Any] = {
    **ENFORCE,
    "born_protected": ["prod"],
    "rules": [{"sources": ["203.0.113.0/24", "198.51.100.0/24"]}],
}


def deployed_stack(sandbox: Sandbox) -> None:
    """The stack's outputs the CLI reads: its state table, whose creation records prove
    frontguard's prefix lists (the lists the wired scan created are recorded there)."""
    cloudformation = sandbox.client("cloudformation")
    template = {
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"StateTableName": {"Value": STATE_TABLE}},
    }
    cloudformation.create_stack(
        StackName=f"Frontguard-{ACCOUNT_ID}-{REGION}", TemplateBody=json.dumps(template)
    )


@pytest.fixture(autouse=True)
def stack(sandbox: Sandbox) -> None:
    deployed_stack(sandbox)


def render_output(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    *extra: str,
    policy: dict[str, Any] = POLICY,
) -> str:
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy))
    code = main(
        ["render", "born-protected", "--cluster", "prod", "--policy", str(policy_file), *extra]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def render(capsys: pytest.CaptureFixture[str], tmp_path: Any, *extra: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render_output(capsys, tmp_path, *extra)) if d]


def frontguard_lists(sandbox: Sandbox) -> set[str]:
    return {
        pl["PrefixListId"]
        for pl in sandbox.client("ec2").describe_managed_prefix_lists(
            Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
        )["PrefixLists"]
    }


def test_rendered_objects_make_ingress_and_gateway_born_protected(sandbox, capsys, tmp_path):
    fg = wire(sandbox, POLICY)
    prod = sandbox.cluster("prod", kubernetes_version="1.31")
    prod.ingress("legacy/old", ports=[443])
    scan(fg.runtime.engine)  # creates frontguard's prefix lists
    lists = frontguard_lists(sandbox)

    objects = render(capsys, tmp_path)

    kinds = [o["kind"] for o in objects]
    assert kinds.count("ValidatingAdmissionPolicy") == 1
    assert kinds.count("MutatingAdmissionPolicy") == 0  # moto's clusters say Kubernetes 1.19
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
    sandbox.cluster("prod", kubernetes_version="1.31")
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))

    code = main(["render", "born-protected", "--cluster", "prod", "--policy", str(policy_file)])

    assert code == 1
    assert "do not exist" in capsys.readouterr().err
    scan(wire(sandbox, POLICY).runtime.engine)
    objects = render(capsys, tmp_path, "--deny")
    [binding] = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["validationActions"] == ["Deny"]


def count_aws_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every AWS call the CLI makes (a botocore before-call hook on its own session)."""
    calls: Counter[str] = Counter()
    original = common.session

    def count(**kwargs: Any) -> None:
        model = kwargs["model"]
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def counting(region: str | None) -> Any:
        session = original(region)
        session._session.register("before-call", count)
        return session

    monkeypatch.setattr(common, "session", counting)
    return calls


def test_render_adds_the_service_policy_from_kubernetes_1_36(
    sandbox, capsys, tmp_path, monkeypatch
):
    policy: dict[str, Any] = {
        **POLICY,
        "rules": [
            {"namespace": "payments", "sources": ["10.20.0.0/16"]},
            {"sources": ["203.0.113.0/24", "198.51.100.0/24"]},
        ],
    }
    sandbox.cluster("prod", kubernetes_version="1.36")
    scan(wire(sandbox, policy).runtime.engine)  # creates frontguard's prefix lists
    by_rule = {
        tag["Value"]: pl["PrefixListId"]
        for pl in sandbox.client("ec2").describe_managed_prefix_lists()["PrefixLists"]
        for tag in pl.get("Tags", [])
        if tag["Key"] == "frontguard.io/prefix-list"
    }
    calls = count_aws_calls(monkeypatch)

    out = render_output(capsys, tmp_path, policy=policy)

    assert calls["eks.DescribeCluster"] == 1  # the version, once
    assert "# Kubernetes 1.36 (DescribeCluster): includes the MutatingAdmissionPolicy" in out
    objects = [d for d in yaml.safe_load_all(out) if d]
    [mutating] = [o for o in objects if o["kind"] == "MutatingAdmissionPolicy"]
    [binding] = [o for o in objects if o["kind"] == "MutatingAdmissionPolicyBinding"]
    assert binding["spec"]["policyName"] == mutating["metadata"]["name"]
    variables = {v["name"]: v["expression"] for v in mutating["spec"]["variables"]}
    # The lists the scan created, per rule, in the policy's order.
    assert variables["prefixLists"] == (
        f"request.namespace == 'payments' ? '{by_rule['*/rule-0/IPv4']}' : "
        f"('{by_rule['*/rule-1/IPv4']}')"
    )

    calls.clear()
    out = render_output(capsys, tmp_path, "--kubernetes-version", "1.35", policy=policy)

    assert calls["eks.DescribeCluster"] == 0
    assert "# Kubernetes 1.35 (--kubernetes-version): no MutatingAdmissionPolicy" in out
    assert "post-hoc remediation" in out
    kinds = [d["kind"] for d in yaml.safe_load_all(out) if d]
    assert "MutatingAdmissionPolicy" not in kinds
    assert "ValidatingAdmissionPolicy" in kinds

    policy_file = tmp_path / "policy.json"
    args = ["render", "born-protected", "--cluster", "prod", "--policy", str(policy_file)]
    code = main([*args, "--kubernetes-version", "latest"])
    assert code == 1
    assert "not of the form X.Y" in capsys.readouterr().err


def test_a_service_the_rendered_policy_annotates_is_born_protected(sandbox, capsys, tmp_path):
    fg = wire(sandbox, POLICY)
    prod = sandbox.cluster("prod", kubernetes_version="1.36")
    scan(fg.runtime.engine)  # creates frontguard's prefix lists
    lists = frontguard_lists(sandbox)
    [mutating] = [o for o in render(capsys, tmp_path) if o["kind"] == "MutatingAdmissionPolicy"]
    fg.reset_counts()

    # The emulator runs no admission: the test runs the rendered policy on the Service as the
    # API server would (tests/admission.py, cel-python), then the controller builds from it.
    api = prod.service(
        "shop/api", ports=[("TCP", 443)], admission=lambda obj: admit(mutating, obj) or obj
    )

    value = api.object["metadata"]["annotations"][PREFIX_LISTS]
    assert value and set(value.split(",")) <= lists
    managed = api.managed_sg_id
    assert managed is not None
    [group] = sandbox.client("ec2").describe_security_groups(GroupIds=[managed])["SecurityGroups"]
    assert {
        (p["FromPort"], r["PrefixListId"])
        for p in group["IpPermissions"]
        for r in p["PrefixListIds"]
    } == {(443, pl) for pl in value.split(",")}
    assert not any(p.get("IpRanges") or p.get("Ipv6Ranges") for p in group["IpPermissions"])
    assert fg.deliver(api.event)["outcome"] == "born-protected"
    assert fg.mutating_aws_calls() == {}
    # Without the policy (Kubernetes 1.35: not rendered), the same Service is born open.
    legacy = prod.service("legacy/api", ports=[("TCP", 443)])
    assert fg.deliver(legacy.event)["outcome"] == "born-open"


def test_render_refuses_a_cluster_older_than_cels_cidr_library(sandbox, capsys, tmp_path):
    sandbox.cluster("prod", kubernetes_version="1.30")
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))

    code = main(["render", "born-protected", "--cluster", "prod", "--policy", str(policy_file)])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "Kubernetes 1.30 is too old" in captured.err and "1.31+" in captured.err
