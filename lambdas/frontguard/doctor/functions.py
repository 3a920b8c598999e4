"""The doctor's account and functions areas: Lambda concurrency, each function's state and
errors, the dead-letter queues, and the policy the functions load."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from botocore.exceptions import ClientError

from frontguard.doctor.deployment import FUNCTIONS, Client, Deployment
from frontguard.doctor.report import Check, failed, passed, warned
from frontguard.errors import ConfigurationError, FrontguardError
from frontguard.policy import Policy

ERROR_WINDOW: Final = timedelta(hours=24)
# Lambda keeps 100 executions unreserved; accounts below that are new, reduced-quota accounts
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MIN_CONCURRENCY: Final = 100


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
