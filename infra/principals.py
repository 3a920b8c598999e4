"""Only frontguard's own roles (or the AWS service that feeds a channel, restricted to its
source) may write frontguard's channels: the verification, remediation and scan queues, every
dead-letter queue, the state table and the alert topic (security review #10, R2-5, R2-7).

Each channel's resource policy denies the write to every principal whose
``aws:PrincipalArn`` is not one of the stack's function roles. For an assumed-role session
that key is the role's ARN (not the session's), and it is in the context of every signed
request
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
An explicit Deny in a resource policy wins over any identity policy of the account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).

Why role ARNs and not a principal tag (R2-5): a tag is only as good as an SCP that reserves it
on ``iam:TagRole``/``TagUser``/``CreateRole``/``CreateUser`` and ``sts:TagSession``, which a
customer may not deploy. An ARN names the role itself; to pass, an attacker must delete and
recreate frontguard's role under its name, which the SCP in docs/scp.md also reserves.

The roles have fixed names (``frontguard-<function>-<region>``), so the ARNs are plain strings
built from the name, account and partition: no reference to the role resources, hence no
dependency cycle with the roles' inline policies, which reference the queues and table (a
DynamoDB table's resource policy lives inside the table resource itself).

AWS service principals are left out of the Deny with ``aws:PrincipalIsAWSService``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalisawsservice):
a service has no identity policy, so it can only write where the resource policy allows it,
and every such Allow in frontguard's templates names its source (EventBridge rules with
``aws:SourceArn``, CloudWatch alarms with ``aws:SourceArn``/``aws:SourceAccount``;
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions,
https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html); tests/infra
checks that no Allow is left open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import Aws, Stack, Token
from aws_cdk import aws_iam as iam
from constructs import Construct
from frontguard.permissions import partition_of

# The function of each role, as named in infra/stack.py's FunctionSpecs.
FUNCTIONS: Final = ("Events", "Verify", "Scan", "Remediate")
ROLE_NAME: Final = "frontguard-{function}-{region}"
WRITERS_SID: Final = "OnlyFrontguardRolesWrite"


def role_name(function: str, region: str) -> str:
    """The fixed name of a function's role: IAM is global, so the region keeps the regional
    stacks of one account apart (cluster owners also map these names in EKS)."""
    return ROLE_NAME.format(function=function.lower(), region=region)


def partition(scope: Construct) -> str:
    region = Stack.of(scope).region
    return Aws.PARTITION if Token.is_unresolved(region) else partition_of(region)


def function_role_arns(scope: Construct, extra_functions: Sequence[str] = ()) -> list[str]:
    """The ARNs of the stack's function roles, built from their names (no references)."""
    stack = Stack.of(scope)
    return [
        f"arn:{partition(scope)}:iam::{stack.account}:role/{role_name(f, stack.region)}"
        for f in (*FUNCTIONS, *extra_functions)
    ]


def organization_publisher_patterns(region: str) -> list[str]:
    """Every member stack's function roles, in any account and region (``ArnLike``)."""
    return [f"arn:{partition_of(region)}:iam::*:role/{role_name(f, '*')}" for f in FUNCTIONS]


def deny_other_principals(
    scope: Construct,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    extra_functions: Sequence[str] = (),
) -> iam.PolicyStatement:
    """Deny ``actions`` to every principal but the stack's function roles (and
    ``extra_functions``' roles) and AWS services."""
    return deny_unless_principal(
        actions,
        resources,
        {"ArnNotEquals": {"aws:PrincipalArn": function_role_arns(scope, extra_functions)}},
    )


def deny_unless_principal(
    actions: Sequence[str], resources: Sequence[str], principal_condition: dict[str, object]
) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=WRITERS_SID,
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=list(actions),
        resources=list(resources),
        conditions={
            **principal_condition,
            # Present and "true" only for a service principal's own requests.
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
        },
    )
