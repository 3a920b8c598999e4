"""Finding 4: an exemption is the security team's decision, not an annotation anyone can write."""

from __future__ import annotations

from typing import Any

from frontguard.handlers.scan_flow import run_scan

from sandbox.wiring import ENFORCE, wire
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
