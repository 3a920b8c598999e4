"""Behaviours of the synthesized stack: triggers, queues, failure handling, encryption, logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Match, Template
from frontguard.handlers import malformed
from frontguard.model import Outcome

from tests.infra.conftest import CLUSTERS, POLICY, Synthesized, logical_id, resources

CLOUDTRAIL = "AWS API Call via CloudTrail"
CANARY_HANDLER = "frontguard.handlers.canary.handler"
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


def test_managed_sg_rule_starts_the_event_path_on_the_controllers_managed_sg(
    minimal: Synthesized,
) -> None:
    """Issue 17 item 4: CreateSecurityGroup whose request tags say ManagedLBSecurityGroup under
    one of the controller's four prefixes, successful calls only, to the events function."""
    properties = rule(minimal.template, "CreateManagedSecurityGroup")
    assert properties["EventPattern"] == {
        "source": ["aws.ec2"],
        "detail-type": [CLOUDTRAIL],
        "detail": {
            "eventSource": ["ec2.amazonaws.com"],
            "eventName": ["CreateSecurityGroup"],
            "errorCode": [{"exists": False}],
            "requestParameters": {
                "tagSpecificationSet": {
                    "items": {
                        "resourceType": ["security-group"],
                        "tags": {
                            "key": [
                                "ingress.k8s.aws/resource",
                                "service.k8s.aws/resource",
                                "gateway.k8s.aws.alb/resource",
                                "gateway.k8s.aws.nlb/resource",
                            ],
                            "value": ["ManagedLBSecurityGroup"],
                        },
                    }
                }
            },
        },
    }
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id(minimal.template, "Events"), "Arn"]}
    failures = logical_id(minimal.template, "AWS::SQS::Queue", "EventsFailures")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [failures, "Arn"]}}


@pytest.mark.parametrize(
    ("name", "source", "event_source", "calls"),
    [
        (
            "Elbv2Drift",
            "aws.elasticloadbalancing",
            "elasticloadbalancing.amazonaws.com",
            ["SetSecurityGroups", "CreateListener", "ModifyListener"],
        ),
        (
            "Ec2Drift",
            "aws.ec2",
            "ec2.amazonaws.com",
            [
                "AuthorizeSecurityGroupIngress",
                "RevokeSecurityGroupIngress",
                "ModifySecurityGroupRules",
                "ModifyManagedPrefixList",
            ],
        ),
    ],
)
def test_drift_rules_queue_the_cloudtrail_event_for_the_scan(
    minimal: Synthesized, name: str, source: str, event_source: str, calls: list[str]
) -> None:
    """Deploy audit 5 and 6: every call that changes SG rules or an LB's SGs (console edits come
    as ModifySecurityGroupRules), none the handler ignores (DeleteLoadBalancer,
    DeleteSecurityGroup), into the FIFO scan queue rather than the function."""
    template = minimal.template
    properties = rule(template, name)
    pattern = properties["EventPattern"]
    assert pattern["source"] == [source]
    assert pattern["detail-type"] == [CLOUDTRAIL]
    assert pattern["detail"]["eventSource"] == [event_source]
    assert pattern["detail"]["eventName"] == calls
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    if source == "aws.elasticloadbalancing":
        assert pattern["detail"]["apiVersion"] == ["2015-12-01"]
    (target,) = properties["Targets"]
    queue = logical_id(template, "AWS::SQS::Queue", "ScanQueueFifo")
    assert target["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert target["SqsParameters"] == {"MessageGroupId": "frontguard-scan"}
    undelivered = logical_id(template, "AWS::SQS::Queue", "ScanQueueUndelivered")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [undelivered, "Arn"]}}
    assert "InputTransformer" not in target


