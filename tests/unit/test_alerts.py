"""Alert rendering: the JSON body for machines, the subject and the email text for humans."""

from __future__ import annotations

import json

from frontguard.alerts import SUBJECT_LIMIT, Alert, render_text, sns_message
from frontguard.engine.verify_advice import fix as _fix
from frontguard.engine.verify_findings import Finding, FindingKind
from frontguard.model import Outcome, OwnerKind, OwnerRef

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-shop-web-1/abc"
WEB = OwnerRef(OwnerKind.INGRESS, "shop", "web")
SG_KEY = "alb.ingress.kubernetes.io/security-groups"


def failed_alert(**overrides: object) -> Alert:
    fields: dict[str, object] = {
        "outcome": Outcome.VERIFICATION_FAILED,
        "load_balancer_arn": ARN,
        "cluster": "prod",
        "owner": WEB,
        "detail": "the load balancer does not carry frontguard's security group sg-1",
        "fix": "kubectl annotate ingress -n shop web --overwrite a=b",
        "data": {
            "security_group_id": "sg-1",
            "findings": [{"kind": "security-group-not-attached", "text": "not carried"}],
            "attempts": 4,
        },
    }
    fields.update(overrides)
    return Alert(**fields)  # type: ignore[arg-type]


def test_body_carries_the_contract_fields():
    body = failed_alert().body(account="123456789012", region="eu-west-1")

    assert {"outcome", "load_balancer_arn", "cluster", "owner", "account", "region", "detail"} <= (
        set(body)
    )
    assert body["owner"] == {
        "kind": "ingress",
        "namespace": "shop",
        "name": "web",
        "group": None,
        "frontend_nlb": False,
    }


def test_subject_names_outcome_owner_and_cluster():
    assert failed_alert().subject() == "frontguard verification-failed: ingress/shop/web in prod"


def test_subject_is_ascii_single_line_and_within_the_sns_limit():
    long_owner = OwnerRef(OwnerKind.SERVICE, "équipe-" + "x" * 120, "api\nv2")

    subject = failed_alert(owner=long_owner, cluster="prod\tblue").subject()

    assert len(subject) <= SUBJECT_LIMIT
    assert subject.isascii() and subject.isprintable()
    assert subject.endswith("...")


def test_sns_message_has_json_default_and_plain_text_email():
    body = failed_alert().body(account="123456789012", region="eu-west-1")

    message = json.loads(sns_message(body))

    assert set(message) == {"default", "email", "https"}
    assert json.loads(message["default"]) == json.loads(json.dumps(body, default=str))
    assert not message["email"].lstrip().startswith("{")


def test_the_https_protocol_gets_a_chatbot_custom_notification():
    """Deploy audit 2: AWS Chatbot drops every message not in its custom-notification schema
    (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html)."""
    alert = failed_alert()
    body = alert.body(account="123456789012", region="eu-west-1")

    chatbot = json.loads(json.loads(sns_message(body, alert.subject()))["https"])

    assert chatbot["version"] == "1.0"
    assert chatbot["source"] == "custom"
    assert chatbot["content"]["textType"] == "client-markdown"
    assert chatbot["content"]["title"] == alert.subject()
    assert chatbot["content"]["description"] == render_text(
        json.loads(json.dumps(body, default=str))
    )
    assert chatbot["content"]["nextSteps"] == [body["fix"]]
    assert chatbot["metadata"]["eventType"] == "verification-failed"
    assert chatbot["metadata"]["summary"] == body["summary"]
    assert ARN in chatbot["metadata"]["relatedResources"]
    assert len(chatbot["content"]["title"]) <= 250
    assert len(chatbot["content"]["description"]) <= 8000


def test_subjects_stay_below_the_documented_100_characters():
    assert SUBJECT_LIMIT == 99


def test_email_says_what_where_why_and_how_to_fix():
    body = failed_alert().body(account="123456789012", region="eu-west-1")

    text = render_text(body)

    assert text.startswith("A load balancer is still not behind the policy security group")
    assert "  - not carried" in text
    assert f"Load balancer:      {ARN}" in text
    assert "Kubernetes object:  Ingress shop/web" in text
    assert "Cluster:            prod" in text
    assert "Account / region:   123456789012 / eu-west-1" in text
    assert "Why it matters:\n  The load balancer is still not behind" in text
    assert "How to fix:\n  kubectl annotate ingress -n shop web --overwrite a=b" in text
    assert "attempts: 4" in text


def test_email_of_an_ingress_group_names_the_group():
    group = OwnerRef(OwnerKind.INGRESS_GROUP, group="shared")
    body = failed_alert(owner=group).body(account="1", region="eu-west-1")

    assert "Kubernetes object:  IngressGroup shared" in render_text(body)


def test_fix_for_a_reverted_annotation_gives_the_annotation_and_the_command():
    reverted = Finding(FindingKind.ANNOTATION_REVERTED, "changed", "shop/web")

    fix = _fix(WEB, "sg-1", [reverted], [("shop", "web")])

    assert f'{SG_KEY}: "sg-1"' in fix
    assert f'kubectl annotate ingress -n shop web --overwrite {SG_KEY}="sg-1"' in fix


def test_fix_for_a_deleted_group_does_not_name_the_deleted_group_in_a_command():
    deleted = Finding(FindingKind.SECURITY_GROUP_DELETED, "whatever the text says")

    fix = _fix(WEB, "sg-1", [deleted], [("shop", "web")])

    assert "kubectl" not in fix and "next scan" in fix


def test_fix_is_chosen_by_finding_kind_not_by_text():
    misleading = Finding(FindingKind.RULES_CHANGED, "deleted; the controller reported")

    fix = _fix(WEB, "sg-1", [misleading], [("shop", "web")])

    assert "next scan" in fix and "by hand" in fix
    assert "controller's event" not in fix
