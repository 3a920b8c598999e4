"""EKS access entries: each function role becomes a Kubernetes group in each target cluster.

The remediating functions (events, scan) get the group ``frontguard``; the verify function,
which only reads, gets ``frontguard-readonly``. The groups' rights come from
``infra/rbac.yaml`` (applied with kubectl, once per cluster); clusters need the access-entry
authentication mode ``API`` or ``API_AND_CONFIG_MAP``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from aws_cdk import aws_eks as eks
from constructs import Construct

if TYPE_CHECKING:
    from infra.functions import FrontguardFunction

KUBERNETES_GROUP: Final = "frontguard"
READ_ONLY_GROUP: Final = "frontguard-readonly"


class EksAccess(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        clusters: Sequence[str],
        functions: Mapping[str, FrontguardFunction],
        read_only: Collection[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.entries: list[eks.CfnAccessEntry] = []
        for cluster in clusters:
            for function_name, function in functions.items():
                entry = eks.CfnAccessEntry(
                    self,
                    f"{cluster}-{function_name}",
                    cluster_name=cluster,
                    principal_arn=function.role.role_arn,
                    kubernetes_groups=[
                        READ_ONLY_GROUP if function_name in read_only else KUBERNETES_GROUP
                    ],
                    type="STANDARD",
                )
                # IAM is eventually consistent: CreateAccessEntry right after CreateRole can
                # fail with "The specified principalArn is invalid"
                # (hashicorp/terraform-provider-aws#35535). Lambda's CreateFunction assumes the
                # role first, so an entry made after its function finds the role ready.
                entry.node.add_dependency(function.function)
                self.entries.append(entry)
