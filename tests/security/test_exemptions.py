"""Finding 4: an exemption is the security team's decision, not an annotation anyone can write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from frontguard.errors import ConfigurationError
from frontguard.handlers import events as events_handler
from frontguard.handlers._runtime import reset_runtime
from frontguard.handlers.scan_flow import run_scan

from sandbox.wiring import ENFORCE, FakeLambdaContext, wire
from tests.security.catalogue import attack

EXEMPT = "frontguard.io/exempt"
INGRESS_SG = "alb.ingress.kubernetes.io/security-groups"
INGRESS_BACKEND = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"


def digest_of(fg: Any) -> dict[str, Any]:
    [digest] = [a for a in fg.alerts() if a["outcome"] == "scan-digest"]
    return dict(digest)


@attack(
    "4",
    "edit an Ingress",
    "add frontguard.io/exempt to a new Ingress so frontguard leaves its world-open ALB alone "
    "and tells nobody",
    "not an exemption: an exempt-unapproved alert at once, and an open finding in every digest",
)
def test_an_exemption_annotation_alone_alerts_and_stays_in_the_digest(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443], annotations={EXEMPT: "trust me"})

    assert fg.deliver(web.event)["outcome"] == "exempt-unapproved"
    prod.service("shop/api")  # a new finding, so that the scan sends a digest
    run_scan(fg.runtime)

    [alert] = [a for a in fg.alerts() if a["outcome"] == "exempt-unapproved"]  # once
    assert "«trust me» (user-written)" in alert["detail"]
    assert "exemptions" in alert["fix"]
    digest = digest_of(fg)
    # Alerted on its own already, it is still open: listed first, not alerted again as new.
    assert [(w["outcome"], w["status"]) for w in digest["findings"]] == [
        ("exempt-unapproved", "still-open"),
        ("remediation-queued", "new"),
    ]


@attack(
    "4",
    "edit an Ingress",
    "after remediation, add the exemption and remove frontguard's annotations to reopen the ALB",
    "the scan reports exempt-unapproved (an open finding, alerted), never a silent `exempt`",
)
def test_exempting_after_remediation_is_reported(sandbox, fg):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    web.annotate({EXEMPT: "", INGRESS_SG: None, INGRESS_BACKEND: None})
    prod.lbc.reconcile()

    [item] = run_scan(fg.runtime).items

    assert item.outcome.value == "exempt-unapproved"
    # Alerted in the scan's one message, as a new finding with its detail.
    assert [a["outcome"] for a in fg.alerts()] == ["remediated", "scan-digest"]
    [finding] = digest_of(fg)["findings"]
    assert (finding["outcome"], finding["status"]) == ("exempt-unapproved", "new")
    assert finding["fix"]


@attack(
    "4",
    "edit one member of a shared IngressGroup",
    "team-a's member (exempt by the policy as an Ingress) or annotation exempts team-b's hosts "
    "on the shared ALB",
    "only an ingress-group entry exempts a group: the group is remediated; an annotation alone "
    "is exempt-unapproved",
)
def test_one_member_cannot_exempt_the_whole_group(sandbox):
    member_entry = {
        "cluster": "prod",
        "namespace": "team-a",
        "kind": "ingress",
        "name": "one",
        "reason": "team-a's own",
        "approved_by": "platform-security",
        "expires": "2099-01-01",
    }
    fg = wire(sandbox, {**ENFORCE, "exemptions": [member_entry]})
    prod = sandbox.cluster("prod")
    shared = prod.ingress_group("shared", members=["team-a/one", "team-b/two"], ports=[443])

    assert fg.deliver(shared.event)["outcome"] == "remediated"

    shared.annotate({EXEMPT: "team-a says so"})
    assert fg.deliver(shared.event)["outcome"] == "exempt-unapproved"


@attack(
    "4",
    "none (control)",
    "an exemption the security team listed in the policy, with a reason and an expiry",
    "honoured while valid (exempt, listed in the digest); expired, it exempts nothing",
)
def test_a_policy_exemption_is_honoured_until_it_expires(sandbox):
    entry = {
        "cluster": "prod",
        "namespace": "shop",
        "kind": "ingress",
        "name": "web",
        "reason": "SEC-42 status page",
        "approved_by": "platform-security",
        "expires": "2099-01-01",
    }
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg = wire(sandbox, {**ENFORCE, "exemptions": [entry]})
    assert fg.deliver(web.event)["outcome"] == "exempt"
    prod.service("shop/api")  # a new finding, so that the scan sends a digest
    report = run_scan(fg.runtime)
    assert sorted(i.outcome.value for i in report.items) == ["exempt", "remediation-queued"]
    exempt = digest_of(fg)["exempt"]
    assert "approved by platform-security, until 2099-01-01" in exempt[0]["reason"]

    expired = wire(sandbox, {**ENFORCE, "exemptions": [{**entry, "expires": "2020-01-01"}]})
    assert expired.deliver(web.event)["outcome"] == "remediated"


def _entry(**fields: str) -> dict[str, str]:
    return {
        "kind": "ingress",
        "name": "status",
        "reason": "public status page, SEC-7",
        "approved_by": "platform-security",
        "expires": "2099-01-01",
        **fields,
    }


@attack(
    "R2-10",
    "none (control)",
    "an exact entry (cluster prod, namespace ops, Ingress status); team-x names its world-open "
    "Ingress `status` too",
    "ops/status is exempt; team-x/status is remediated",
)
def test_naming_an_ingress_like_an_exempted_one_exempts_nothing(sandbox):
    fg = wire(sandbox, {**ENFORCE, "exemptions": [_entry(cluster="prod", namespace="ops")]})
    prod = sandbox.cluster("prod")
    mine = prod.ingress("team-x/status", ports=[443])
    theirs = prod.ingress("ops/status", ports=[443])

    assert fg.deliver(mine.event)["outcome"] == "remediated"
    assert fg.deliver(theirs.event)["outcome"] == "exempt"


@attack(
    "R2-10",
    "propose a policy change (or a careless entry)",
    "an exemption without a namespace, or with a namespace/cluster glob, that every tenant "
    "can match by naming an object alike",
    "the policy does not load: a configuration error naming the entry; the event handler "
    "refuses to run (event kept for retry / DLQ), nothing is exempted",
)
@pytest.mark.parametrize(
    "entry",
    [
        _entry(cluster="prod"),  # no namespace: used to default to "*"
        _entry(cluster="prod", namespace="team-*"),
        _entry(cluster="prod", namespace="*"),
        _entry(namespace="ops"),  # no cluster
        _entry(cluster="pr?d", namespace="ops"),
        _entry(cluster="prod", namespace="ops", name="stat*"),
    ],
)
def test_a_broad_exemption_entry_is_refused_by_the_event_handler(
    sandbox, fg, handler_env, monkeypatch, entry
):
    monkeypatch.setenv("FRONTGUARD_POLICY", json.dumps({**ENFORCE, "exemptions": [entry]}))
    reset_runtime()
    mine = sandbox.cluster("prod").ingress("team-x/status", ports=[443])

    with pytest.raises(ConfigurationError, match=r"exemptions\.0.*names one object"):
        events_handler.handler(mine.event, FakeLambdaContext())
    assert fg.alerts() == []  # nothing exempted, nothing changed
