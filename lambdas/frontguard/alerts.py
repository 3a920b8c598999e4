"""Alerts (DESIGN.md, "Contracts"): a JSON body for machines, a short subject for humans.

The body always carries ``outcome``, ``load_balancer_arn``, ``cluster``, ``owner``,
``account``, ``region`` and ``detail``; ``summary``, ``why`` and ``fix`` say it in words.
With ``MessageStructure="json"`` SNS delivers per protocol: email gets :func:`render_text`
of the body, ``https`` (AWS Chatbot's Slack channels) a Chatbot custom notification, and every
other subscriber (queues, Lambdas, email-json) the JSON body itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate
from frontguard.model import Outcome, OwnerRef
from frontguard.untrusted import defang, escape

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger(__name__)

# SNS: "Subjects must be ... less than 100 characters long".
# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
SUBJECT_LIMIT = 99
# Chatbot custom notifications: https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html
# (title up to 250 characters, description up to 8000).
CHATBOT_TITLE_LIMIT = 250
CHATBOT_DESCRIPTION_LIMIT = 8000

WHY: Mapping[Outcome, str] = {
    Outcome.REMEDIATED: "The load balancer was open beyond policy; it now gets frontguard's "
    "security group through the controller.",
    Outcome.VERIFIED: "The load balancer carries the policy security group.",
    Outcome.VERIFICATION_FAILED: "The load balancer is still not behind the policy security "
    "group: it admits traffic the policy forbids.",
    Outcome.NEEDS_RECREATION: "A Network Load Balancer created without security groups can "
    "never get one, so nothing restricts who reaches it.",
    Outcome.GITOPS_PENDING: "The object is managed by GitOps: a direct patch would be "
    "reverted, so the change must be committed to its source.",
    Outcome.CONFLICT: "Something keeps undoing the security group change; frontguard stopped "
    "to avoid fighting it.",
    Outcome.DRIFT: "The load balancer's protection changed after frontguard set it up.",
    Outcome.AUDIT_FINDING: "The load balancer does not follow the policy (audit mode: nothing "
    "was changed).",
    Outcome.ERROR: "frontguard could not finish and needs a human.",
    Outcome.CANARY_FAILED: "frontguard's canary load balancer was not protected as it should "
    "be: the chain that protects new load balancers (the controller, CloudTrail, frontguard's "
    "access) is broken somewhere, or slower than the configured bound.",
    Outcome.BORN_OPEN: "The cluster should create load balancers at policy width, but this one "
    "was created open: the class-level object that closes the window is missing or drifted.",
    Outcome.EXEMPT_UNAPPROVED: "Anyone who can edit the object can write the exemption "
    "annotation: until the policy approves it, the load balancer may admit traffic the policy "
    "forbids.",
}


@dataclass(frozen=True)
class Alert:
    outcome: Outcome
    load_balancer_arn: str
    cluster: str | None
    owner: OwnerRef | None
    detail: str
    fix: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def subject(self) -> str:
        """One line for a human, within SNS's limit: ASCII, no control characters."""
        if self.owner is not None:
            about = self.owner.describe()
        else:
            about = self.load_balancer_arn.split("/")[-2] if "/" in self.load_balancer_arn else ""
        where = f" in {self.cluster}" if self.cluster else ""
        text = f"frontguard {self.outcome.value}: {about or self.load_balancer_arn}{where}"
        text = "".join(c if c.isprintable() else " " for c in text)
        text = text.encode("ascii", "replace").decode()
        return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."

    def body(self, *, account: str, region: str) -> dict[str, Any]:
        owner = self.owner.describe() if self.owner else "unknown"
        return {
            "outcome": self.outcome.value,
            "load_balancer_arn": self.load_balancer_arn,
            "cluster": self.cluster,
            "owner": self.owner.as_dict() if self.owner else None,
            "account": account,
            "region": region,
            "detail": self.detail,
            "summary": f"{self.outcome.value}: load balancer {self.load_balancer_arn} "
            f"({owner}) in cluster {self.cluster or 'unknown'}",
            "why": WHY.get(self.outcome, ""),
            "fix": self.fix,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            **dict(self.data),
        }


_BODY_KEYS = frozenset(
    {"outcome", "load_balancer_arn", "cluster", "owner", "account", "region", "detail"}
    | {"summary", "why", "fix", "time", "findings"}
)
_HEADLINES: Mapping[str, str] = {
    Outcome.REMEDIATED: "frontguard put a load balancer behind the policy security group",
    Outcome.VERIFIED: "A load balancer is verified behind the policy security group",
    Outcome.VERIFICATION_FAILED: "A load balancer is still not behind the policy security group",
    Outcome.NEEDS_RECREATION: "A load balancer must be recreated to get a security group",
    Outcome.GITOPS_PENDING: "Annotations must be committed to a GitOps repository",
    Outcome.CONFLICT: "frontguard stopped: something keeps undoing its change",
    Outcome.DRIFT: "A load balancer's protection drifted",
    Outcome.AUDIT_FINDING: "A load balancer does not follow the policy (audit)",
    Outcome.ERROR: "frontguard could not finish",
    Outcome.CANARY_FAILED: "frontguard's canary failed",
    Outcome.BORN_OPEN: "A load balancer of a born-protected cluster was created open",
    Outcome.EXEMPT_UNAPPROVED: "An object opted out of frontguard without the policy's approval",
}


