"""``frontguard doctor`` on a born-protected cluster (issue 17, item 5): the objects that
``frontguard render born-protected`` prints are present in the cluster, not drifted, and name
only prefix lists frontguard owns. The stack is deployed with a policy that lists ``prod`` in
``born_protected``; the deployed scan creates frontguard's prefix lists; the platform team
applies the rendered objects; the doctor reads them back through the Kubernetes API."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from frontguard import cli
from frontguard.handlers import scan as scan_handler
from frontguard.handlers._runtime import reset_runtime

from sandbox import Sandbox
from sandbox.deploy import Prepared, deploy
from sandbox.kube import (
    INGRESS_CLASS_PARAMS,
    LB_CONFIGURATIONS,
    MUTATING_POLICY_BINDINGS,
    VALIDATING_POLICIES,
    VALIDATING_POLICY_BINDINGS,
)
from tests.deploy.conftest import CONFIG, POLICY, RBAC, STACK, a_trail
from tests.deploy.test_doctor_failures import outputs
from tests.deploy.test_runtime import context, environment_of
from tests.infra.conftest import Synthesized, synthesize

BORN_POLICY: dict[str, Any] = {**POLICY, "born_protected": ["prod"]}
BORN_CONFIG: dict[str, Any] = {**CONFIG, "policy": BORN_POLICY}
POLICY_NAME = "frontguard-born-protected"

JSON = dict[str, Any]


@pytest.fixture(scope="session")
def born_template(tmp_path_factory: pytest.TempPathFactory) -> JSON:
    synthesized: Synthesized = synthesize(BORN_CONFIG, tmp_path_factory.mktemp("cdk-born"))
    (path,) = synthesized.template_files
    loaded: JSON = json.loads(path.read_text())
    return loaded


def as_stored(obj: JSON) -> JSON:
    """What the API server keeps of an applied object: server-set metadata, a status, and
    defaulted fields (ValidatingAdmissionPolicy: matchPolicy Equivalent, empty selectors,
    scope "*"; https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/
    validating-admission-policy-v1/)."""
    stored = copy.deepcopy(obj)
    stored["metadata"]["generation"] = 1
    stored["metadata"]["managedFields"] = [
        {"manager": "argocd-controller", "operation": "Apply", "apiVersion": obj["apiVersion"]}
    ]
    stored["status"] = {"observedGeneration": 1}
    if obj["kind"] == "ValidatingAdmissionPolicy":
        constraints = stored["spec"]["matchConstraints"]
        constraints.update(matchPolicy="Equivalent", namespaceSelector={}, objectSelector={})
        for rule in constraints["resourceRules"]:
            rule["scope"] = "*"
    if obj["kind"] == "ValidatingAdmissionPolicyBinding":
        stored["spec"]["matchResources"] = {
            "matchPolicy": "Equivalent",
            "namespaceSelector": {},
            "objectSelector": {},
        }
    return stored


@pytest.fixture
def born_deployed(  # noqa: PLR0917 - pytest passes fixtures by name
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    born_template: JSON,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Iterator[list[JSON]]:
    """The stack with the born-protected policy, its lists created by the deployed scan, and
    the rendered objects applied to ``prod`` (as the API server stores them). Parametrized
    (indirect): ``prod``'s Kubernetes version (default 1.31: the admission policy's CIDR
    checks need it, and render refuses older clusters)."""
    a_trail(sandbox)
    prod = sandbox.cluster("prod", kubernetes_version=getattr(request, "param", "1.31"))
    prod.install_controller()
    prod.apply(yaml.safe_load_all(RBAC.read_text()))
    prepared: Prepared = deploy(sandbox, born_template, STACK)
    assert prepared.template
    for key, value in environment_of(sandbox, outputs(sandbox)["ScanFunctionName"]).items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-30T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {},
    }
    scan_handler.handler(scheduled, context())  # creates frontguard's prefix lists
    reset_runtime()
    capsys.readouterr()  # the scan's log lines
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(BORN_POLICY))
    code = cli.main(["render", "born-protected", "--cluster", "prod", "--policy", str(policy_file)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rendered = [d for d in yaml.safe_load_all(captured.out) if d]
    prod.apply(as_stored(obj) for obj in rendered)  # the platform team's GitOps
    prod.kube.reset_requests()
    yield rendered


def label(obj: JSON) -> str:
    metadata = obj["metadata"]
    namespace = [metadata["namespace"]] if "namespace" in metadata else []
    return "born-protected " + "/".join([obj["kind"], *namespace, metadata["name"]])


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, JSON]]:
    """The doctor's born-protected checks of ``prod``, by name."""
    code = cli.main(["doctor", "--output", "json", "--no-publish"])
    report = json.loads(capsys.readouterr().out)
    return code, {
        c["name"]: c
        for c in report["checks"]
        if c["area"] == "cluster prod" and c["name"].startswith("born-protected")
    }


# --- present and as rendered ----------------------------------------------------------------


