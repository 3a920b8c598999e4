"""Only frontguard's own roles may write its queue and table (security review #10).

Each function's role carries the tag ``frontguard.io/deployment = <stack name>`` (role tags
are principal tags of its sessions); the resource policies deny writes to every principal
without it. A tag condition, not the roles' ARNs, keeps the policies free of references to
the roles, whose inline policies reference the resources (no dependency cycle). Missing keys
make ``StringNotEquals`` true: untagged principals are denied
(docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
Reserve the tag key with an SCP (docs/scp.md) so nobody else can give it to a principal.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

DEPLOYMENT_TAG = "frontguard.io/deployment"


def mark_frontguard_role(role: IConstruct) -> None:
    Tags.of(role).add(DEPLOYMENT_TAG, Stack.of(role).stack_name)


def deny_other_principals(
    scope: Construct, actions: Sequence[str], resources: Sequence[str]
) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="OnlyFrontguardRolesWrite",
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=list(actions),
        resources=list(resources),
        conditions={
            "StringNotEquals": {f"aws:PrincipalTag/{DEPLOYMENT_TAG}": Stack.of(scope).stack_name}
        },
    )
