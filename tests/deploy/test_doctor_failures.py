"""``frontguard doctor`` against broken deployments: each failure the deploy audit describes
(and each prerequisite it names) is reported, with what to fix, and the exit code is 1."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from frontguard import cli

from sandbox import Sandbox
from sandbox.deploy import Prepared
from sandbox.kube import CLUSTER_ROLE_BINDINGS, DEPLOYMENTS
from tests.deploy.conftest import RBAC, STACK

# The drift pattern of the audited template (commit 6a89460): no ModifySecurityGroupRules,
# DeleteSecurityGroup routed to a handler that ignores it, and no exclusion of frontguard.
AUDITED_EC2_PATTERN = {
    "source": ["aws.ec2"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["ec2.amazonaws.com"],
        "eventName": [
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            "DeleteSecurityGroup",
        ],
        "errorCode": [{"exists": False}],
    },
}


def outputs(sandbox: Sandbox) -> dict[str, str]:
    (stack,) = sandbox.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    code = cli.main(["doctor", "--output", "json"])
    report = json.loads(capsys.readouterr().out)
    return code, {(c["area"], c["name"]): c for c in report["checks"] if c["status"] == "fail"}


# --- how each deployment is broken --------------------------------------------------------


def no_trail(sandbox: Sandbox) -> None:
    sandbox.client("cloudtrail").delete_trail(Name="org-trail")


def trail_stopped(sandbox: Sandbox) -> None:
    cloudtrail = sandbox.client("cloudtrail")
    for trail in cloudtrail.describe_trails()["trailList"]:
        cloudtrail.stop_logging(Name=trail["TrailARN"])


def trail_reads_only(sandbox: Sandbox) -> None:
    cloudtrail = sandbox.client("cloudtrail")
    for trail in cloudtrail.describe_trails()["trailList"]:
        cloudtrail.put_event_selectors(
            TrailName=trail["TrailARN"],
            EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}],
        )


def rule_disabled(sandbox: Sandbox) -> None:
    sandbox.client("events").disable_rule(Name=outputs(sandbox)["RuleCreateLoadBalancer"])


def audited_drift_pattern(sandbox: Sandbox) -> None:
    sandbox.client("events").put_rule(
        Name=outputs(sandbox)["RuleEc2Drift"], EventPattern=json.dumps(AUDITED_EC2_PATTERN)
    )


def nobody_subscribed(sandbox: Sandbox) -> None:
    sns = sandbox.client("sns")
    topic = outputs(sandbox)["AlertTopicArn"]
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def topic_deleted(sandbox: Sandbox) -> None:
    sandbox.client("sns").delete_topic(TopicArn=outputs(sandbox)["AlertTopicArn"])


def policy_edited_by_hand(sandbox: Sandbox) -> None:
    ssm = sandbox.client("ssm")
    name = f"/frontguard/{STACK}/policy"
    ssm.put_parameter(Name=name, Value=json.dumps({"mode": "enforce"}), Overwrite=True)


def policy_invalid(sandbox: Sandbox) -> None:
    ssm = sandbox.client("ssm")
    name = f"/frontguard/{STACK}/policy"
    bad = {"mode": "audit", "approved_security_groups": ["not-an-sg"]}
    ssm.put_parameter(Name=name, Value=json.dumps(bad), Overwrite=True)


def dead_letter(sandbox: Sandbox) -> None:
    url = next(
        u for u in outputs(sandbox)["DeadLetterQueueUrls"].split(",") if "EventsFailures" in u
    )
    sandbox.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"failed": True}))


def function_errors(sandbox: Sandbox) -> None:
    sandbox.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Errors",
                "Dimensions": [
                    {"Name": "FunctionName", "Value": outputs(sandbox)["EventsFunctionName"]}
                ],
                # a few minutes ago: what the last invocations left behind
                "Timestamp": datetime.now(UTC) - timedelta(minutes=5),
                "Value": 3,
            }
        ],
    )


def config_map_mode(sandbox: Sandbox) -> None:
    assert sandbox.moto.eks_access is not None
    sandbox.moto.eks_access.set_authentication_mode("prod", "CONFIG_MAP")


def access_entry_missing(sandbox: Sandbox) -> None:
    sandbox.client("eks").delete_access_entry(
        clusterName="prod", principalArn=outputs(sandbox)["ScanRoleArn"]
    )


def cluster_gone(sandbox: Sandbox) -> None:
    sandbox.client("eks").delete_cluster(name="prod")


def rbac_not_applied(sandbox: Sandbox) -> None:
    kube = sandbox.clusters["prod"].kube
    for binding in kube.list_objects(CLUSTER_ROLE_BINDINGS):
        kube.delete_object(CLUSTER_ROLE_BINDINGS, None, binding["metadata"]["name"])


def verify_may_write(sandbox: Sandbox) -> None:
    """The audited setup: every function role in the one writing group's binding."""
    documents = list(yaml.safe_load_all(RBAC.read_text()))
    binding = dict(documents[1])
    binding["metadata"] = {"name": "frontguard-readonly-writes"}
    binding["subjects"] = [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "frontguard-readonly"}
    ]
    sandbox.clusters["prod"].apply([binding])


def controller_missing(sandbox: Sandbox) -> None:
    sandbox.clusters["prod"].kube.delete_object(
        DEPLOYMENTS, "kube-system", "aws-load-balancer-controller"
    )


