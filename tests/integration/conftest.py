"""Fixtures the integration tests share."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.scenario import Cluster, Owned
from sandbox.wiring import Frontguard


@pytest.fixture
def remediated(sandbox: Sandbox, fg: Frontguard) -> tuple[Cluster, Owned, str]:
    """Cluster ``prod`` with Ingress ``shop/web`` remediated and reconciled by the controller:
    (cluster, the Ingress, frontguard's SG ID)."""
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    fg.deliver(web.event)
    prod.lbc.reconcile()
    groups: list[dict[str, Any]] = sandbox.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:frontguard.io/load-balancer", "Values": [web.lb_arn]}]
    )["SecurityGroups"]
    [group] = groups
    return prod, web, str(group["GroupId"])
