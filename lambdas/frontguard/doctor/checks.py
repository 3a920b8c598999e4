"""The doctor's checks: each takes the clients it needs and returns :class:`Check` results.

Every failure says what to fix. AWS reads use the caller's own credentials; Kubernetes reads
go through EKS (DescribeCluster + a presigned STS token), as the functions do.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from botocore.exceptions import ClientError

from frontguard.adapters.kube import KubeClient
from frontguard.doctor import born, channels, records
from frontguard.doctor.report import Check, failed, passed, warned
from frontguard.errors import ConfigurationError, FrontguardError
from frontguard.policy import Policy

Client = Any  # boto3 clients (typed stubs are not installed for every service used here)

# Access-entry modes that admit access entries:
# https://docs.aws.amazon.com/eks/latest/userguide/grant-k8s-access.html#set-cam
ACCESS_ENTRY_MODES: Final = frozenset({"API", "API_AND_CONFIG_MAP"})
REMEDIATING_GROUP: Final = "frontguard"
READ_ONLY_GROUP: Final = "frontguard-readonly"
# (verb, API group, resource) each Kubernetes group needs (infra/rbac.yaml), and rights it
# must not have: "exactly what they need".
READS: Final = (
    ("get", "", "services"),
    ("list", "", "services"),
    ("get", "networking.k8s.io", "ingresses"),
    ("list", "networking.k8s.io", "ingresses"),
    ("list", "networking.k8s.io", "ingressclasses"),
    ("get", "elbv2.k8s.aws", "ingressclassparams"),
    ("get", "gateway.networking.k8s.io", "gateways"),
    ("get", "gateway.networking.k8s.io", "gatewayclasses"),
    ("get", "gateway.k8s.aws", "loadbalancerconfigurations"),
    ("list", "", "events"),
)
WRITES: Final = (
    ("patch", "", "services"),
    ("patch", "networking.k8s.io", "ingresses"),
    ("patch", "gateway.networking.k8s.io", "gateways"),
    ("create", "gateway.k8s.aws", "loadbalancerconfigurations"),
    ("delete", "gateway.k8s.aws", "loadbalancerconfigurations"),
)
NEVER: Final = (("get", "", "secrets"), ("delete", "", "services"), ("update", "", "services"))
NEEDED: Final[Mapping[str, tuple[tuple[str, str, str], ...]]] = {
    REMEDIATING_GROUP: (*READS, *WRITES),
    READ_ONLY_GROUP: READS,
}
FORBIDDEN: Final[Mapping[str, tuple[tuple[str, str, str], ...]]] = {
    REMEDIATING_GROUP: NEVER,
    READ_ONLY_GROUP: (*WRITES, *NEVER),
}
ROLE_GROUPS: Final = {
    "Events": REMEDIATING_GROUP,
    "Scan": REMEDIATING_GROUP,
    "Remediate": REMEDIATING_GROUP,
    "Verify": READ_ONLY_GROUP,
}
# Every stack has these; "Remediate" (the scan's fan-out) is checked when the stack has it.
FUNCTIONS: Final = ("Events", "Verify", "Scan")
OPTIONAL_FUNCTIONS: Final = ("Remediate",)
# The controller: its Deployment (Helm chart defaults) and the flags frontguard depends on
# (pkg/config/controller_config.go: --enable-backend-security-group, default true;
# pkg/config/ingress_config.go: --ingress-class, default "alb";
# pkg/config/service_config.go: --load-balancer-class, default "service.k8s.aws/nlb").
CONTROLLER_NAMESPACE: Final = "kube-system"
CONTROLLER_NAME: Final = "aws-load-balancer-controller"
CONTROLLER_FLAGS: Final = {
    "enable-backend-security-group": "true",
    "ingress-class": "alb",
    "load-balancer-class": "service.k8s.aws/nlb",
}
ERROR_WINDOW: Final = timedelta(hours=24)
# Lambda keeps 100 executions unreserved; accounts below that are new, reduced-quota accounts
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MIN_CONCURRENCY: Final = 100


@dataclass(frozen=True)
class Deployment:
    """What the stack's outputs say was deployed."""

    stack: str
    region: str
    account: str
    outputs: Mapping[str, str]

    def function(self, name: str) -> str:
        return self.outputs[f"{name}FunctionName"]

    @property
    def functions(self) -> list[str]:
        """The function names (Events, Verify, Scan, and Remediate when deployed)."""
        optional = [n for n in OPTIONAL_FUNCTIONS if f"{n}FunctionName" in self.outputs]
        return [*FUNCTIONS, *optional]

    def role(self, name: str) -> str:
        return self.outputs[f"{name}RoleArn"]

    @property
    def topic_arn(self) -> str:
        return self.outputs["AlertTopicArn"]

    @property
    def clusters(self) -> list[str]:
        return [c for c in self.outputs.get("Clusters", "").split(",") if c]

    @property
    def dead_letter_queues(self) -> list[str]:
        return [q for q in self.outputs.get("DeadLetterQueueUrls", "").split(",") if q]

    @property
    def queues(self) -> list[str]:
        """Every queue of the stack: the work queues, then the dead-letter queues."""
        work = [q for q in self.outputs.get("WorkQueueUrls", "").split(",") if q]
        return [*work, *self.dead_letter_queues]

    @property
    def state_table_arn(self) -> str | None:
        return self.outputs.get("StateTableArn")

    @property
    def roles(self) -> list[str]:
        """The function roles, and the scheduled canary's (it publishes canary-failed)."""
        canary = [self.outputs["CanaryRoleArn"]] if "CanaryRoleArn" in self.outputs else []
        return [*(self.role(name) for name in self.functions), *canary]