def describe_owner(owner: Mapping[str, Any] | None) -> str:
    """``Ingress shop/web``, ``IngressGroup shared``, ``Service infra/dns`` (for humans)."""
    if not owner:
        return "unknown"
    kind = str(owner.get("kind"))
    if kind == "ingress-group":
        return f"IngressGroup {owner.get('group')} (every Ingress with that group.name)"
    names = {"ingress": "Ingress", "service": "Service", "gateway": "Gateway"}
    text = f"{names.get(kind, kind)} {owner.get('namespace')}/{owner.get('name')}"
    return text + (" (its frontend NLB)" if owner.get("frontend_nlb") else "")


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in defang(text).splitlines())


def _bullet(text: str) -> str:
    """A finding as one bullet; its continuation lines indented under it, so no text of a
    finding can start a line of its own (a forged heading)."""
    first, *rest = defang(text).splitlines() or [""]
    return "\n".join(["  - " + first, *("    " + line for line in rest)])


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_value(v)}" for k, v in value.items())
    return str(value)


def render_text(body: Mapping[str, Any]) -> str:
    """The alert as plain text for an email reader: what happened, where, why, the fix.

    Every value is shown escaped (:mod:`frontguard.untrusted`): only frontguard's own line
    breaks reach the reader, and the values users wrote are quoted and labelled where the
    findings are composed."""
    outcome = escape(body.get("outcome"), 60)
    findings = body.get("findings") or []
    happened = (
        [_bullet(str(f.get("text")) if isinstance(f, Mapping) else str(f)) for f in findings]
        if findings
        else [_indent(str(body.get("detail") or ""))]
    )
    lines = [
        _HEADLINES.get(outcome, f"frontguard: {outcome}") + f" ({outcome})",
        "",
        "What happened:",
        *happened,
        "",
        f"Load balancer:      {escape(body.get('load_balancer_arn'), 300)}",
        f"Kubernetes object:  {escape(describe_owner(body.get('owner')), 300)}",
        f"Cluster:            {escape(body.get('cluster') or 'unknown', 120)}",
        f"Account / region:   {escape(body.get('account'), 20)} / {escape(body.get('region'), 30)}",
    ]
    if body.get("security_group_id"):
        lines.append(f"Security group:     {escape(body['security_group_id'], 40)}")
    if body.get("why"):
        lines += ["", "Why it matters:", _indent(str(body["why"]))]
    lines += ["", "How to fix:", _indent(str(body.get("fix") or "Nothing to do."))]
    details = {
        k: v
        for k, v in body.items()
        if k not in _BODY_KEYS and k != "security_group_id" and v not in (None, "", [], {})
    }
    if details:
        lines += ["", "Details:"]
        lines += [
            f"  {escape(key, 60)}: {escape(_value(value), DETAIL_LIMIT)}"
            for key, value in sorted(details.items())
        ]
    lines += [
        "",
        f"Sent by frontguard at {escape(body.get('time'), 40)}. Machines read the same alert as "
        "JSON (the message's default body).",
    ]
    return "\n".join(lines) + "\n"


# SNS accepts at most 256 KiB per message, counted in UTF-8 bytes
# (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html, "Message"); the budget keeps
# room for the subject and the request around it.
SNS_MESSAGE_LIMIT = 262_144
MESSAGE_BUDGET = 250_000
DETAIL_LIMIT = 500
REQUIRED_KEYS = ("outcome", "load_balancer_arn", "cluster", "owner", "account", "region", "detail")


