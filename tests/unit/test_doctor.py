"""The doctor's pure parts: reading the controller's flags and a trail's selectors, the
records' envelopes, and the table."""

from __future__ import annotations

from frontguard.doctor import records
from frontguard.doctor.clusters import controller_flags
from frontguard.doctor.report import Check, Status, failed, healthy, passed, table, warned
from frontguard.doctor.trail import _logs_management_writes


def deployment_with(args: list[str]) -> dict[str, object]:
    return {"spec": {"template": {"spec": {"containers": [{"args": args}]}}}}


def test_controller_flags_fill_in_the_controllers_defaults() -> None:
    flags = controller_flags(deployment_with(["--cluster-name=prod"]))

    assert flags["enable-backend-security-group"] == "true"
    assert flags["ingress-class"] == "alb"
    assert flags["load-balancer-class"] == "service.k8s.aws/nlb"


def test_controller_flags_read_what_the_deployment_sets() -> None:
    flags = controller_flags(
        deployment_with(
            ["--enable-backend-security-group=false", "--ingress-class=internal", "--some-bool"]
        )
    )

    assert flags["enable-backend-security-group"] == "false"
    assert flags["ingress-class"] == "internal"
    assert flags["some-bool"] == "true"


def test_management_write_events_from_basic_and_advanced_selectors() -> None:
    assert _logs_management_writes({"EventSelectors": [{"ReadWriteType": "All"}]})
    assert not _logs_management_writes({"EventSelectors": [{"ReadWriteType": "ReadOnly"}]})
    assert not _logs_management_writes(
        {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}
    )
    assert not _logs_management_writes({"EventSelectors": []})
    management = {"Field": "eventCategory", "Equals": ["Management"]}
    assert _logs_management_writes({"AdvancedEventSelectors": [{"FieldSelectors": [management]}]})
    reads = {"Field": "readOnly", "Equals": ["true"]}
    assert not _logs_management_writes(
        {"AdvancedEventSelectors": [{"FieldSelectors": [management, reads]}]}
    )


def test_records_are_wrapped_as_eventbridge_delivers_cloudtrail_events() -> None:
    loaded = {r.name: r for r in records.load("arn:aws:iam::123456789012:role/fg")}

    assert set(loaded) == set(records.EXPECTED)
    own = loaded["constructed-ec2-AuthorizeSecurityGroupIngress.frontguard.json"].event
    assert own["source"] == "aws.ec2"
    assert own["detail-type"] == "AWS API Call via CloudTrail"
    issuer = own["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"]
    assert issuer == "arn:aws:iam::123456789012:role/fg"
    envelope = loaded["eventbridge-ec2-RevokeSecurityGroupIngress.real-2019.json"].event
    assert envelope["id"] == "cd1f03c1-f3d1-23f1-10c5-e64083e27a1e"  # kept as shipped


def test_the_table_puts_each_fix_under_its_failure_and_counts() -> None:
    checks = [
        passed("cloudtrail", "trail", "org-trail logs management events here"),
        failed("cluster prod", "authentication mode", "CONFIG_MAP", "switch it to API"),
        warned("alerting", "delivery", "skipped (--no-publish)"),
    ]

    lines = table(checks)

    assert lines[0].split() == ["STATUS", "AREA", "CHECK", "DETAIL"]
    fail_at = next(i for i, line in enumerate(lines) if line.startswith("FAIL"))
    assert lines[fail_at + 1].strip() == "fix: switch it to API"
    assert lines[-1] == "1 passed, 1 warnings, 1 failed"
    assert not healthy(checks)
    assert healthy([c for c in checks if c.status is not Status.FAIL])
    assert isinstance(checks[0], Check)