def discover(cloudformation: Client, stack: str, *, region: str, account: str) -> Deployment:
    """The deployment, from DescribeStacks; :class:`ConfigurationError` if there is none."""
    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise ConfigurationError(
            f"no stack {stack} in {region}: deploy with `cdk deploy`, or pass --stack "
            f"({error.response['Error'].get('Message', '')})"
        ) from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    missing = [f"{n}FunctionName" for n in FUNCTIONS if f"{n}FunctionName" not in outputs]
    if missing:
        raise ConfigurationError(
            f"stack {stack} has no frontguard outputs ({', '.join(missing)}): redeploy it with "
            "this version of frontguard"
        )
    return Deployment(stack=stack, region=region, account=account, outputs=outputs)


# --- CloudTrail -----------------------------------------------------------------------------


def check_cloudtrail(cloudtrail: Client, region: str) -> list[Check]:
    """A trail that logs and delivers management (write) events of this region: EventBridge
    only sees "AWS API Call via CloudTrail" events when one does.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html"""
    area = "cloudtrail"
    fix = (
        "create a trail for this region (or a multi-region trail) that logs management write "
        "events and start logging: `aws cloudtrail create-trail ... --is-multi-region-trail` "
        "then `aws cloudtrail start-logging`"
    )
    trails = cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", [])
    covering = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == region]
    reasons = []
    for trail in covering:
        arn = trail["TrailARN"]
        if not cloudtrail.get_trail_status(Name=arn).get("IsLogging"):
            reasons.append(f"{trail['Name']} is not logging")
            continue
        if _logs_management_writes(cloudtrail.get_event_selectors(TrailName=arn)):
            return [passed(area, "trail", f"{trail['Name']} logs management events here")]
        reasons.append(f"{trail['Name']} does not log management write events")
    detail = "; ".join(reasons) or f"no trail covers {region}"
    return [failed(area, "trail", detail, fix)]


def _logs_management_writes(selectors: Mapping[str, Any]) -> bool:
    advanced = selectors.get("AdvancedEventSelectors") or []
    if advanced:
        for selector in advanced:
            fields = {f["Field"]: f for f in selector.get("FieldSelectors", [])}
            category = fields.get("eventCategory", {}).get("Equals", [])
            read_only = fields.get("readOnly", {}).get("Equals", ["false"])
            if "Management" in category and "false" in read_only:
                return True
        return False
    basic = selectors.get("EventSelectors")
    if basic is None:
        return True  # a trail without selectors logs all management events (AWS's default)
    return any(
        s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") != "ReadOnly"
        for s in basic
    )