def test_all_rendered_objects_present_pass_with_one_read_each(
    born_deployed: list[JSON], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    kinds = {o["kind"] for o in born_deployed}
    assert {"IngressClassParams", "LoadBalancerConfiguration", "ValidatingAdmissionPolicy"} <= kinds

    code, checks = doctor(capsys)

    assert code == 0
    assert {label(o) for o in born_deployed} <= set(checks)
    assert {c["status"] for c in checks.values()} == {"pass"}
    binding = checks[f"born-protected ValidatingAdmissionPolicyBinding/{POLICY_NAME}"]
    assert "validationActions ['Warn']" in binding["detail"]
    # frontguard's prefix lists are what the class objects name
    named = [n for n in checks if n.startswith("born-protected prefix lists")]
    assert len(named) == sum(
        o["kind"] in ("IngressClassParams", "LoadBalancerConfiguration") for o in born_deployed
    )
    # One discovery document per API version and one GET per object; nothing written.
    requests = sandbox.clusters["prod"].kube.requests()
    versions = {o["apiVersion"] for o in born_deployed}
    prefixes = {f"/apis/{v}" if "/" in v else f"/api/{v}" for v in versions}
    discovery = {p: n for (m, p), n in requests.items() if m == "GET" and p in prefixes}
    assert discovery == dict.fromkeys(prefixes, 1)
    reads = sum(
        n
        for (m, p), n in requests.items()
        if m == "GET" and any(p.startswith(f"{prefix}/") for prefix in prefixes)
    )
    assert reads == len(born_deployed)
    writes = [(m, p) for m, p in requests if m != "GET" and not p.endswith("/subjectaccessreviews")]
    assert writes == []


def test_a_binding_switched_to_deny_is_accepted_and_reported(
    born_deployed: list[JSON], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.clusters["prod"].kube.patch_object(
        VALIDATING_POLICY_BINDINGS, None, POLICY_NAME, {"spec": {"validationActions": ["Deny"]}}
    )

    code, checks = doctor(capsys)

    assert code == 0
    binding = checks[f"born-protected ValidatingAdmissionPolicyBinding/{POLICY_NAME}"]
    assert binding["status"] == "pass"
    assert "validationActions ['Deny']" in binding["detail"]


@pytest.mark.parametrize("born_deployed", ["1.36"], indirect=True)
def test_on_kubernetes_1_36_the_service_policy_is_checked_too(
    born_deployed: list[JSON], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """What render adds for a version (the MutatingAdmissionPolicy for Services, EKS 1.36+)
    is checked with no code of its own in the doctor."""
    [binding] = [o for o in born_deployed if o["kind"] == "MutatingAdmissionPolicyBinding"]
    assert any(o["kind"] == "MutatingAdmissionPolicy" for o in born_deployed)

    code, checks = doctor(capsys)

    assert code == 0
    assert {label(o) for o in born_deployed} <= set(checks)
    assert checks[label(binding)]["status"] == "pass"

    sandbox.clusters["prod"].kube.delete_object(
        MUTATING_POLICY_BINDINGS, None, binding["metadata"]["name"]
    )
    code, checks = doctor(capsys)

    assert code == 1
    assert [n for n, c in checks.items() if c["status"] == "fail"] == [label(binding)]


def test_below_kubernetes_1_36_no_service_policy_is_expected(
    born_deployed: list[JSON], capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks = doctor(capsys)

    assert code == 0
    assert not [n for n in checks if "MutatingAdmissionPolicy" in n]


# --- missing --------------------------------------------------------------------------------


def test_a_deleted_object_is_reported_missing_with_the_fix(
    born_deployed: list[JSON], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    params = next(o for o in born_deployed if o["kind"] == "IngressClassParams")
    sandbox.clusters["prod"].kube.delete_object(
        INGRESS_CLASS_PARAMS, None, params["metadata"]["name"]
    )

    code, checks = doctor(capsys)

    assert code == 1
    failing = {n: c for n, c in checks.items() if c["status"] == "fail"}
    assert list(failing) == [label(params)]
    assert failing[label(params)]["detail"] == "missing"
    assert "frontguard render born-protected --cluster prod" in failing[label(params)]["fix"]
    assert "kubectl apply -f -" in failing[label(params)]["fix"]


# --- drifted --------------------------------------------------------------------------------


def widen_inbound_cidrs(sandbox: Sandbox, rendered: list[JSON]) -> tuple[JSON, str]:
    params = next(o for o in rendered if o["kind"] == "IngressClassParams")
    sandbox.clusters["prod"].kube.patch_object(
        INGRESS_CLASS_PARAMS,
        None,
        params["metadata"]["name"],
        {"spec": {"inboundCIDRs": ["0.0.0.0/0"]}},
    )
    return params, "spec.inboundCIDRs: ['0.0.0.0/0']"


def change_source_ranges(sandbox: Sandbox, rendered: list[JSON]) -> tuple[JSON, str]:
    config = next(o for o in rendered if o["kind"] == "LoadBalancerConfiguration")
    sandbox.clusters["prod"].kube.patch_object(
        LB_CONFIGURATIONS,
        config["metadata"]["namespace"],
        config["metadata"]["name"],
        {"spec": {"sourceRanges": ["192.0.2.0/24"]}},
    )
    return config, "spec.sourceRanges: ['192.0.2.0/24']"


def remove_a_validation(sandbox: Sandbox, rendered: list[JSON]) -> tuple[JSON, str]:
    policy = next(o for o in rendered if o["kind"] == "ValidatingAdmissionPolicy")
    validations = policy["spec"]["validations"]
    sandbox.clusters["prod"].kube.patch_object(
        VALIDATING_POLICIES, None, POLICY_NAME, {"spec": {"validations": validations[1:]}}
    )
    return policy, f"spec.validations: {len(validations) - 1} items, rendered {len(validations)}"


def loosen_a_validation(sandbox: Sandbox, rendered: list[JSON]) -> tuple[JSON, str]:
    policy = next(o for o in rendered if o["kind"] == "ValidatingAdmissionPolicy")
    validations = copy.deepcopy(policy["spec"]["validations"])
    validations[1]["expression"] = "true"
    sandbox.clusters["prod"].kube.patch_object(
        VALIDATING_POLICIES, None, POLICY_NAME, {"spec": {"validations": validations}}
    )
    return policy, "spec.validations[1].expression: 'true'"


EDITS: list[Callable[[Sandbox, list[JSON]], tuple[JSON, str]]] = [
    widen_inbound_cidrs,
    change_source_ranges,
    remove_a_validation,
    loosen_a_validation,
]


@pytest.mark.parametrize("edit", EDITS, ids=[e.__name__ for e in EDITS])
def test_an_edited_object_is_reported_drifted_naming_the_path(
    born_deployed: list[JSON],
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[Sandbox, list[JSON]], tuple[JSON, str]],
) -> None:
    edited, path = edit(sandbox, born_deployed)

    code, checks = doctor(capsys)

    assert code == 1
    failing = {n: c for n, c in checks.items() if c["status"] == "fail"}
    assert list(failing) == [label(edited)]
    detail = failing[label(edited)]["detail"]
    assert detail.startswith("drifted from the rendered object: ")
    assert path in detail, detail
    assert "rendered" in detail


# --- prefix lists ---------------------------------------------------------------------------


def test_a_prefix_list_frontguard_does_not_own_fails(
    born_deployed: list[JSON], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = sandbox.client("ec2").create_managed_prefix_list(
        PrefixListName="team-wide-open",
        AddressFamily="IPv4",
        MaxEntries=5,
        Entries=[{"Cidr": "0.0.0.0/0"}],
    )["PrefixList"]["PrefixListId"]
    config = next(o for o in born_deployed if o["kind"] == "LoadBalancerConfiguration")
    sandbox.clusters["prod"].kube.patch_object(
        LB_CONFIGURATIONS,
        config["metadata"]["namespace"],
        config["metadata"]["name"],
        {"spec": {"securityGroupPrefixes": [*config["spec"]["securityGroupPrefixes"], foreign]}},
    )

    code, checks = doctor(capsys)

    assert code == 1
    named = label(config).replace("born-protected", "born-protected prefix lists", 1)
    assert checks[named]["status"] == "fail"
    assert foreign in checks[named]["detail"]
    assert "not a list frontguard owns" in checks[named]["detail"]
    assert checks[label(config)]["status"] == "fail"  # and it is drift from the rendering


def test_without_the_prefix_lists_the_doctor_says_to_let_the_scan_create_them(
    born_deployed: list[JSON], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = sandbox.client("ec2")
    for pl in ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "tag:frontguard.io/managed-by", "Values": ["frontguard"]}]
    )["PrefixLists"]:
        ec2.delete_managed_prefix_list(PrefixListId=pl["PrefixListId"])

    code, checks = doctor(capsys)

    assert code == 1
    assert checks["born-protected"]["status"] == "fail"
    assert "let the scan create them" in checks["born-protected"]["detail"]


# --- clusters not opted in ------------------------------------------------------------------


def test_a_cluster_not_opted_in_gets_no_born_protected_check(
    deployed: Prepared, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "born_protected" not in POLICY

    code, checks = doctor(capsys)

    assert code == 0
    assert checks == {}


def test_a_kind_the_cluster_does_not_serve_is_reported_missing_with_its_api(
    born_deployed: list[JSON], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cluster older than Kubernetes 1.30 serves no admissionregistration.k8s.io/v1."""
    kube = sandbox.clusters["prod"].kube
    kube.inject(
        lambda method, path, headers: (
            404 if path.startswith("/apis/admissionregistration.k8s.io/v1") else None
        )
    )

    code, checks = doctor(capsys)

    assert code == 1
    failing = {n: c["detail"] for n, c in checks.items() if c["status"] == "fail"}
    assert failing == {
        f"born-protected {kind}/{POLICY_NAME}": "missing (the cluster does not serve "
        "admissionregistration.k8s.io/v1)"
        for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    }
    assert kube.requests()[("GET", "/apis/admissionregistration.k8s.io/v1")] == 1
