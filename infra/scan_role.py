"""The read-only role that ``frontguard scan --organization`` assumes in a member account.

Its identity policy grants exactly ``frontguard.permissions.AUDIT_SCAN`` (ELBv2 and EC2
Describe calls, DescribeCluster on the configured clusters), through the same scoping rules as
the functions' roles. Its trust policy names only the configured scanning accounts (the
management or delegated-administrator account, a pipeline account), further restricted to
principals of the same organization (``aws:PrincipalOrgID``) when the organization ID is
given. In Kubernetes it gets the AWS-managed ``AmazonEKSViewPolicy`` through an EKS access
entry: read access to Services, Ingresses and the rest, never to Secrets
(https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct
from frontguard import permissions

from infra.least_privilege import WILDCARD_REASONS, Scope, code_statements, nag_resource

VIEW_POLICY: Final = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


class ScanRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        trusted_accounts: Sequence[str],
        organization_id: str | None,
        clusters: Sequence[str],
        permissions_scope: Scope,
    ) -> None:
        super().__init__(scope, construct_id)
        principals = [iam.AccountPrincipal(account) for account in trusted_accounts]
        principal: iam.IPrincipal = (
            principals[0] if len(principals) == 1 else iam.CompositePrincipal(*principals)
        )
        if organization_id is not None:
            principal = iam.PrincipalWithConditions(
                principal, {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
            )
        statements = code_statements(permissions.AUDIT_SCAN, permissions_scope)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=principal,
            description="frontguard scan from the organization: read-only (audit)",
            inline_policies={"frontguard-scan": iam.PolicyDocument(statements=statements)},
        )
        for statement in statements:
            for resource in statement.resources:
                if "*" in resource:
                    Validations.of(self.role).acknowledge(
                        Acknowledgment(
                            id=f"AwsSolutions-IAM5[Resource::{nag_resource(resource)}]",
                            reason=WILDCARD_REASONS[statement.sid or ""],
                        )
                    )
        for cluster in clusters:
            eks.CfnAccessEntry(
                self,
                f"{cluster}-view",
                cluster_name=cluster,
                principal_arn=self.role.role_arn,
                type="STANDARD",
                access_policies=[
                    eks.CfnAccessEntry.AccessPolicyProperty(
                        policy_arn=VIEW_POLICY.format(partition=permissions_scope.partition),
                        access_scope=eks.CfnAccessEntry.AccessScopeProperty(type="cluster"),
                    )
                ],
            )