def test_drift_rules_exclude_the_remediating_roles_and_keep_callers_without_issuer(
    minimal: Synthesized,
) -> None:
    template = minimal.template
    roles = [
        {"Fn::GetAtt": [logical_id(template, "AWS::IAM::Role", name), "Arn"]}
        for name in ("Events", "Scan", "Remediate")
    ]
    for name in ("Elbv2Drift", "Ec2Drift"):
        either = rule(template, name)["EventPattern"]["detail"]["$or"]
        issuer = [e["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] for e in either]
        assert issuer == [[{"anything-but": roles}], [{"exists": False}]]


def test_schedule_rule_queues_the_scan(minimal: Synthesized) -> None:
    template = minimal.template
    properties = rule(template, "Schedule")
    assert properties["ScheduleExpression"] == "rate(30 minutes)"
    (target,) = properties["Targets"]
    queue = logical_id(template, "AWS::SQS::Queue", "ScanQueueFifo")
    assert target["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert target["SqsParameters"] == {"MessageGroupId": "frontguard-scan"}


def test_the_scan_consumes_a_fifo_queue_one_message_at_a_time_without_reserved_concurrency(
    minimal: Synthesized,
) -> None:
    """Deploy audit 5: reserved concurrency fails in low-quota accounts and throttles (then
    drops) drift events during a scan; a FIFO queue with one group serializes instead."""
    template = minimal.template
    functions = resources(template, "AWS::Lambda::Function")
    assert not any("ReservedConcurrentExecutions" in f["Properties"] for f in functions.values())
    queue = logical_id(template, "AWS::SQS::Queue", "ScanQueueFifo")
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id(template, "Scan")},
            "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]},
            "BatchSize": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    properties = resources(template, "AWS::SQS::Queue")[queue]["Properties"]
    assert properties["FifoQueue"] is True
    assert properties["ContentBasedDeduplication"] is True
    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert properties["VisibilityTimeout"] >= 900  # Lambda: at least the function timeout
    dead_letters = logical_id(template, "AWS::SQS::Queue", "ScanQueueDeadLetterQueue")
    assert properties["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [dead_letters, "Arn"]
    }
    # the scan is no longer invoked asynchronously
    configs = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert [c["Properties"]["FunctionName"] for c in configs] == [
        {"Ref": function_id(template, "Events")}
    ]


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
    parameter = logical_id(minimal.template, "AWS::SSM::Parameter", "Policy")
    assert variables["FRONTGUARD_POLICY_PARAMETER"] == {"Ref": parameter}
    assert set(variables) == {
        "FRONTGUARD_POLICY_PARAMETER",
        "FRONTGUARD_POLICY_SHA256",
        "FRONTGUARD_ALERT_TOPIC_ARN",
        "FRONTGUARD_VERIFY_QUEUE_URL",
        "FRONTGUARD_STATE_TABLE",
        "FRONTGUARD_REMEDIATION_QUEUE_URL",
        "FRONTGUARD_REMEDIATION_PACE_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "AWS_STS_REGIONAL_ENDPOINTS",
    }
    assert variables["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "frontguard"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Frontguard"
    log_group = logical_id(minimal.template, "AWS::Logs::LogGroup", f"{name}Logs")
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}


def test_every_function_log_group_has_the_configured_retention(minimal: Synthesized) -> None:
    groups = resources(minimal.template, "AWS::Logs::LogGroup")
    assert len(groups) == 4
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {90}


def test_the_inline_policy_is_stored_in_the_stacks_parameter(minimal: Synthesized) -> None:
    """Deploy audit 3: the policy never counts against Lambda's 4 KB environment."""
    template = minimal.template
    (parameter,) = resources(template, "AWS::SSM::Parameter").values()
    properties = parameter["Properties"]
    assert json.loads(properties["Value"]) == POLICY
    assert properties["Type"] == "String"
    assert properties["Tier"] == "Standard"
    assert properties["Name"] == "/frontguard/Frontguard-123456789012-eu-west-1/policy"
    for function in resources(template, "AWS::Lambda::Function").values():
        assert "FRONTGUARD_POLICY" not in function["Properties"]["Environment"]["Variables"]
        assert parameter_id(template) in function["DependsOn"]


def parameter_id(template: Template) -> str:
    return logical_id(template, "AWS::SSM::Parameter", "Policy")


@pytest.mark.parametrize("name", ["Events"])
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


def alarms_on(template: Template, metric: str) -> dict[str, dict[str, Any]]:
    """Alarms on ``metric`` that notify the topic on ALARM and OK, by the resource they watch."""
    topic = [{"Ref": logical_id(template, "AWS::SNS::Topic", "AlertsTopic")}]
    found = {}
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if properties["MetricName"] != metric:
            continue
        assert properties["AlarmActions"] == topic and properties["OKActions"] == topic
        value = properties["Dimensions"][0]["Value"]
        found[value.get("Ref") or value["Fn::GetAtt"][0]] = properties
    return found


def test_redrive_dead_letter_queues_alarm_on_depth(minimal: Synthesized) -> None:
    template = minimal.template
    assert set(alarms_on(template, "ApproximateNumberOfMessagesVisible")) == {
        logical_id(template, "AWS::SQS::Queue", "VerificationDeadLetterQueue"),
        logical_id(template, "AWS::SQS::Queue", "ScanQueueDeadLetterQueue"),
        logical_id(template, "AWS::SQS::Queue", "RemediationDeadLetterQueue"),
    }


def test_failure_queues_alarm_on_each_message_sent_so_the_alarm_clears(
    minimal: Synthesized,
) -> None:
    """Deploy audit 8: a depth alarm stays in ALARM for 14 days and hides a second failure."""
    template = minimal.template
    sent = alarms_on(template, "NumberOfMessagesSent")
    assert set(sent) == {
        logical_id(template, "AWS::SQS::Queue", "EventsFailures"),
        logical_id(template, "AWS::SQS::Queue", "ScanQueueUndelivered"),
    }
    assert {(p["Statistic"], p["Threshold"], p["EvaluationPeriods"]) for p in sent.values()} == {
        ("Sum", 1, 1)
    }


def test_errors_page_only_when_they_persist_beyond_designed_retries(minimal: Synthesized) -> None:
    template = minimal.template
    errors = alarms_on(template, "Errors")
    assert set(errors) == {
        function_id(template, n) for n in ("Events", "Verify", "Scan", "Remediate")
    }
    for properties in errors.values():
        assert (properties["DatapointsToAlarm"], properties["EvaluationPeriods"]) == (3, 5)
    assert alarms_on(template, "Throttles") == {}


def test_lost_or_aged_events_and_near_timeouts_page(minimal: Synthesized) -> None:
    template = minimal.template
    events = function_id(template, "Events")
    assert set(alarms_on(template, "AsyncEventsDropped")) == {events}
    assert set(alarms_on(template, "AsyncEventAge")) == {events}
    assert set(alarms_on(template, "ApproximateAgeOfOldestMessage")) == {
        logical_id(template, "AWS::SQS::Queue", "VerificationQueue"),
        logical_id(template, "AWS::SQS::Queue", "ScanQueueFifo"),
        logical_id(template, "AWS::SQS::Queue", "RemediationQueue"),
    }
    (duration,) = alarms_on(template, "Duration").values()
    assert duration["Dimensions"][0]["Value"] == {"Ref": function_id(template, "Scan")}
    assert duration["Threshold"] < 900_000


def test_dashboard_shows_outcomes_compliance_verification_and_lambda_health(
    minimal: Synthesized,
) -> None:
    (dashboard,) = resources(minimal.template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Outcomes over time",
        "Non-compliant load balancers by cluster",
        "Verifications",
        "Drift checks and open findings",
        "Queued repairs",
        "Lambda errors",
        "Failure and dead-letter queues",
        "Exposure: load balancer creation to compliant SG",
    ):
        assert title in body
    # the metric names the handlers publish
    for metric in (
        "lb-remediated",
        "lb-audit-finding",
        "verification-verification-failed",
        "drift-event-ignored",
        "queued-remediated",
        "queued-not-started",
        "drift-event-drift",
        "open-findings",
        "exposure-seconds",
        "lb-born-protected",
        "lb-born-open",
    ):
        assert metric in body
    for cluster in CLUSTERS:
        assert f'\\"cluster\\",\\"{cluster}\\"' in body


def test_dashboard_shows_queued_repairs_and_malformed_input(minimal: Synthesized) -> None:
    """Issue 22 items 3-4: the Remediate function's queued-<outcome> and every handler's
    malformed-events, as the handlers name them."""
    (dashboard,) = resources(minimal.template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "Queued repairs" in body
    assert "Malformed input rejected at the edge" in body
    for outcome in Outcome:
        assert f'\\"queued-{outcome.value}\\"' in body
    assert f'\\"{malformed.METRIC}\\"' in body


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
    assert len(queues) == 8  # + the remediation queue and its dead-letter queue
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


def test_each_cluster_maps_the_remediating_roles_to_frontguard_and_verify_to_read_only(
    minimal: Synthesized,
) -> None:
    """Deploy audit 11 (verify only reads) and 7 (each entry after its function, so the role
    is usable when CreateAccessEntry runs)."""
    template = minimal.template
    entries = resources(template, "AWS::EKS::AccessEntry").values()
    mapped = {
        (
            entry["Properties"]["ClusterName"],
            entry["Properties"]["PrincipalArn"]["Fn::GetAtt"][0],
            tuple(entry["Properties"]["KubernetesGroups"]),
        )
        for entry in entries
        if entry["Properties"]["Type"] == "STANDARD"
    }
    role = {
        name: logical_id(template, "AWS::IAM::Role", name)
        for name in ("Events", "Verify", "Scan", "Remediate")
    }
    groups = {
        "Events": ("frontguard",),
        "Scan": ("frontguard",),
        "Remediate": ("frontguard",),
        "Verify": ("frontguard-readonly",),
    }
    assert mapped == {(cluster, role[name], groups[name]) for cluster in CLUSTERS for name in role}
    for entry in entries:
        owner = next(
            n for n, r in role.items() if r == entry["Properties"]["PrincipalArn"]["Fn::GetAtt"][0]
        )
        assert function_id(template, owner) in entry["DependsOn"]


READ = {
    ("", "services"): ["get", "list"],
    ("networking.k8s.io", "ingresses"): ["get", "list"],
    ("networking.k8s.io", "ingressclasses"): ["get", "list"],
    ("elbv2.k8s.aws", "ingressclassparams"): ["get", "list"],
    ("eks.amazonaws.com", "ingressclassparams"): ["get", "list"],
    ("gateway.networking.k8s.io", "gateways"): ["get"],
    ("gateway.networking.k8s.io", "gatewayclasses"): ["get"],
    ("gateway.k8s.aws", "loadbalancerconfigurations"): ["get", "list"],
    ("", "events"): ["list"],
}


def _rules(role: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    return {
        (group, resource): sorted(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_rbac_manifest_grants_the_minimal_verbs_to_each_group() -> None:
    # The canary's namespaced Role follows (tests/infra/test_canary.py).
    role, binding, read_role, read_binding, *_canary = yaml.safe_load_all(RBAC.read_text())
    assert _rules(role) == {
        **READ,
        ("", "services"): ["get", "list", "patch"],
        ("networking.k8s.io", "ingresses"): ["get", "list", "patch"],
        ("gateway.networking.k8s.io", "gateways"): ["get", "patch"],
        ("gateway.k8s.aws", "loadbalancerconfigurations"): [
            "create",
            "delete",
            "get",
            "list",
            "patch",
        ],
    }
    assert _rules(read_role) == READ
    for cluster_role, cluster_binding, group in (
        (role, binding, "frontguard"),
        (read_role, read_binding, "frontguard-readonly"),
    ):
        assert cluster_binding["kind"] == "ClusterRoleBinding"
        assert cluster_binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
        assert cluster_binding["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
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
        if properties["Handler"] == CANARY_HANDLER:  # reads no policy; in the VPC too
            assert "FRONTGUARD_POLICY_PARAMETER" not in variables
            assert properties["VpcConfig"]["SecurityGroupIds"] == ["sg-0cccccccccccccccc"]
            continue
        assert variables["FRONTGUARD_POLICY_PARAMETER"] == "/frontguard/policy"
        assert "FRONTGUARD_POLICY" not in variables
        assert "FRONTGUARD_POLICY_SHA256" not in variables  # the operator's parameter
        assert properties["VpcConfig"] == {
            "SubnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
            "SecurityGroupIds": ["sg-0cccccccccccccccc"],
        }
    template.has_resource_properties(
        "AWS::Chatbot::SlackChannelConfiguration",
        {"SlackWorkspaceId": "T0123", "SlackChannelId": "C0456"},
    )


def test_the_sweep_invokes_the_scan_function_every_minute_outside_the_fifo_queue(
    minimal: Synthesized,
) -> None:
    """Issue 22: a lost CloudTrail event costs one sweep period. The sweep goes straight to the
    scan function (a long scan in the FIFO queue must not hold it up), with its constant input."""
    rules = resources(minimal.template, "AWS::Events::Rule")
    [sweep] = [r["Properties"] for name, r in rules.items() if name.startswith("TriggersSweep")]
    assert sweep["ScheduleExpression"] == "rate(1 minute)"
    [target] = sweep["Targets"]
    scan = logical_id(minimal.template, "AWS::Lambda::Function", "ScanFunction")
    assert target["Arn"] == {"Fn::GetAtt": [scan, "Arn"]}
    assert json.loads(target["Input"])["source"] == "frontguard.sweep"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