# --- EventBridge ----------------------------------------------------------------------------


def check_rules(events: Client, deployment: Deployment) -> list[Check]:
    """Each rule exists, is enabled, targets what it should, and matches exactly the shipped
    CloudTrail records it should (TestEventPattern: AWS's own matcher)."""
    area = "eventbridge"
    expected_target = {
        "CreateLoadBalancer": deployment.outputs["EventsFunctionArn"],
        "CreateManagedSecurityGroup": deployment.outputs["EventsFunctionArn"],
        "Elbv2Drift": deployment.outputs["ScanQueueArn"],
        "Ec2Drift": deployment.outputs["ScanQueueArn"],
        "Schedule": deployment.outputs["ScanQueueArn"],
    }
    redeploy = "redeploy the stack (`cdk deploy`); do not edit frontguard's rules by hand"
    checks: list[Check] = []
    patterns: dict[str, str] = {}
    for rule, target in expected_target.items():
        name = deployment.outputs.get(f"Rule{rule}", "")
        try:
            described = events.describe_rule(Name=name)
        except ClientError:
            checks.append(failed(area, rule, f"rule {name or '?'} does not exist", redeploy))
            continue
        if described.get("State") != "ENABLED":
            checks.append(
                failed(
                    area,
                    rule,
                    f"rule {name} is {described.get('State')}",
                    f"`aws events enable-rule --name {name}`",
                )
            )
            continue
        arns = [t["Arn"] for t in events.list_targets_by_rule(Rule=name).get("Targets", [])]
        if arns != [target]:
            checks.append(
                failed(
                    area, rule, f"rule {name} targets {arns or 'nothing'}, not {target}", redeploy
                )
            )
            continue
        checks.append(passed(area, rule, f"enabled, targets {target.rsplit(':', 1)[-1]}"))
        if described.get("EventPattern"):
            patterns[rule] = described["EventPattern"]
    own_role = deployment.role("Scan")
    for record in records.load(own_role):
        event = {**record.event, "account": deployment.account, "region": deployment.region}
        matched = [
            rule
            for rule, pattern in patterns.items()
            if events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"]
        ]
        wanted = [record.expected_rule] if record.expected_rule else []
        if matched == wanted:
            checks.append(
                passed(
                    area, f"record {record.name}", f"matches {matched[0] if matched else 'no rule'}"
                )
            )
        else:
            checks.append(
                failed(
                    area,
                    f"record {record.label}",
                    f"matched {matched or 'no rule'}, expected {wanted or 'no rule'}",
                    redeploy,
                )
            )
    return checks


# --- alerting -------------------------------------------------------------------------------