def _shorten(value: Any, limit: int) -> Any:
    """``value`` with every string cut to ``limit`` characters and every list to its first
    few items (saying how many were left out)."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}…(+{len(value) - limit} chars)"
    if isinstance(value, Mapping):
        return {str(k)[:limit]: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        keep = max(3, limit // 20)
        items = [_shorten(v, limit) for v in list(value)[:keep]]
        if len(value) > keep:
            items.append(f"…(+{len(value) - keep} more)")
        return items
    return value


def budgeted(
    body: Mapping[str, Any],
    build: Callable[[Mapping[str, Any]], str],
    budget: int = MESSAGE_BUDGET,
) -> str:
    """``build(body)`` (an SNS message) within ``budget`` bytes. A body too large is shortened
    step by step (long values, then long lists, then everything but the contract's keys) and
    says so: a shortened alert is always sent, never none."""
    text = build(json.loads(json.dumps(body, default=str)))
    if len(text.encode()) <= budget:
        return text
    note = "this alert was shortened to fit SNS's message size limit"
    for limit in (2000, 500, 100):
        shortened = {
            **_shorten(json.loads(json.dumps(body, default=str)), limit),
            "truncated": note,
        }
        text = build(shortened)
        if len(text.encode()) <= budget:
            break
    else:
        text = build(
            {
                **{key: _shorten(body.get(key), 1000) for key in REQUIRED_KEYS},
                "truncated": note + "; only the essential fields are kept",
            }
        )
    logger.warning(
        "alert shortened to fit SNS's limit",
        extra={"outcome": body.get("outcome"), "load_balancer_arn": body.get("load_balancer_arn")},
    )
    return text


class AlertSink(Protocol):
    def publish(self, alert: Alert) -> None: ...


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def chatbot_notification(
    *,
    title: str,
    description: str,
    event_type: str,
    summary: str,
    related: Sequence[str] = (),
    next_steps: Sequence[str] = (),
) -> dict[str, Any]:
    """An AWS Chatbot custom notification: Chatbot drops any message not in its schema
    (``version`` "1.0", ``source`` "custom"), so this is the only body Slack will show.
    https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html"""
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": _clip(title, CHATBOT_TITLE_LIMIT),
        "description": _clip(description, CHATBOT_DESCRIPTION_LIMIT),
    }
    if next_steps:
        content["nextSteps"] = list(next_steps)
    return {
        "version": "1.0",
        "source": "custom",
        "content": content,
        "metadata": {
            "summary": summary,
            "eventType": event_type,
            "relatedResources": [r for r in related if r],
        },
    }


def structured_message(default: str, *, email: str, chatbot: Mapping[str, Any]) -> str:
    """An SNS ``MessageStructure="json"`` message: ``default`` for machines, ``email`` text,
    ``https`` the Chatbot notification (an HTTPS endpoint other than Chatbot would get it too;
    give such endpoints their own topic)."""
    return json.dumps({"default": default, "email": email, "https": json.dumps(chatbot)})


def sns_message(body: Mapping[str, Any], subject: str | None = None) -> str:
    """The alert for SNS: ``default`` is the JSON body (queues, Lambdas and email-json
    subscribers get it); ``email`` its plain-text rendering; ``https`` a Chatbot notification;
    within SNS's size limit (:func:`budgeted`)."""
    return budgeted(body, lambda candidate: _sns_message(candidate, subject))


def _sns_message(body: Mapping[str, Any], subject: str | None) -> str:
    default = json.dumps(body, indent=2, sort_keys=True, default=str)
    text = render_text(json.loads(default))
    outcome = str(body.get("outcome"))
    return structured_message(
        default,
        email=text,
        chatbot=chatbot_notification(
            title=subject or _HEADLINES.get(outcome, f"frontguard: {outcome}"),
            description=text,
            event_type=outcome,
            summary=str(body.get("summary") or outcome),
            related=[
                str(body.get("load_balancer_arn") or ""),
                str(body.get("security_group_id") or ""),
            ],
            next_steps=[str(body["fix"])] if body.get("fix") else (),
        ),
    )


def message_attributes(alert: Alert) -> dict[str, Any]:
    """``outcome``, ``cluster`` and the owner's ``namespace`` as SNS message attributes, so a
    subscription can take a subset with a filter policy (the canary's queue takes its own
    namespace's alerts). A message of ``MessageStructure="json"`` cannot be filtered by its
    body: https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering.html."""
    values = {
        "outcome": alert.outcome.value,
        "cluster": alert.cluster,
        "namespace": alert.owner.namespace if alert.owner else None,
    }
    return {
        key: {"DataType": "String", "StringValue": value[:256]}
        for key, value in values.items()
        if value
    }


class SnsAlerts:
    """Publishes alerts to the SNS topic."""

    def __init__(self, sns: SNSClient, topic_arn: str, *, account: str, region: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self._account = account
        self._region = region

    def publish(self, alert: Alert) -> None:
        body = alert.body(account=self._account, region=self._region)
        try:
            self._sns.publish(
                TopicArn=self._topic_arn,
                Subject=alert.subject(),
                MessageStructure="json",
                Message=sns_message(body, alert.subject()),
                MessageAttributes=message_attributes(alert),
            )
        except ClientError as error:
            raise translate(error, "publish alert") from error
        logger.info(
            "alert published",
            extra={
                "outcome": alert.outcome.value,
                "load_balancer_arn": alert.load_balancer_arn,
                "cluster": alert.cluster,
                "owner": alert.owner.describe() if alert.owner else None,
            },
        )


class FanOutAlerts:
    """Every alert to each sink in turn (the SNS path, then Security Hub findings)."""

    def __init__(self, *sinks: AlertSink) -> None:
        self.sinks = sinks

    def publish(self, alert: Alert) -> None:
        for sink in self.sinks:
            sink.publish(alert)


class CollectedAlerts:
    """For reports that carry their findings themselves (the CLI's table, the fleet scan's
    report): alerts are kept, neither published nor logged."""

    def __init__(self) -> None:
        self.published: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.published.append(alert)


class LogOnlyAlerts:
    """For runs without a topic (the CLI in audit mode): alerts become warning log lines."""

    def __init__(self) -> None:
        self.published: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.published.append(alert)
        logger.warning(
            "alert",
            extra={"outcome": alert.outcome.value, "load_balancer_arn": alert.load_balancer_arn},
        )
