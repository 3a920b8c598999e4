"""EKS access from Lambda: the cluster's endpoint and CA, and a bearer token (DESIGN.md).

The token is ``k8s-aws-v1.`` + unpadded base64url of a presigned STS GetCallerIdentity URL
that signs the header ``x-k8s-aws-id: <cluster>``. It is valid for 15 minutes; callers cache
it for :data:`TOKEN_LIFETIME` seconds.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate

if TYPE_CHECKING:
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_sts import STSClient

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format prefix, not a secret
TOKEN_LIFETIME = 14 * 60
CLUSTER_ID_HEADER = "x-k8s-aws-id"


@dataclass(frozen=True)
class ClusterEndpoint:
    name: str
    endpoint: str
    ca_pem: bytes
    vpc_id: str | None


def describe_cluster(eks: EKSClient, name: str) -> ClusterEndpoint:
    try:
        cluster = eks.describe_cluster(name=name)["cluster"]
    except ClientError as error:
        raise translate(error, f"DescribeCluster {name}") from error
    return ClusterEndpoint(
        name=name,
        endpoint=cluster["endpoint"],
        ca_pem=base64.b64decode(cluster["certificateAuthority"]["data"]),
        vpc_id=cluster.get("resourcesVpcConfig", {}).get("vpcId"),
    )


def kubernetes_version(eks: EKSClient, name: str) -> str:
    """The cluster's Kubernetes version, ``"1.36"`` (DescribeCluster ``cluster.version``)."""
    try:
        return eks.describe_cluster(name=name)["cluster"]["version"]
    except ClientError as error:
        raise translate(error, f"DescribeCluster {name}") from error


def bearer_token(sts: STSClient, cluster: str) -> str:
    """A fresh EKS token for ``cluster`` signed with the caller's credentials."""

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_ID_HEADER] = cluster

    events = sts.meta.events
    events.register_first("before-sign.sts.GetCallerIdentity", add_cluster_header)
    try:
        url = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"
        )
    finally:
        events.unregister("before-sign.sts.GetCallerIdentity", add_cluster_header)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