def check_alerting(
    sns: Client, cloudwatch: Client, deployment: Deployment, *, publish: bool
) -> list[Check]:
    area = "alerting"
    topic = deployment.topic_arn
    checks: list[Check] = []
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions", [])
    pending = [s for s in subscriptions if s.get("SubscriptionArn") == "PendingConfirmation"]
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn") != "PendingConfirmation"]
    if pending:
        checks.append(
            failed(
                area,
                "subscriptions",
                f"{len(pending)} not confirmed: "
                + ", ".join(f"{s['Protocol']} {s.get('Endpoint', '')}" for s in pending),
                "click the link in the 'AWS Notification - Subscription Confirmation' e-mail",
            )
        )
    if not confirmed:
        checks.append(
            failed(
                area,
                "subscriptions",
                "no confirmed subscriber: nobody receives alerts",
                "set alerts.emails or alerts.slack in the configuration and redeploy",
            )
        )
    else:
        protocols = ", ".join(sorted({s["Protocol"] for s in confirmed}))
        checks.append(passed(area, "subscriptions", f"{len(confirmed)} confirmed ({protocols})"))
    alarms = [
        a
        for a in _paged(cloudwatch, "describe_alarms", "MetricAlarms", AlarmTypes=["MetricAlarm"])
        if topic in a.get("AlarmActions", [])
    ]
    if not alarms:
        checks.append(failed(area, "alarms", "no alarm notifies the topic", "redeploy the stack"))
    else:
        firing = [a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"]
        if firing:
            checks.append(
                warned(
                    area,
                    "alarms",
                    f"{len(firing)} of {len(alarms)} in ALARM: {', '.join(firing)}",
                    "read the alarm's metric on the frontguard dashboard",
                )
            )
        else:
            checks.append(passed(area, "alarms", f"{len(alarms)} alarms notify the topic"))
    if not publish:
        checks.append(warned(area, "delivery", "skipped (--no-publish)"))
        return checks
    try:
        sns.publish(
            TopicArn=topic,
            Subject="frontguard doctor: test alert",
            Message=f"frontguard doctor test alert for stack {deployment.stack}: no action needed.",
        )
        checks.append(passed(area, "test alert", "published to the topic"))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "AuthorizationError":
            raise
        # The topic refuses every publisher but frontguard's roles and its alarms (R2-7):
        # the alarm delivery test below is the end-to-end check.
        checks.append(
            passed(area, "test alert", "your principal may not publish (only frontguard's roles)")
        )
    if alarms:
        checks.append(_alarm_delivery(cloudwatch, alarms[0]["AlarmName"]))
    return checks


def _alarm_delivery(cloudwatch: Client, alarm: str) -> Check:
    """Set one alarm to ALARM and read its history: CloudWatch records whether the SNS action
    succeeded ("Failed to execute action" when the topic policy or key refuses it)."""
    area = "alerting"
    cloudwatch.set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="frontguard doctor: delivery test"
    )
    history = cloudwatch.describe_alarm_history(
        AlarmName=alarm, HistoryItemType="Action", MaxRecords=10
    ).get("AlarmHistoryItems", [])
    cloudwatch.set_alarm_state(
        AlarmName=alarm, StateValue="OK", StateReason="frontguard doctor: delivery test done"
    )
    summaries = [item.get("HistorySummary", "") for item in history]
    if any(s.startswith("Failed to execute action") for s in summaries):
        return failed(
            area,
            "alarm delivery",
            f"{alarm}: {summaries[0]}",
            "the topic policy must allow cloudwatch.amazonaws.com sns:Publish and the key "
            "kms:GenerateDataKey*/Decrypt (redeploy this version of the stack)",
        )
    if any(s.startswith("Successfully executed action") for s in summaries):
        return passed(area, "alarm delivery", f"{alarm}: the action reached the topic")
    return warned(
        area,
        "alarm delivery",
        f"{alarm}: no action history yet (CloudWatch records it within a minute)",
        "run the doctor again in a minute, or read `aws cloudwatch describe-alarm-history "
        f"--alarm-name {alarm} --history-item-type Action`",
    )


