"""Fail-closed mode (opt-in): the controller may not create its own world-open managed SG.

For accounts that cannot take admission objects (docs/born-protected.md, "Fail-closed
mode"). A customer-managed policy with one Deny per controller tag prefix is attached to the
controller's IAM role(s), imported by name:

- the controller tags its SGs on create (LBC:pkg/deploy/ec2/security_group_manager.go
  ``Create``: ``TagSpecifications``), and its published IAM policy authorises exactly that
  with ``ec2:CreateTags`` under ``ec2:CreateAction = CreateSecurityGroup``
  (LBC:docs/install/iam_policy.json). A create that carries tags is authorised for
  ``ec2:CreateTags`` on the new SG as well
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html;
  ELB documents the same rule for its AddTags:
  https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/tagging-resources-during-creation.html),
  so the Deny refuses the whole create (untested in a real account, see below);
- each Deny matches only the managed SG's request tag ``<prefix>/resource =
  ManagedLBSecurityGroup`` (prefixes: frontguard.tags.MANAGED_SG_PREFIXES), so the shared
  backend SG (``elbv2.k8s.aws/resource = backend-sg``) and every other tagging still work;
- the SG synthesizer runs first and a failure stops the reconcile
  (LBC:pkg/deploy/stack_deployer.go): no load balancer is created, the owner gets a
  ``FailedDeployModel`` Event and the controller retries with back-off.

A rule sends the refused ``CreateSecurityGroup`` (CloudTrail records failed calls with their
``errorCode``) to the events function, which alerts ``error`` naming the blocked owner.
Unverified in a real account (shared/reviews/born-protected.md §10.3): that the Deny blocks
the call with ``TagSpecifications`` for the controller's role, and that the refused call
reaches EventBridge with ``errorCode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from aws_cdk import Aws
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct
from frontguard.tags import MANAGED_LB_SG, MANAGED_SG_PREFIXES

from infra.functions import FrontguardFunction
from infra.triggers import function_target, managed_security_group_pattern

STATEMENT_IDS: Final = {
    "ingress.k8s.aws": "FrontguardNoManagedIngressSG",
    "service.k8s.aws": "FrontguardNoManagedServiceSG",
    "gateway.k8s.aws.alb": "FrontguardNoManagedAlbGatewaySG",
    "gateway.k8s.aws.nlb": "FrontguardNoManagedNlbGatewaySG",
}


def deny_statements(partition: str = Aws.PARTITION) -> list[iam.PolicyStatement]:
    """One Deny per controller tag prefix (shared/reviews/born-protected.md §7.1)."""
    return [
        iam.PolicyStatement(
            sid=STATEMENT_IDS[prefix],
            effect=iam.Effect.DENY,
            actions=["ec2:CreateTags"],
            resources=[f"arn:{partition}:ec2:*:*:security-group/*"],
            conditions={
                "StringEquals": {
                    "ec2:CreateAction": "CreateSecurityGroup",
                    f"aws:RequestTag/{prefix}/resource": MANAGED_LB_SG,
                }
            },
        )
        for prefix in MANAGED_SG_PREFIXES
    ]


class FailClosed(Construct):
    """The Deny policy on the controller's role(s) and the rule for the refused calls."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        controller_role_names: Sequence[str],
        events_function: FrontguardFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        roles: list[Any] = [
            iam.Role.from_role_name(self, f"Controller{index}", name)
            for index, name in enumerate(controller_role_names)
        ]
        self.policy = iam.ManagedPolicy(
            self,
            "DenyManagedSecurityGroups",
            description="frontguard fail-closed mode: the AWS Load Balancer Controller may not "
            "create its world-open managed security group; frontguard provides the SG",
            statements=deny_statements(),
            roles=roles,
        )
        self.rule = events.Rule(
            self,
            "DeniedManagedSecurityGroup",
            description="frontguard: the controller's managed SG was refused (fail-closed mode)",
            event_pattern=managed_security_group_pattern(
                denied=True, controller_roles=controller_role_names
            ),
            targets=[function_target(events_function)],
        )
        # The events function acts on a refusal only when one of these roles made it.
        events_function.function.add_environment(
            "FRONTGUARD_CONTROLLER_ROLE_NAMES", ",".join(controller_role_names)
        )
