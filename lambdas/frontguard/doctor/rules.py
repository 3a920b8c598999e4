"""The doctor's EventBridge area: frontguard's rules exist, are enabled, target what they
should, and match exactly the shipped CloudTrail records they should."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from frontguard.doctor import records
from frontguard.doctor.deployment import Client, Deployment
from frontguard.doctor.report import Check, failed, passed

AREA = "eventbridge"
REDEPLOY = "redeploy the stack (`cdk deploy`); do not edit frontguard's rules by hand"


def check_rules(events: Client, deployment: Deployment) -> list[Check]:
    """Each rule exists, is enabled, targets what it should, and matches exactly the shipped
    CloudTrail records it should (TestEventPattern: AWS's own matcher)."""
    area = AREA
    expected_target = {
        "CreateLoadBalancer": deployment.outputs["EventsFunctionArn"],
        "CreateManagedSecurityGroup": deployment.outputs["EventsFunctionArn"],
        "Elbv2Drift": deployment.outputs["ScanQueueArn"],
        "Ec2Drift": deployment.outputs["ScanQueueArn"],
        "Schedule": deployment.outputs["ScanQueueArn"],
    }
    checks: list[Check] = []
    patterns: dict[str, str] = {}
    for rule, target in expected_target.items():
        name = deployment.outputs.get(f"Rule{rule}", "")
        try:
            described = events.describe_rule(Name=name)
        except ClientError:
            checks.append(failed(area, rule, f"rule {name or '?'} does not exist", REDEPLOY))
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
                    area, rule, f"rule {name} targets {arns or 'nothing'}, not {target}", REDEPLOY
                )
            )
            continue
        checks.append(passed(area, rule, f"enabled, targets {target.rsplit(':', 1)[-1]}"))
        if described.get("EventPattern"):
            patterns[rule] = described["EventPattern"]
    return [*checks, *_record_checks(events, deployment, patterns)]


def _record_checks(events: Client, deployment: Deployment, patterns: dict[str, str]) -> list[Check]:
    """Each shipped CloudTrail record matches exactly the rule it should (or none)."""
    checks: list[Check] = []
    for record in records.load(deployment.role("Scan")):
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
                    AREA, f"record {record.name}", f"matches {matched[0] if matched else 'no rule'}"
                )
            )
        else:
            checks.append(
                failed(
                    AREA,
                    f"record {record.label}",
                    f"matched {matched or 'no rule'}, expected {wanted or 'no rule'}",
                    REDEPLOY,
                )
            )
    return checks