def _paged(client: Client, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


# --- the functions --------------------------------------------------------------------------


def check_account(lambda_: Client) -> list[Check]:
    """Account concurrency: frontguard reserves none, but a burst of new load balancers runs
    one events function each, throttled (then retried) in a reduced-quota account."""
    limit = lambda_.get_account_settings()["AccountLimit"]
    unreserved = int(limit.get("UnreservedConcurrentExecutions", 0))
    detail = f"{unreserved} unreserved of {limit.get('ConcurrentExecutions')} concurrent executions"
    if unreserved < MIN_CONCURRENCY:
        return [
            warned(
                "account",
                "lambda concurrency",
                detail + ": bursts of new load balancers will be throttled and retried",
                "request 'Concurrent executions' of at least 1000 in Service Quotas (Lambda)",
            )
        ]
    return [passed("account", "lambda concurrency", detail)]


def check_functions(
    lambda_: Client,
    cloudwatch: Client,
    sqs: Client,
    ssm: Client,
    deployment: Deployment,
    *,
    now: datetime | None = None,
) -> list[Check]:
    area = "functions"
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    policy_checked = False
    for name in deployment.functions:
        function = deployment.function(name)
        config = lambda_.get_function_configuration(FunctionName=function)
        if config.get("State", "Active") != "Active":
            checks.append(
                failed(
                    area,
                    name,
                    f"{function} is {config.get('State')}: {config.get('StateReason', '')}",
                    "read the function's state reason in the Lambda console and redeploy",
                )
            )
            continue
        errors = _errors(cloudwatch, function, now)
        if errors:
            checks.append(
                failed(
                    area,
                    f"{name} errors",
                    f"{int(errors)} failed invocations in the last 24 h",
                    f"read /aws/lambda log group of {function} (ERROR lines name the cause)",
                )
            )
        else:
            checks.append(passed(area, f"{name} errors", "no failed invocation in 24 h"))
        if not policy_checked:
            checks.append(_policy_loads(ssm, config.get("Environment", {}).get("Variables", {})))
            policy_checked = True
    for url in deployment.dead_letter_queues:
        queue = url.rsplit("/", 1)[-1]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        waiting = int(attributes.get("ApproximateNumberOfMessages", "0"))
        if waiting:
            checks.append(
                failed(
                    area,
                    f"dead letters {queue}",
                    f"{waiting} messages failed for good",
                    f"read them (`aws sqs receive-message --queue-url {url}`), fix the cause, "
                    "then delete them: the next scheduled scan decides again (the work queues "
                    "refuse a redrive by anyone but frontguard's roles)",
                )
            )
        else:
            checks.append(passed(area, f"dead letters {queue}", "empty"))
    return checks


def _errors(cloudwatch: Client, function: str, now: datetime) -> float:
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - ERROR_WINDOW,
        EndTime=now,
        Period=3600,
        Statistics=["Sum"],
    ).get("Datapoints", [])
    return float(sum(p.get("Sum", 0) for p in points))


def _policy_text(ssm: Client, environment: Mapping[str, str]) -> str:
    parameter = environment.get("FRONTGUARD_POLICY_PARAMETER")
    if parameter:
        return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    if environment.get("FRONTGUARD_POLICY"):
        return environment["FRONTGUARD_POLICY"]
    raise ConfigurationError("the functions have no policy configured")


def deployed_policy(lambda_: Client, ssm: Client, deployment: Deployment) -> Policy | None:
    """The policy the functions load, or ``None`` when it does not load (the functions area
    reports why)."""
    config = lambda_.get_function_configuration(FunctionName=deployment.function(FUNCTIONS[0]))
    try:
        return Policy.from_json(
            _policy_text(ssm, config.get("Environment", {}).get("Variables", {}))
        )
    except (ClientError, FrontguardError):
        return None


def _policy_loads(ssm: Client, environment: Mapping[str, str]) -> Check:
    area = "functions"
    parameter = environment.get("FRONTGUARD_POLICY_PARAMETER")
    try:
        text = _policy_text(ssm, environment)
        policy = Policy.from_json(text)
    except ClientError as error:
        return failed(
            area,
            "policy",
            f"cannot read {parameter}: {error.response['Error'].get('Code')}",
            f"create the parameter: `aws ssm put-parameter --name {parameter} --type String "
            "--value file://policy.json`",
        )
    except FrontguardError as error:
        return failed(area, "policy", str(error), "fix the policy document and redeploy")
    digest = environment.get("FRONTGUARD_POLICY_SHA256")
    if digest and hashlib.sha256(text.encode()).hexdigest() != digest:
        return failed(
            area,
            "policy",
            f"{parameter} was changed outside the deployment",
            "edit the policy in the configuration and run `cdk deploy`",
        )
    return passed(area, "policy", f"loads ({policy.mode.value}, {len(policy.rules)} rules)")


# --- clusters -------------------------------------------------------------------------------


