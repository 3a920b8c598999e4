"""The advice a human gets when verification fails, chosen by the kinds of the findings
(never by their text)."""

from __future__ import annotations

from collections.abc import Sequence

from frontguard.controller.security_groups import annotation_keys
from frontguard.engine.verify_findings import Finding, FindingKind
from frontguard.model import OwnerKind, OwnerRef


def fix(
    owner: OwnerRef, sg_id: str, findings: Sequence[Finding], members: Sequence[tuple[str, str]]
) -> str:
    """The advice for a human, chosen by the kinds of the findings."""
    kinds = {finding.kind for finding in findings}
    if FindingKind.OWNER_DELETED in kinds:
        return (
            "Nothing to fix: the owner object is gone and the controller deletes its load balancer."
        )
    advice: list[str] = []
    if FindingKind.SECURITY_GROUP_DELETED in kinds:
        advice.append(
            f"frontguard's security group {sg_id} was deleted (CloudTrail DeleteSecurityGroup "
            "says by whom). frontguard creates a new one and updates the annotations on its "
            "next scan; until then the controller cannot reconcile this load balancer."
        )
    elif owner.kind is OwnerKind.GATEWAY:
        advice.append(
            f"Set spec.securityGroups: [{sg_id}] and spec.manageBackendSecurityGroupRules: true "
            f"on the LoadBalancerConfiguration that {owner.describe()} references "
            "(spec.infrastructure.parametersRef), and keep its GatewayClass's configuration "
            "from pinning securityGroups."
        )
    else:
        advice += _annotation_advice(owner, sg_id, kinds, members)
    advice += _more_advice(kinds, sg_id)
    return "\n".join(advice)


def _annotation_advice(
    owner: OwnerRef, sg_id: str, kinds: set[FindingKind], members: Sequence[tuple[str, str]]
) -> list[str]:
    """Which annotations to set on which objects: in their source when something reverted
    them, else with kubectl."""
    advice: list[str] = []
    keys = annotation_keys(owner)
    sg_key = keys.security_groups
    backend_key = keys.backend_rules
    kind = "service" if owner.kind is OwnerKind.SERVICE else "ingress"
    targets = members or ([(owner.namespace, owner.name)] if owner.namespace and owner.name else [])
    backend = f' {backend_key}="true"' if backend_key else ""
    commands = [
        f'kubectl annotate {kind} -n {namespace} {name} --overwrite {sg_key}="{sg_id}"{backend}'
        for namespace, name in targets
    ] or [f'set {sg_key}: "{sg_id}"{backend} on every member']
    where = (
        "every member of IngressGroup " + str(owner.group)
        if owner.kind is OwnerKind.INGRESS_GROUP
        else owner.describe()
    )
    if kinds & {FindingKind.GITOPS_MANAGED, FindingKind.ANNOTATION_REVERTED}:
        advice.append(
            f"Commit these annotations to the source of {where} (the tool or person that "
            "reverted them will otherwise undo a direct change):"
        )
        advice.append(f'  {sg_key}: "{sg_id}"')
        if backend_key:
            advice.append(f'  {backend_key}: "true"')
        advice.append("or, when nothing manages it, run:")
    else:
        advice.append(f"Set the annotations on {where}:")
    advice.extend(f"  {command}" for command in commands)
    return advice


def _more_advice(kinds: set[FindingKind], sg_id: str) -> list[str]:
    """Advice that adds to the first: a group conflict, the controller's event, an extra SG,
    rules edited by hand."""
    advice: list[str] = []
    if FindingKind.GROUP_CONFLICT in kinds:
        advice.append(
            "Every member of the IngressGroup that carries the annotation must carry the "
            "identical value, or the controller reconciles none of them."
        )
    if FindingKind.CONTROLLER_EVENT in kinds:
        advice.append("Fix what the controller's event says; it retries on every change.")
    if FindingKind.EXTRA_SECURITY_GROUP in kinds:
        advice.append(
            "Find who attached the extra security group (CloudTrail SetSecurityGroups on the "
            "load balancer); the next scan asks the controller to reconcile, which removes it."
        )
    if FindingKind.RULES_CHANGED in kinds:
        advice.append(
            f"Do not edit {sg_id} by hand: frontguard restores its rules on the next scan; "
            "change the policy instead."
        )
    return advice
