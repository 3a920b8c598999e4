"""Resource Groups Tagging API adapter: find load balancers by the controller's tags.

One ``GetResources`` call answers "which load balancer carries this cluster's stack tag"
account-wide, where ELBv2 would need every LB listed and its tags read in batches of 20.
https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters.aws_errors import translate

LOAD_BALANCER_TYPE = "elasticloadbalancing:loadbalancer"


class TaggingClient(Protocol):
    """The one call frontguard makes of boto3's ``resourcegroupstaggingapi`` client."""

    def get_resources(self, **kwargs: Any) -> Mapping[str, Any]: ...


def load_balancers_of_stack(
    tagging: TaggingClient, *, cluster: str, stack_tag: str, stack: str
) -> dict[str, dict[str, str]]:
    """ARN → tags of every load balancer tagged with ``cluster`` and ``stack_tag=stack``
    (an Ingress's ALB and its frontend NLB share the stack's tags). Usually one page."""
    found: dict[str, dict[str, str]] = {}
    request: dict[str, Any] = {
        "TagFilters": [
            {"Key": t.CLUSTER_TAG, "Values": [cluster]},
            {"Key": stack_tag, "Values": [stack]},
        ],
        "ResourceTypeFilters": [LOAD_BALANCER_TYPE],
    }
    while True:
        try:
            page = tagging.get_resources(**request)
        except ClientError as error:
            raise translate(error, f"find load balancers tagged {stack_tag}={stack}") from error
        for mapping in page.get("ResourceTagMappingList") or []:
            found[str(mapping["ResourceARN"])] = {
                str(tag["Key"]): str(tag.get("Value", "")) for tag in mapping.get("Tags") or []
            }
        token = str(page.get("PaginationToken") or "")
        if not token:
            return found
        request["PaginationToken"] = token