def check_cluster(
    eks: Client,
    connect: Callable[[str], KubeClient],
    deployment: Deployment,
    cluster: str,
) -> list[Check]:
    area = f"cluster {cluster}"
    try:
        described = eks.describe_cluster(name=cluster)["cluster"]
    except ClientError as error:
        return [
            failed(
                area,
                "exists",
                f"DescribeCluster: {error.response['Error'].get('Code')}",
                "name the target's clusters as EKS knows them in this region, and redeploy",
            )
        ]
    checks = [
        passed(
            area,
            "exists",
            f"{described.get('status', 'ACTIVE')}, Kubernetes {described.get('version', '?')}",
        )
    ]
    mode = (described.get("accessConfig") or {}).get("authenticationMode", "CONFIG_MAP")
    if mode not in ACCESS_ENTRY_MODES:
        checks.append(
            failed(
                area,
                "authentication mode",
                f"{mode}: access entries are not admitted",
                f"`aws eks update-cluster-config --name {cluster} --access-config "
                "authenticationMode=API_AND_CONFIG_MAP`",
            )
        )
        return checks
    checks.append(passed(area, "authentication mode", mode))
    checks.extend(_access_entries(eks, deployment, cluster, area))
    try:
        kube = connect(cluster)
        checks.extend(_access_reviews(kube, area))
        checks.append(_controller(kube, area))
    except FrontguardError as error:
        checks.append(
            failed(
                area,
                "kubernetes",
                f"cannot reach the API server: {error}",
                "check the endpoint's network access (private clusters need the `vpc` "
                "section) and your own access entry",
            )
        )
    return checks


def _access_entries(eks: Client, deployment: Deployment, cluster: str, area: str) -> list[Check]:
    entries = set(_paged(eks, "list_access_entries", "accessEntries", clusterName=cluster))
    checks = []
    for name in deployment.functions:
        group = ROLE_GROUPS[name]
        role = deployment.role(name)
        if role not in entries:
            checks.append(
                failed(
                    area,
                    f"access entry {name}",
                    f"no access entry for {role}",
                    "redeploy the stack (it creates the entries); check that CloudFormation "
                    "did not roll them back",
                )
            )
            continue
        entry = eks.describe_access_entry(clusterName=cluster, principalArn=role)["accessEntry"]
        groups = entry.get("kubernetesGroups", [])
        if groups != [group]:
            checks.append(
                failed(
                    area,
                    f"access entry {name}",
                    f"groups {groups}, expected [{group}]",
                    "redeploy the stack",
                )
            )
        else:
            checks.append(
                passed(area, f"access entry {name}", f"{role.rsplit('/', 1)[-1]} -> {group}")
            )
    return checks


def _access_reviews(kube: KubeClient, area: str) -> list[Check]:
    """SubjectAccessReviews for each group: every right it needs, none it must not have.
    https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access"""
    checks = []
    for group in (REMEDIATING_GROUP, READ_ONLY_GROUP):
        missing = [r for r in NEEDED[group] if not _allowed(kube, group, r)]
        extra = [r for r in FORBIDDEN[group] if _allowed(kube, group, r)]
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(_right(r) for r in missing))
            if extra:
                parts.append("more than needed: " + ", ".join(_right(r) for r in extra))
            checks.append(
                failed(
                    area,
                    f"rights of {group}",
                    "; ".join(parts),
                    "`kubectl apply -f infra/rbac.yaml` and remove other bindings of the group",
                )
            )
        else:
            checks.append(
                passed(
                    area, f"rights of {group}", f"exactly the {len(NEEDED[group])} rights it needs"
                )
            )
    return checks


def _right(right: tuple[str, str, str]) -> str:
    verb, group, resource = right
    return f"{verb} {resource}{'.' + group if group else ''}"


def _allowed(kube: KubeClient, group: str, right: tuple[str, str, str]) -> bool:
    verb, api_group, resource = right
    review = kube.call(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"frontguard-doctor:{group}",
                "groups": [group],
                "resourceAttributes": {"verb": verb, "group": api_group, "resource": resource},
            },
        },
    )
    return bool((review.get("status") or {}).get("allowed"))


