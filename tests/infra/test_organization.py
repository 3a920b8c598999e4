"""The organization roll-out synthesizes offline, passes cdk-nag and cfn-lint, and its member
template needs nothing from a per-account CDK bootstrap."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cfnlint.api
import pytest
from aws_cdk.assertions import Template

from app import build
from infra.config import parse_config
from tests.infra import iam_eval
from tests.infra.conftest import POLICY
from tests.infra.test_compliance import CFN_LINT_IGNORED, nag_violations

ADMIN = "111122223333"
ORG = "o-abcdef1234"
SCANNER = "444455556666"  # the account the cross-account scan runs from
SECURITY = "777788889999"  # the security account: the organization's alert topic
OUS = ["ou-ab12-cdef3456", "ou-ab12-99999999"]
REGIONS = ["eu-west-1", "us-east-1"]
ORGANIZATION: dict[str, Any] = {
    "policy": POLICY,
    "alerts": {"emails": ["security@example.com"]},
    "security_hub": True,
    "scan_role": {"trusted_accounts": [SCANNER], "organization_id": ORG},
    "central_alerts": {
        "account": SECURITY,
        "region": "eu-west-1",
        "organization_id": ORG,
        "emails": ["soc@example.com"],
    },
    "organization": {
        "admin_account": ADMIN,
        "admin_region": "eu-west-1",
        "organization_id": ORG,
        "organizational_units": OUS,
        "regions": REGIONS,
        "failure_tolerance_percentage": 20,
        "max_concurrent_percentage": 50,
    },
}


class Synth:
    def __init__(self, outdir: Path, stacks: list[cdk.Stack]) -> None:
        self.outdir = outdir
        self.templates = {s.stack_name: Template.from_stack(s) for s in stacks}
        self.member_file = next(outdir.glob("*.stackset.template.json"))
        self.member: dict[str, Any] = json.loads(self.member_file.read_text())

    def admin(self) -> Template:
        return self.templates["FrontguardStackSet"]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    outdir = tmp_path_factory.mktemp("cdk-organization")
    app = cdk.App(outdir=str(outdir))
    stacks = build(app, parse_config(ORGANIZATION, source="test"))
    app.synth()  # offline; raises on any unacknowledged cdk-nag finding
    yield Synth(outdir, stacks)


def resources_of(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_stack_set_is_service_managed_with_automatic_deployment_to_the_ous(org: Synth) -> None:
    [stack_set] = org.admin().find_resources("AWS::CloudFormation::StackSet").values()
    properties = stack_set["Properties"]
    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["CallAs"] == "DELEGATED_ADMIN"
    assert properties["AutoDeployment"] == {
        "Enabled": True,
        "RetainStacksOnAccountRemoval": False,
    }
    [group] = properties["StackInstancesGroup"]
    assert group["DeploymentTargets"]["OrganizationalUnitIds"] == OUS
    assert group["Regions"] == REGIONS
    assert properties["OperationPreferences"] == {
        "FailureTolerancePercentage": 20,
        "MaxConcurrentPercentage": 50,
        "RegionConcurrencyType": "PARALLEL",
    }
    assert properties["Capabilities"] == ["CAPABILITY_NAMED_IAM"]


def test_member_template_needs_no_per_account_bootstrap(org: Synth) -> None:
    text = json.dumps(org.member)
    # No bootstrap version check, no bootstrap bucket, role or SSM parameter of the CDK
    # toolkit: a fresh account can run it as is.
    assert "BootstrapVersion" not in org.member.get("Parameters", {})
    assert "cdk-hnb659fds" not in text
    assert "CheckBootstrapVersion" not in org.member.get("Rules", {})
    # Environment-agnostic: no account or region is written in (the code buckets' common
    # name prefix, which carries the administrator account, and the configured scanning
    # account aside).
    # The scan role's home-region condition aside (IAM roles are global: one region
    # creates it), tested below; the central topic's ARNs are configured too.
    body = {key: value for key, value in org.member.items() if key != "Conditions"}
    agnostic = (
        json.dumps(body)
        .replace(f"frontguard-code-{ADMIN}", "")
        .replace(f":iam::{SCANNER}:root", "")  # the scan role's trust, as configured
        .replace(f"eu-west-1:{SECURITY}:", "")  # the central alert topic and its key
    )
    assert not re.search(r"\b\d{12}\b", agnostic)
    assert not any(region in agnostic for region in REGIONS)
    functions = resources_of(org.member, "AWS::Lambda::Function")
    assert len(functions) >= 3
    for function in functions:
        code = function["Properties"]["Code"]
        assert code["S3Bucket"] == {
            "Fn::Join": ["-", [f"frontguard-code-{ADMIN}", {"Ref": "AWS::Region"}]]
        }


def test_code_buckets_exist_per_region_and_only_the_organization_reads_them(org: Synth) -> None:
    for region in REGIONS:
        template = org.templates[f"FrontguardAssets-{region}"]
        [bucket] = template.find_resources("AWS::S3::Bucket").values()
        assert bucket["Properties"]["BucketName"] == f"frontguard-code-{ADMIN}-{region}"
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        [policy] = template.find_resources("AWS::S3::BucketPolicy").values()
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        reads = [s for s in statements if s.get("Sid") == "OrganizationReadsCode"]
        assert [r["Condition"] for r in reads] == [{"StringEquals": {"aws:PrincipalOrgID": ORG}}]
        assert all(s["Effect"] == "Deny" for s in statements if s not in reads)  # TLS only
    copies = org.admin().find_resources("Custom::CDKBucketDeployment")
    assert sorted(c["Properties"]["DestinationBucketName"] for c in copies.values()) == sorted(
        f"frontguard-code-{ADMIN}-{region}" for region in REGIONS
    )


def test_member_functions_have_named_roles_for_the_clusters_access_entries(org: Synth) -> None:
    names = [
        r["Properties"].get("RoleName")
        for r in resources_of(org.member, "AWS::IAM::Role")
        if "Lambda"
        in json.dumps(r["Properties"]["AssumeRolePolicyDocument"]).replace("lambda", "Lambda")
    ]
    rendered = json.dumps(names)
    for function in ("events", "verify", "scan"):
        assert f"frontguard-{function}-" in rendered
    # Clusters differ per account: no access entry a missing cluster would fail.
    assert resources_of(org.member, "AWS::EKS::AccessEntry") == []


def test_organization_synth_passes_cdk_nag_and_cfn_lint(org: Synth) -> None:
    assert nag_violations(org.outdir) == []
    templates = [*org.outdir.glob("*.template.json")]
    assert org.member_file in templates
    for template in templates:
        matches = cfnlint.api.lint_file(
            template, config=cfnlint.api.ManualArgs(ignore_checks=CFN_LINT_IGNORED)
        )
        assert [str(m) for m in matches] == [], template


def test_organization_settings_are_validated() -> None:
    from infra.config import ConfigError

    bad = {**ORGANIZATION, "organization": {**ORGANIZATION["organization"], "regions": []}}
    with pytest.raises(ConfigError, match=r"organization\.regions"):
        parse_config(bad, source="test")
    nothing = {key: value for key, value in ORGANIZATION.items() if key != "organization"}
    with pytest.raises(ConfigError, match="targets"):
        parse_config(nothing, source="test")


def test_the_named_scan_role_is_created_in_one_region_of_each_account(org: Synth) -> None:
    [role] = [
        r
        for r in resources_of(org.member, "AWS::IAM::Role")
        if r["Properties"].get("RoleName") == "frontguard-scan"
    ]
    condition = org.member["Conditions"][role["Condition"]]
    assert condition == {"Fn::Equals": [{"Ref": "AWS::Region"}, REGIONS[0]]}


def test_members_publish_to_the_organizations_topic_which_only_the_organization_may_use(
    org: Synth,
) -> None:
    topic_arn = f"arn:aws:sns:eu-west-1:{SECURITY}:frontguard-organization-alerts"
    functions = resources_of(org.member, "AWS::Lambda::Function")
    variables = [f["Properties"]["Environment"]["Variables"] for f in functions]
    assert {
        v.get("FRONTGUARD_ALERT_TOPIC_ARN") for v in variables if "FRONTGUARD_STATE_TABLE" in v
    } == {topic_arn}
    statements = [
        s
        for role in resources_of(org.member, "AWS::IAM::Role")
        for policy in role["Properties"].get("Policies", [])
        for s in policy["PolicyDocument"]["Statement"]
    ]
    publish = [s for s in statements if s.get("Sid") == "CodePublishAlert"]
    assert publish and all(s["Resource"] == topic_arn for s in publish)
    keys = [s for s in statements if s.get("Sid") == "CodePublishAlertKey"]
    assert keys and all(
        s["Resource"] == f"arn:aws:kms:eu-west-1:{SECURITY}:key/*"
        and s["Condition"]
        == {
            "ForAnyValue:StringEquals": {
                "kms:ResourceAliases": "alias/frontguard-organization-alerts"
            }
        }
        for s in keys
    )

    central = org.templates["FrontguardCentralAlerts"]
    [topic] = central.find_resources("AWS::SNS::Topic").values()
    assert topic["Properties"]["TopicName"] == "frontguard-organization-alerts"
    [topic_policy] = central.find_resources("AWS::SNS::TopicPolicy").values()
    statements = topic_policy["Properties"]["PolicyDocument"]["Statement"]
    # R2-7: only the member stacks' function roles, in the organization (evaluated).
    member = "555566667777"
    in_org = {"aws:PrincipalOrgID": ORG}
    for function in ("events", "verify", "scan", "remediate"):
        role = f"arn:aws:iam::{member}:role/frontguard-{function}-us-east-1"
        assert iam_eval.allowed(
            statements,
            iam_eval.Request("sns:Publish", principal_arn=role, same_account=False, context=in_org),
        )
    refused = [
        (f"arn:aws:iam::{member}:role/developer", False, in_org),
        (f"arn:aws:iam::{member}:role/frontguard-scan", False, in_org),  # the org scan role
        ("arn:aws:iam::999999999999:role/frontguard-events-eu-west-1", False, {}),
        (f"arn:aws:iam::{SECURITY}:role/Admin", True, in_org),
    ]
    for principal, same_account, context in refused:
        request = iam_eval.Request(
            "sns:Publish", principal_arn=principal, same_account=same_account, context=context
        )
        assert not iam_eval.allowed(statements, request), principal
    [key] = central.find_resources("AWS::KMS::Key").values()
    org_grants = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "OrganizationPublishes"
    ]
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert [s["Condition"] for s in org_grants] == [allow["Condition"]]
    assert central.find_resources("AWS::SNS::Subscription")
