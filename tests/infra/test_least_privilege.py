"""Each function's role grants exactly the actions its code declares, scoped and conditioned."""

from __future__ import annotations

import json
from typing import Any

import pytest
from frontguard import permissions
from frontguard.tags import MANAGED_BY_TAG, MANAGED_BY_VALUE

from infra.functions import QUEUE_CONSUMER_ACTIONS, VPC_ENI_ACTIONS
from infra.least_privilege import TOPIC_KEY_ACTIONS
from tests.infra.conftest import ACCOUNT, CLUSTERS, REGION, Synthesized, logical_id, resources

DECLARED = {
    "Events": permissions.EVENTS_FUNCTION,
    "Verify": permissions.VERIFY_FUNCTION,
    "Scan": permissions.SCAN_FUNCTION,
    "Remediate": permissions.REMEDIATE_FUNCTION,
}
SG_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*"
VPC_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/*"
TAG_CONDITIONS = {
    "aws:RequestTag": {"StringEquals": {f"aws:RequestTag/{MANAGED_BY_TAG}": MANAGED_BY_VALUE}},
    "aws:ResourceTag": {"StringEquals": {f"aws:ResourceTag/{MANAGED_BY_TAG}": MANAGED_BY_VALUE}},
    "ec2:CreateAction": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
    # Tag-on-create of frontguard's prefix lists (born protected), whose creation itself
    # requires frontguard's tag in the request.
    "ec2:CreateAction/prefix-list": {
        "StringEquals": {"ec2:CreateAction": "CreateManagedPrefixList"}
    },
}


def statements(synth: Synthesized, function: str) -> list[dict[str, Any]]:
    template = synth.template
    role = resources(template, "AWS::IAM::Role")[logical_id(template, "AWS::IAM::Role", function)]
    policies = role["Properties"]["Policies"]
    assert [p["PolicyName"] for p in policies] == ["frontguard"]
    found: list[dict[str, Any]] = policies[0]["PolicyDocument"]["Statement"]
    return found


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def untagged_ec2_mutations(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(sid, action) for every mutating EC2 grant without frontguard's tag condition.

    Exempt by design: CreateSecurityGroup on VPCs (AWS authorises it against the VPC too,
    which has no frontguard tag) and the Lambda service's own VPC network interfaces.
    """
    offending = []
    for statement in found:
        for action in actions_of(statement):
            service, _, name = action.partition(":")
            if service != "ec2" or name.startswith(("Describe", "Get", "List")):
                continue
            if statement.get("Sid") == "PlatformVpcNetworkInterfaces" and action in VPC_ENI_ACTIONS:
                continue
            if action == "ec2:CreateSecurityGroup" and resources_of(statement) == [VPC_ARN]:
                continue
            if statement.get("Condition") not in TAG_CONDITIONS.values():
                offending.append((statement.get("Sid", "?"), action))
    return offending


@pytest.mark.parametrize("function", sorted(DECLARED))
def test_code_statements_grant_exactly_the_declared_actions(
    minimal: Synthesized, function: str
) -> None:
    granted = {
        action
        for statement in statements(minimal, function)
        if statement["Sid"].startswith("Code")
        for action in actions_of(statement)
    }
    assert granted == set(DECLARED[function]) | set(TOPIC_KEY_ACTIONS) | set(
        permissions.POLICY_PARAMETER
    )


@pytest.mark.parametrize("function", sorted(DECLARED))
def test_platform_statements_are_only_what_lambda_itself_needs(
    minimal: Synthesized, function: str
) -> None:
    platform = {
        statement["Sid"]: set(actions_of(statement))
        for statement in statements(minimal, function)
        if not statement["Sid"].startswith("Code")
    }
    expected: dict[str, set[str]] = {"PlatformLogs": {"logs:CreateLogStream", "logs:PutLogEvents"}}
    if function in ("Verify", "Scan", "Remediate"):  # queue consumers
        expected["PlatformEventSource"] = set(QUEUE_CONSUMER_ACTIONS)
    else:
        expected["PlatformFailureDestination"] = {"sqs:SendMessage"}
    assert platform == expected


@pytest.mark.parametrize("function", sorted(DECLARED))
def test_every_mutating_ec2_action_carries_a_tag_condition(
    minimal: Synthesized, full: Synthesized, function: str
) -> None:
    assert untagged_ec2_mutations(statements(minimal, function)) == []
    assert untagged_ec2_mutations(statements(full, function)) == []


def test_the_tag_check_flags_an_unconditioned_mutation() -> None:
    bad = [{"Sid": "Oops", "Effect": "Allow", "Action": "ec2:DeleteSecurityGroup", "Resource": "*"}]
    wrong_tag = [
        {
            "Sid": "Other",
            "Action": ["ec2:AuthorizeSecurityGroupIngress"],
            "Resource": SG_ARN,
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "x"}},
        }
    ]
    assert untagged_ec2_mutations(bad) == [("Oops", "ec2:DeleteSecurityGroup")]
    assert untagged_ec2_mutations(wrong_tag) == [("Other", "ec2:AuthorizeSecurityGroupIngress")]


@pytest.mark.parametrize("function", ["Events", "Scan", "Remediate"])
def test_security_group_mutations_are_scoped_to_frontguard_security_groups(
    minimal: Synthesized, function: str
) -> None:
    by_sid = {s["Sid"]: s for s in statements(minimal, function)}
    assert by_sid["CodeCreateSecurityGroup"]["Resource"] == SG_ARN
    assert by_sid["CodeCreateSecurityGroup"]["Condition"] == TAG_CONDITIONS["aws:RequestTag"]
    assert by_sid["CodeCreateSecurityGroup1"]["Resource"] == VPC_ARN
    assert "Condition" not in by_sid["CodeCreateSecurityGroup1"]
    assert by_sid["CodeTagOnCreate"] == {
        "Sid": "CodeTagOnCreate",
        "Effect": "Allow",
        "Action": "ec2:CreateTags",
        "Resource": SG_ARN,
        "Condition": TAG_CONDITIONS["ec2:CreateAction"],
    }
    assert by_sid["CodeMutateOwnSecurityGroups"]["Resource"] == SG_ARN
    assert by_sid["CodeMutateOwnSecurityGroups"]["Condition"] == TAG_CONDITIONS["aws:ResourceTag"]


def test_only_the_scan_deletes_security_groups(minimal: Synthesized) -> None:
    deleters = {
        function
        for function in DECLARED
        for statement in statements(minimal, function)
        if "ec2:DeleteSecurityGroup" in actions_of(statement)
    }
    assert deleters == {"Scan"}


@pytest.mark.parametrize("function", sorted(DECLARED))
def test_resources_are_scoped(minimal: Synthesized, function: str) -> None:
    template = minimal.template
    by_sid = {s["Sid"]: s for s in statements(minimal, function)}
    assert by_sid["CodeRead"]["Resource"] == "*"
    assert by_sid["CodeDescribeClusters"]["Resource"] == [
        f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}" for name in CLUSTERS
    ]
    topic = logical_id(template, "AWS::SNS::Topic", "AlertsTopic")
    assert by_sid["CodePublishAlert"]["Resource"] == {"Ref": topic}
    key = logical_id(template, "AWS::KMS::Key", "AlertsKey")
    assert by_sid["CodePublishAlertKey"]["Resource"] == {"Fn::GetAtt": [key, "Arn"]}
    queue = logical_id(template, "AWS::SQS::Queue", "VerificationQueue")
    assert by_sid["CodeEnqueueVerification"]["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    table = logical_id(template, "AWS::DynamoDB::GlobalTable", "StateTable")
    assert by_sid["CodeStateTable"]["Resource"] == {"Fn::GetAtt": [table, "Arn"]}
    # The inline policy lives in the stack's own parameter (deploy audit 3).
    assert by_sid["CodeReadPolicyParameter"]["Resource"] == (
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/frontguard/Frontguard-{ACCOUNT}-{REGION}/policy"
    )
    remediation = logical_id(template, "AWS::SQS::Queue", "RemediationQueue")
    if function == "Scan":  # only the scan sends repairs to the remediation queue
        assert by_sid["CodeEnqueueRemediation"]["Resource"] == {"Fn::GetAtt": [remediation, "Arn"]}
    else:
        assert "CodeEnqueueRemediation" not in by_sid


def test_no_wildcard_actions_anywhere(minimal: Synthesized, full: Synthesized) -> None:
    for synth in (minimal, full):
        for function in DECLARED:
            for statement in statements(synth, function):
                assert statement["Effect"] == "Allow"
                assert all("*" not in action for action in actions_of(statement)), statement


@pytest.mark.parametrize("function", sorted(DECLARED))
def test_policy_parameter_adds_only_get_parameter_on_that_parameter(
    full: Synthesized, function: str
) -> None:
    found = statements(full, function)
    code = {a for s in found if s["Sid"].startswith("Code") for a in actions_of(s)}
    assert code == set(DECLARED[function]) | set(TOPIC_KEY_ACTIONS) | set(
        permissions.POLICY_PARAMETER
    ) | set(permissions.SECURITY_HUB)
    by_sid = {s["Sid"]: s for s in found}
    assert by_sid["CodeReadPolicyParameter"]["Resource"] == (
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/frontguard/policy"
    )
    assert set(actions_of(by_sid["PlatformVpcNetworkInterfaces"])) == set(VPC_ENI_ACTIONS)


@pytest.mark.parametrize("function", sorted(DECLARED))
def test_security_hub_is_granted_only_when_switched_on_and_only_on_the_own_hub(
    minimal: Synthesized, full: Synthesized, function: str
) -> None:
    off = {a for s in statements(minimal, function) for a in actions_of(s)}
    assert not any(action.startswith("securityhub:") for action in off)
    environment = resources(minimal.template, "AWS::Lambda::Function")
    assert all(
        "FRONTGUARD_SECURITY_HUB" not in f["Properties"]["Environment"]["Variables"]
        for f in environment.values()
    )

    by_sid = {s["Sid"]: s for s in statements(full, function)}
    assert set(actions_of(by_sid["CodeImportFindings"])) == {"securityhub:BatchImportFindings"}
    assert by_sid["CodeImportFindings"]["Resource"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    )
    assert set(actions_of(by_sid["CodeFindingsWorkflow"])) == {
        "securityhub:BatchUpdateFindings",
        "securityhub:GetFindings",
    }
    assert by_sid["CodeFindingsWorkflow"]["Resource"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT}:hub/default"
    )
    functions = resources(full.template, "AWS::Lambda::Function")
    assert {
        f["Properties"]["Environment"]["Variables"].get("FRONTGUARD_SECURITY_HUB")
        for f in functions.values()
        # The canary writes no findings (tests/infra/test_canary.py: exactly its reads).
        if f["Properties"]["Handler"] != "frontguard.handlers.canary.handler"
    } == {"true"}


def test_scan_role_reads_only_and_trusts_only_the_scanning_account_in_the_organization(
    minimal: Synthesized, full: Synthesized
) -> None:
    assert not [
        name
        for name in resources(minimal.template, "AWS::IAM::Role")
        if name.startswith("OrganizationScanRole")
    ]
    template = full.template
    role = resources(template, "AWS::IAM::Role")[
        logical_id(template, "AWS::IAM::Role", "OrganizationScanRole")
    ]
    properties = role["Properties"]
    assert properties["RoleName"] == "frontguard-scan"
    [trust] = properties["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}}
    principal = json.dumps(trust["Principal"])
    assert "111122223333" in principal and ACCOUNT not in principal
    [policy] = properties["Policies"]
    granted = {a for s in policy["PolicyDocument"]["Statement"] for a in actions_of(s)}
    assert granted == set(permissions.AUDIT_SCAN)
    assert not any(
        a.split(":")[1].startswith(
            ("Create", "Delete", "Authorize", "Revoke", "Publish", "Send", "Put", "Update", "Batch")
        )
        for a in granted
    )
    entries = [
        e["Properties"]
        for name, e in resources(template, "AWS::EKS::AccessEntry").items()
        if name.startswith("OrganizationScanRole")
    ]
    assert [e["ClusterName"] for e in entries] == list(full.config.targets[0].clusters)
    assert all(
        e["AccessPolicies"]
        == [
            {
                "PolicyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                "AccessScope": {"Type": "cluster"},
            }
        ]
        and "KubernetesGroups" not in e
        for e in entries
    )


def test_only_the_scan_creates_and_modifies_prefix_lists_and_only_frontguards(
    minimal: Synthesized,
) -> None:
    """Born protected (docs/born-protected.md): the scan keeps frontguard's prefix lists; a
    list widens every load balancer referencing it, so nobody else's list is modifiable."""
    for function in sorted(DECLARED):
        found = statements(minimal, function)
        lists = [s for s in found if "prefix-list" in json.dumps(s.get("Resource"))]
        if function != "Scan":
            assert lists == []
            continue
        by_action = {a: s for s in lists for a in actions_of(s)}
        assert set(by_action) == {
            "ec2:CreateManagedPrefixList",
            "ec2:ModifyManagedPrefixList",
            "ec2:CreateTags",
        }
        assert by_action["ec2:CreateManagedPrefixList"]["Condition"] == {
            "StringEquals": {"aws:RequestTag/frontguard.io/managed-by": "frontguard"}
        }
        assert by_action["ec2:ModifyManagedPrefixList"]["Condition"] == {
            "StringEquals": {"aws:ResourceTag/frontguard.io/managed-by": "frontguard"}
        }
        assert by_action["ec2:CreateTags"]["Condition"] == {
            "StringEquals": {"ec2:CreateAction": "CreateManagedPrefixList"}
        }
