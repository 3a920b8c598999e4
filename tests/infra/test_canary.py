"""The scheduled canary in the template: opt-in, least privilege, its schedule, subscription
and alarms; and its Kubernetes rights in infra/rbac.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from frontguard import permissions
from frontguard.canary.owners import COLLECTIONS

from infra.least_privilege import TOPIC_KEY_ACTIONS
from tests.infra.conftest import Synthesized, logical_id, resources
from tests.infra.test_least_privilege import actions_of, resources_of, statements

RBAC = Path(__file__).resolve().parents[2] / "infra" / "rbac.yaml"


def test_off_unless_configured(minimal: Synthesized) -> None:
    names = [
        f["Properties"].get("Handler")
        for f in resources(minimal.template, "AWS::Lambda::Function").values()
    ]
    assert "frontguard.handlers.canary.handler" not in names


def test_the_canary_role_grants_exactly_its_reads_and_no_change_to_lbs_or_sgs(
    full: Synthesized,
) -> None:
    found = statements(full, "ScheduledCanaryRole")
    code = {a for s in found if s["Sid"].startswith("Code") for a in actions_of(s)}
    assert code == set(permissions.CANARY_FUNCTION) | set(TOPIC_KEY_ACTIONS)
    mutations = {
        a
        for a in code
        if a.split(":")[0] in ("ec2", "elasticloadbalancing")
        and not a.split(":")[1].startswith(("Describe", "Get"))
    }
    assert mutations == set()
    [queue_read] = [s for s in found if s["Sid"] == "CodeReadCanaryAlerts"]
    [queue_id] = resources(full.template, "AWS::SQS::Queue").keys() & {
        logical_id(full.template, "AWS::SQS::Queue", "ScheduledCanaryAlerts")
    }
    assert resources_of(queue_read) == [{"Fn::GetAtt": [queue_id, "Arn"]}]
    [clusters] = [s for s in found if s["Sid"] == "CodeDescribeClusters"]
    assert [str(r).rsplit("/", 1)[-1] for r in resources_of(clusters)] == ["private-eu"]


def test_one_schedule_per_canary_cluster_with_its_request(full: Synthesized) -> None:
    rules = [
        r["Properties"]
        for r in resources(full.template, "AWS::Events::Rule").values()
        if "canary" in r["Properties"].get("Description", "")
    ]
    assert len(rules) == 1
    [rule] = rules
    assert rule["ScheduleExpression"] == "rate(1 day)"
    [target] = rule["Targets"]
    assert '"cluster":"private-eu"' in target["Input"]
    assert '"max_exposure_seconds":90' in target["Input"]


def test_the_subscription_takes_the_canary_namespace_and_ownerless_alerts(
    full: Synthesized,
) -> None:
    [subscription] = [
        s["Properties"]
        for s in resources(full.template, "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "sqs"
    ]
    assert subscription["RawMessageDelivery"] is True
    assert subscription["FilterPolicy"] == {"namespace": [{"exists": False}, "frontguard-canary"]}


def test_alarms_on_failure_or_missing_runs_and_on_exposure_go_to_the_alert_topic(
    full: Synthesized,
) -> None:
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in resources(full.template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName", "").startswith("canary-")
    }
    assert set(alarms) == {"canary-success", "canary-exposure-seconds"}
    assert alarms["canary-success"]["TreatMissingData"] == "breaching"
    assert alarms["canary-success"]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms["canary-exposure-seconds"]["Threshold"] == 90
    for alarm in alarms.values():
        assert alarm["Period"] * alarm["EvaluationPeriods"] <= 86400
        assert len(alarm["AlarmActions"]) == 1


def test_the_canary_role_maps_to_its_own_kubernetes_group(full: Synthesized) -> None:
    entries = [
        e["Properties"]
        for e in resources(full.template, "AWS::EKS::AccessEntry").values()
        if e["Properties"].get("KubernetesGroups") == ["frontguard-canary"]
    ]
    assert [e["ClusterName"] for e in entries] == ["private-eu"]


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(RBAC.read_text()) if d]


def test_rbac_gives_the_canary_its_namespace_only() -> None:
    documents = _documents()
    bound = [
        d
        for d in documents
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and any(s["name"] == "frontguard-canary" for s in d["subjects"])
    ]
    assert [(d["kind"], d["metadata"]["namespace"]) for d in bound] == [
        ("RoleBinding", "frontguard-canary")
    ]
    [role] = [d for d in documents if d["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "frontguard-canary"
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert {verb for *_, verb in granted} <= {"get", "list", "create", "delete"}
    assert not any(r in ("secrets", "pods", "deployments") for _, r, _ in granted)
    # Everything the canary creates and deletes (frontguard.canary.owners) is granted.
    for collection in COLLECTIONS:
        plural = collection.rsplit("/", 1)[-1]
        group = collection.split("/")[2] if collection.startswith("/apis/") else ""
        for verb in ("list", "create", "delete"):
            assert (group, plural, verb) in granted


def test_the_alert_topic_admits_the_canary_role_and_no_other_new_writer(full: Synthesized) -> None:
    """R2-7 holds with the canary: the topic's Deny names frontguard's roles, the canary's
    (fixed name) among them, so its canary-failed alert is not refused."""
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for p in resources(full.template, "AWS::SNS::TopicPolicy").values()
    ]
    [deny] = [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Deny" and "Condition" in s and "ArnNotEquals" in s["Condition"]
    ]
    allowed = [str(a) for a in deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]]
    assert any(a.endswith(":role/frontguard-canary-eu-west-1") for a in allowed)
    assert len(allowed) == 5
