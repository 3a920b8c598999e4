"""Behaviours of the synthesized stack: triggers, queues, failure handling, encryption, logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Match, Template

from tests.infra.conftest import CLUSTERS, POLICY, Synthesized, logical_id, resources

CLOUDTRAIL = "AWS API Call via CloudTrail"
RBAC = Path(__file__).resolve().parents[2] / "infra" / "rbac.yaml"


def function_id(template: Template, name: str) -> str:
    return logical_id(template, "AWS::Lambda::Function", f"{name}Function")


def rule(template: Template, name: str) -> dict[str, Any]:
    found = resources(template, "AWS::Events::Rule")
    return dict(found[logical_id(template, "AWS::Events::Rule", f"Triggers{name}")]["Properties"])


def test_create_load_balancer_rule_matches_successful_elbv2_calls_only(
    minimal: Synthesized,
) -> None:
    properties = rule(minimal.template, "CreateLoadBalancer")
    assert properties["EventPattern"] == {
        "source": ["aws.elasticloadbalancing"],
        "detail-type": [CLOUDTRAIL],
        "detail": {
            "eventSource": ["elasticloadbalancing.amazonaws.com"],
            "eventName": ["CreateLoadBalancer"],
            "apiVersion": ["2015-12-01"],
            "errorCode": [{"exists": False}],
        },
    }
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id(minimal.template, "Events"), "Arn"]}
    assert "InputTransformer" not in target  # the handler gets the CloudTrail event as is
    failures = logical_id(minimal.template, "AWS::SQS::Queue", "EventsFailures")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [failures, "Arn"]}}


@pytest.mark.parametrize(
    ("name", "source", "event_source", "calls"),
    [
        (
            "Elbv2Drift",
            "aws.elasticloadbalancing",
            "elasticloadbalancing.amazonaws.com",
            ["SetSecurityGroups", "DeleteLoadBalancer", "CreateListener", "ModifyListener"],
        ),
        (
            "Ec2Drift",
            "aws.ec2",
            "ec2.amazonaws.com",
            ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "DeleteSecurityGroup"],
        ),
    ],
)
def test_drift_rules_hand_the_cloudtrail_event_to_the_scan(
    minimal: Synthesized, name: str, source: str, event_source: str, calls: list[str]
) -> None:
    properties = rule(minimal.template, name)
    pattern = properties["EventPattern"]
    assert pattern["source"] == [source]
    assert pattern["detail-type"] == [CLOUDTRAIL]
    assert pattern["detail"]["eventSource"] == [event_source]
    assert pattern["detail"]["eventName"] == calls
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    if source == "aws.elasticloadbalancing":
        assert pattern["detail"]["apiVersion"] == ["2015-12-01"]
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id(minimal.template, "Scan"), "Arn"]}
    assert "InputTransformer" not in target


def test_schedule_rule_runs_the_scan(minimal: Synthesized) -> None:
    properties = rule(minimal.template, "Schedule")
    assert properties["ScheduleExpression"] == "rate(30 minutes)"
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id(minimal.template, "Scan"), "Arn"]}


@pytest.mark.parametrize(
    ("name", "handler", "memory", "timeout"),
    [
        ("Events", "frontguard.handlers.events.handler", 512, 120),
        ("Verify", "frontguard.handlers.verify.handler", 512, 120),
        ("Scan", "frontguard.handlers.scan.handler", 1769, 900),
        ("Remediate", "frontguard.handlers.remediate.handler", 512, 120),
    ],
)
def test_functions_run_python_on_arm64_with_the_contracted_environment(
    minimal: Synthesized, name: str, handler: str, memory: int, timeout: int
) -> None:
    function = resources(minimal.template, "AWS::Lambda::Function")[
        function_id(minimal.template, name)
    ]["Properties"]
    assert function["Handler"] == handler
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["MemorySize"] == memory
    assert function["Timeout"] == timeout
    variables = function["Environment"]["Variables"]
    assert json.loads(variables["FRONTGUARD_POLICY"]) == POLICY
    assert "FRONTGUARD_POLICY_PARAMETER" not in variables
    assert set(variables) == {
        "FRONTGUARD_POLICY",
        "FRONTGUARD_ALERT_TOPIC_ARN",
        "FRONTGUARD_VERIFY_QUEUE_URL",
        "FRONTGUARD_STATE_TABLE",
        "FRONTGUARD_REMEDIATION_QUEUE_URL",
        "FRONTGUARD_REMEDIATION_PACE_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
    assert variables["POWERTOOLS_SERVICE_NAME"] == "frontguard"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Frontguard"
    log_group = logical_id(minimal.template, "AWS::Logs::LogGroup", f"{name}Logs")
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}


def test_every_function_log_group_has_the_configured_retention(minimal: Synthesized) -> None:
    groups = resources(minimal.template, "AWS::Logs::LogGroup")
    assert len(groups) == 4
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {90}


def test_only_the_scan_is_limited_to_one_concurrent_run(minimal: Synthesized) -> None:
    functions = resources(minimal.template, "AWS::Lambda::Function")
    limited = {
        name
        for name, function in functions.items()
        if "ReservedConcurrentExecutions" in function["Properties"]
    }
    assert limited == {function_id(minimal.template, "Scan")}
    assert (
        functions[function_id(minimal.template, "Scan")]["Properties"][
            "ReservedConcurrentExecutions"
        ]
        == 1
    )


@pytest.mark.parametrize("name", ["Events", "Scan"])
def test_asynchronous_failures_go_to_a_queue(minimal: Synthesized, name: str) -> None:
    template = minimal.template
    failures = logical_id(template, "AWS::SQS::Queue", f"{name}Failures")
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": function_id(template, name)},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [failures, "Arn"]}}},
        },
    )


def test_verify_consumes_its_queue_reporting_partial_batch_failures(
    minimal: Synthesized,
) -> None:
    template = minimal.template
    queue = logical_id(template, "AWS::SQS::Queue", "VerificationQueue")
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id(template, "Verify")},
            "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    dead_letters = logical_id(template, "AWS::SQS::Queue", "VerificationDeadLetterQueue")
    properties = resources(template, "AWS::SQS::Queue")[queue]["Properties"]
    assert properties["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
        "maxReceiveCount": 5,
    }
    assert properties["VisibilityTimeout"] == 6 * 120


def test_remediate_consumes_the_scans_queue_with_bounded_concurrency(
    minimal: Synthesized,
) -> None:
    template = minimal.template
    queue = logical_id(template, "AWS::SQS::Queue", "RemediationQueue")
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id(template, "Remediate")},
            "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 5,
            "ScalingConfig": {"MaximumConcurrency": 2},
        },
    )
    dead_letters = logical_id(template, "AWS::SQS::Queue", "RemediationDeadLetterQueue")
    properties = resources(template, "AWS::SQS::Queue")[queue]["Properties"]
    assert properties["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
        "maxReceiveCount": 3,
    }
    assert properties["VisibilityTimeout"] == 6 * 120
    scan = resources(template, "AWS::Lambda::Function")[function_id(template, "Scan")]
    variables = scan["Properties"]["Environment"]["Variables"]
    assert variables["FRONTGUARD_REMEDIATION_QUEUE_URL"] == {"Ref": queue}


def test_every_dead_letter_queue_has_a_depth_alarm_that_notifies_the_topic(
    minimal: Synthesized,
) -> None:
    template = minimal.template
    topic = {"Ref": logical_id(template, "AWS::SNS::Topic", "AlertsTopic")}
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    depth_alarms = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in alarms
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["AlarmActions"] == [topic]
    }
    assert depth_alarms == {
        logical_id(template, "AWS::SQS::Queue", "EventsFailures"),
        logical_id(template, "AWS::SQS::Queue", "ScanFailures"),
        logical_id(template, "AWS::SQS::Queue", "VerificationDeadLetterQueue"),
        logical_id(template, "AWS::SQS::Queue", "RemediationDeadLetterQueue"),
    }


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_alarm_on(minimal: Synthesized, metric: str) -> None:
    template = minimal.template
    topic = {"Ref": logical_id(template, "AWS::SNS::Topic", "AlertsTopic")}
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == metric
        and alarm["Properties"]["AlarmActions"] == [topic]
    }
    assert alarmed == {
        function_id(template, name) for name in ("Events", "Verify", "Scan", "Remediate")
    }


def test_dashboard_shows_outcomes_compliance_verification_and_lambda_health(
    minimal: Synthesized,
) -> None:
    (dashboard,) = resources(minimal.template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Outcomes over time",
        "Non-compliant load balancers by cluster",
        "Verifications",
        "Lambda errors",
        "Lambda throttles",
        "Dead-letter queue depth",
    ):
        assert title in body
    # the metric names the handlers publish
    for metric in ("lb-remediated", "lb-audit-finding", "verification-verification-failed"):
        assert metric in body
    for cluster in CLUSTERS:
        assert f'\\"cluster\\",\\"{cluster}\\"' in body


def test_alert_topic_is_kms_encrypted_with_rotation_and_tls_only(minimal: Synthesized) -> None:
    template = minimal.template
    key = logical_id(template, "AWS::KMS::Key", "AlertsKey")
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "security@example.com"}
    )


def test_every_queue_is_encrypted_and_tls_only(minimal: Synthesized) -> None:
    template = minimal.template
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 6  # verification, remediation, their DLQs, two failure queues
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    policies = resources(template, "AWS::SQS::QueuePolicy").values()
    tls_only = {
        ref["Ref"]
        for policy in policies
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for ref in policy["Properties"]["Queues"]
    }
    assert tls_only == set(queues)


def test_state_table_has_the_contracted_keys_and_ttl(minimal: Synthesized) -> None:
    minimal.template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


def test_each_cluster_maps_each_function_role_to_the_frontguard_group(
    minimal: Synthesized,
) -> None:
    template = minimal.template
    entries = resources(template, "AWS::EKS::AccessEntry").values()
    mapped = {
        (entry["Properties"]["ClusterName"], entry["Properties"]["PrincipalArn"]["Fn::GetAtt"][0])
        for entry in entries
        if entry["Properties"]["KubernetesGroups"] == ["frontguard"]
        and entry["Properties"]["Type"] == "STANDARD"
    }
    roles = {
        logical_id(template, "AWS::IAM::Role", name)
        for name in ("Events", "Verify", "Scan", "Remediate")
    }
    assert mapped == {(cluster, role) for cluster in CLUSTERS for role in roles}


def test_rbac_manifest_grants_the_minimal_verbs_to_the_frontguard_group() -> None:
    role, binding = yaml.safe_load_all(RBAC.read_text())
    rules = {
        (group, resource): sorted(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("", "services"): ["get", "list", "patch"],
        ("networking.k8s.io", "ingresses"): ["get", "list", "patch"],
        ("networking.k8s.io", "ingressclasses"): ["get", "list"],
        ("elbv2.k8s.aws", "ingressclassparams"): ["get", "list"],
        ("eks.amazonaws.com", "ingressclassparams"): ["get", "list"],
        ("gateway.networking.k8s.io", "gateways"): ["get", "patch"],
        ("gateway.networking.k8s.io", "gatewayclasses"): ["get"],
        ("gateway.k8s.aws", "loadbalancerconfigurations"): [
            "create",
            "delete",
            "get",
            "list",
            "patch",
        ],
        ("", "events"): ["list"],
    }
    assert binding["kind"] == "ClusterRoleBinding"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "frontguard"}
    ]


def test_one_stack_per_target_with_policy_parameter_slack_and_vpc(full: Synthesized) -> None:
    assert sorted(full.templates) == [
        "Frontguard-123456789012-eu-west-1",
        "Frontguard-210987654321-us-east-1",
    ]
    template = full.template
    for function in resources(template, "AWS::Lambda::Function").values():
        properties = function["Properties"]
        variables = properties["Environment"]["Variables"]
        assert variables["FRONTGUARD_POLICY_PARAMETER"] == "/frontguard/policy"
        assert "FRONTGUARD_POLICY" not in variables
        assert properties["VpcConfig"] == {
            "SubnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
            "SecurityGroupIds": ["sg-0cccccccccccccccc"],
        }
    template.has_resource_properties(
        "AWS::Chatbot::SlackChannelConfiguration",
        {"SlackWorkspaceId": "T0123", "SlackChannelId": "C0456"},
    )