def _controller(kube: KubeClient, area: str) -> Check:
    path = f"/apis/apps/v1/namespaces/{CONTROLLER_NAMESPACE}/deployments/{quote(CONTROLLER_NAME)}"
    try:
        deployment = kube.call("GET", path)
    except FrontguardError:
        return failed(
            area,
            "controller",
            f"no Deployment {CONTROLLER_NAMESPACE}/{CONTROLLER_NAME}",
            "install the AWS Load Balancer Controller (Helm chart eks/aws-load-balancer-controller)",
        )
    flags = controller_flags(deployment)
    backend = flags.get("enable-backend-security-group", "true")
    described = ", ".join(f"--{k}={v}" for k, v in sorted(flags.items()) if k in CONTROLLER_FLAGS)
    if backend.lower() != "true":
        return failed(
            area,
            "controller",
            "--enable-backend-security-group=false: the controller does not add rules for "
            "frontguard's SG to the targets, so traffic through it would be dropped",
            "install the controller with enableBackendSecurityGroup=true (the chart default)",
        )
    ready = (deployment.get("status") or {}).get("readyReplicas", 0)
    if not ready:
        return failed(
            area,
            "controller",
            f"installed but no ready replica ({described})",
            "`kubectl -n kube-system describe deployment aws-load-balancer-controller`",
        )
    return passed(area, "controller", f"ready; {described or 'default flags'}")


def controller_flags(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The controller container's ``--name=value`` flags, defaults filled in."""
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    args: list[str] = []
    for container in containers:
        args.extend(container.get("args") or [])
    flags = dict(CONTROLLER_FLAGS)
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        flags[name] = value or "true"
    return flags


def _born(
    expect: Callable[[Policy, str], born.Expected],
    policy: Callable[[], Policy | None],
    connect: Callable[[str], KubeClient],
    cluster: str,
) -> list[Check]:
    loaded = policy()
    if loaded is None:
        return []  # the functions area reports the policy that does not load
    return born.check_born_protected(connect, expect, loaded, cluster)


def run_all(
    *,
    clients: Mapping[str, Client],
    connect: Callable[[str], KubeClient],
    deployment: Deployment,
    publish: bool,
    born_protected: Callable[[Policy, str], born.Expected] | None = None,
) -> list[Check]:
    """Every area in turn (``born_protected``: what `frontguard render born-protected` prints
    for a cluster, see :mod:`frontguard.doctor.born`); an AWS error in one area is that area's failure, not the end of
    the run (the other areas are still checked)."""
    areas: list[tuple[str, Callable[[], list[Check]]]] = [
        ("account", lambda: check_account(clients["lambda"])),
        ("cloudtrail", lambda: check_cloudtrail(clients["cloudtrail"], deployment.region)),
        ("eventbridge", lambda: check_rules(clients["events"], deployment)),
        (
            "alerting",
            lambda: check_alerting(
                clients["sns"], clients["cloudwatch"], deployment, publish=publish
            ),
        ),
        (
            "functions",
            lambda: check_functions(
                clients["lambda"], clients["cloudwatch"], clients["sqs"], clients["ssm"], deployment
            ),
        ),
        (
            channels.AREA,
            lambda: channels.check_channels(
                clients["sqs"],
                clients["sns"],
                clients["dynamodb"],
                account=deployment.account,
                queue_urls=deployment.queues,
                topic_arn=deployment.topic_arn,
                table_arn=deployment.state_table_arn,
                roles=deployment.roles,
            ),
        ),
    ]
    policy = functools.cache(lambda: deployed_policy(clients["lambda"], clients["ssm"], deployment))
    for c in deployment.clusters:
        areas.append(
            (
                f"cluster {c}",
                functools.partial(check_cluster, clients["eks"], connect, deployment, c),
            )
        )
        if born_protected is not None:
            areas.append(
                (f"cluster {c}", functools.partial(_born, born_protected, policy, connect, c))
            )
    checks: list[Check] = []
    for area, check in areas:
        try:
            checks += check()
        except ClientError as error:
            details = error.response.get("Error", {})
            operation = getattr(error, "operation_name", "an AWS call")
            checks.append(
                failed(
                    area,
                    "aws",
                    f"{operation}: {details.get('Code')}: {details.get('Message', '')}",
                    "if AccessDenied, give your credentials read access to the stack's "
                    "resources; otherwise the resource is missing: redeploy the stack",
                )
            )
    return checks
