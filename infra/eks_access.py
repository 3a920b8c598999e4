"""EKS access entries: each function role becomes the Kubernetes group ``frontguard``.

The group's rights come from ``infra/rbac.yaml`` (applied with kubectl, once per cluster);
clusters need the access-entry authentication mode ``API`` or ``API_AND_CONFIG_MAP``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

KUBERNETES_GROUP: Final = "frontguard"


class EksAccess(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        clusters: Sequence[str],
        roles: Mapping[str, iam.IRole],
    ) -> None:
        super().__init__(scope, construct_id)
        for cluster in clusters:
            for function_name, role in roles.items():
                eks.CfnAccessEntry(
                    self,
                    f"{cluster}-{function_name}",
                    cluster_name=cluster,
                    principal_arn=role.role_arn,
                    kubernetes_groups=[KUBERNETES_GROUP],
                    type="STANDARD",
                )
