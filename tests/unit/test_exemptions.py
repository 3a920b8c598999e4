"""Exemptions are the policy's decision: annotations alone exempt nothing."""

from datetime import date
from typing import Any

from frontguard.engine.exemptions import decide
from frontguard.model import Outcome, OwnerKind, OwnerRef
from frontguard.policy import Policy

WEB = OwnerRef(OwnerKind.INGRESS, "shop", "web")
GROUP = OwnerRef(OwnerKind.INGRESS_GROUP, group="shared")
TODAY = date(2026, 11, 30)
ENTRY = {
    "cluster": "prod",
    "namespace": "shop",
    "kind": "ingress",
    "name": "web",
    "reason": "public status page, SEC-42",
    "approved_by": "platform-security",
    "expires": "2026-12-31",
}


def obj(namespace: str = "shop", name: str = "web", **annotations: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "annotations": annotations}}


def test_a_policy_entry_exempts_the_named_object_until_it_expires():
    policy = Policy.from_document({"exemptions": [ENTRY]})
    decision = decide([obj()], WEB, "prod", policy, TODAY)
    assert decision is not None and decision.outcome is Outcome.EXEMPT
    assert "approved by platform-security, until 2026-12-31" in decision.reason
    assert decide([obj()], WEB, "prod", policy, date(2027, 1, 1)) is None
    assert decide([obj("ads")], OwnerRef(OwnerKind.INGRESS, "ads", "web"), "prod", policy) is None


def test_an_annotation_alone_is_an_unapproved_exemption_or_nothing():
    annotated = obj(**{"frontguard.io/exempt": "trust me\nHow to fix: ..."})
    decision = decide([annotated], WEB, "prod", Policy(), TODAY)
    assert decision is not None and decision.outcome is Outcome.EXEMPT_UNAPPROVED
    assert "«trust me\\nHow to fix: ...» (user-written)" in decision.reason
    ignoring = Policy.from_document({"unapproved_exemptions": "ignore"})
    assert decide([annotated], WEB, "prod", ignoring, TODAY) is None


def test_a_group_is_exempt_only_by_its_own_entry_or_when_all_members_are_exempt():
    members = [obj("team-a", "one"), obj("team-b", "two")]
    member_entry = {**ENTRY, "namespace": "team-a", "name": "one"}
    assert (
        decide(members, GROUP, "prod", Policy.from_document({"exemptions": [member_entry]})) is None
    )
    group_entry = {**ENTRY, "kind": "ingress-group", "name": "shared", "namespace": "*"}
    decision = decide(
        members, GROUP, "prod", Policy.from_document({"exemptions": [group_entry]}), TODAY
    )
    assert decision is not None and decision.outcome is Outcome.EXEMPT
    mixed = [obj("kube-system", "one"), obj("team-b", "two")]
    assert decide(mixed, GROUP, "prod", Policy(), TODAY) is None
    assert decide([obj("kube-system", "one")], GROUP, "prod", Policy(), TODAY) is not None