def controller_without_backend_sg(sandbox: Sandbox) -> None:
    sandbox.clusters["prod"].install_controller(args=["--enable-backend-security-group=false"])


def _without_frontguards_deny(policy: str) -> str:
    document = json.loads(policy)
    document["Statement"] = [
        s for s in document["Statement"] if s.get("Sid") != "OnlyFrontguardRolesWrite"
    ]
    return json.dumps(document)


def scan_queue_open(sandbox: Sandbox) -> None:
    """R2-7's audited scan queue: TLS and EventBridge's Allows, no Deny of other writers."""
    sqs = sandbox.client("sqs")
    url = next(u for u in outputs(sandbox)["WorkQueueUrls"].split(",") if "ScanQueueFifo" in u)
    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": _without_frontguards_deny(policy["Policy"])}
    )


def topic_open(sandbox: Sandbox) -> None:
    """R2-7's audited alert topic: TLS and CloudWatch's Allow only."""
    sns = sandbox.client("sns")
    topic = outputs(sandbox)["AlertTopicArn"]
    policy = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=_without_frontguards_deny(policy)
    )


def table_guarded_by_a_tag(sandbox: Sandbox) -> None:
    """R2-5's audited table: writers refused unless they carry a principal tag anyone who may
    tag themselves can take."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": "*",
                "Condition": {
                    "StringNotEquals": {"aws:PrincipalTag/frontguard.io/deployment": STACK}
                },
            }
        ],
    }
    sandbox.client("dynamodb").put_resource_policy(
        ResourceArn=outputs(sandbox)["StateTableArn"], Policy=json.dumps(document)
    )


BROKEN: list[tuple[Callable[[Sandbox], None], tuple[str, str], str]] = [
    (no_trail, ("cloudtrail", "trail"), "create a trail"),
    (trail_stopped, ("cloudtrail", "trail"), "start logging"),
    (trail_reads_only, ("cloudtrail", "trail"), "management write events"),
    (rule_disabled, ("eventbridge", "CreateLoadBalancer"), "aws events enable-rule"),
    (
        audited_drift_pattern,
        ("eventbridge", "record ec2-ModifySecurityGroupRules.console"),
        "redeploy",
    ),
    (
        audited_drift_pattern,
        ("eventbridge", "record ec2-AuthorizeSecurityGroupIngress.frontguard"),
        "redeploy",
    ),
    (nobody_subscribed, ("alerting", "subscriptions"), "alerts.emails"),
    (scan_queue_open, ("channels", "queue"), "redeploy the stack"),
    (topic_open, ("channels", "topic"), "redeploy the stack"),
    (table_guarded_by_a_tag, ("channels", "table"), "redeploy the stack"),
    (topic_deleted, ("alerting", "aws"), "redeploy the stack"),
    (policy_edited_by_hand, ("functions", "policy"), "cdk deploy"),
    (policy_invalid, ("functions", "policy"), "fix the policy document"),
    (dead_letter, ("functions", "dead letters"), "then delete them"),
    (function_errors, ("functions", "Events errors"), "log group"),
    (config_map_mode, ("cluster prod", "authentication mode"), "authenticationMode=API"),
    (access_entry_missing, ("cluster prod", "access entry Scan"), "redeploy the stack"),
    (cluster_gone, ("cluster prod", "exists"), "name the target's clusters"),
    (
        rbac_not_applied,
        ("cluster prod", "rights of frontguard"),
        "kubectl apply -f infra/rbac.yaml",
    ),
    (verify_may_write, ("cluster prod", "rights of frontguard-readonly"), "remove other bindings"),
    (
        controller_missing,
        ("cluster prod", "controller"),
        "install the AWS Load Balancer Controller",
    ),
    (
        controller_without_backend_sg,
        ("cluster prod", "controller"),
        "enableBackendSecurityGroup=true",
    ),
]


@pytest.mark.parametrize(
    ("breaks", "check", "fix"), BROKEN, ids=[f"{b.__name__}-{c[1]}" for b, c, _ in BROKEN]
)
def test_the_doctor_names_the_failure_and_the_fix(
    deployed: Prepared,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    *,
    breaks: Callable[[Sandbox], None],
    check: tuple[str, str],
    fix: str,
) -> None:
    breaks(sandbox)

    code, failed = doctor(capsys)

    assert code == 1
    matching = [
        f for key, f in failed.items() if key[0] == check[0] and key[1].startswith(check[1])
    ]
    assert matching, sorted(failed)
    assert any(fix in (f["fix"] or "") for f in matching), matching


def test_without_the_stack_the_doctor_says_to_deploy(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["doctor"])

    assert code == 1
    assert f"no stack {STACK}" in capsys.readouterr().err


def test_a_reduced_concurrency_quota_is_a_warning_with_the_quota_to_ask_for(
    deployed: Prepared, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deploy audit 5: new accounts have reduced quotas. With no reserved concurrency the stack
    deploys there, so this warns (bursts are throttled and retried) instead of failing."""
    assert sandbox.moto.lambda_account is not None
    sandbox.moto.lambda_account.set_concurrency(10)

    code = cli.main(["doctor", "--output", "json", "--no-publish"])
    report = json.loads(capsys.readouterr().out)

    assert code == 0
    (check,) = [c for c in report["checks"] if c["area"] == "account"]
    assert check["status"] == "warn"
    assert "Service Quotas" in check["fix"]
