"""API budgets (issues 3 and 8): deterministic call counts, so a regression fails here.

Remediating one load balancer: at most 12 AWS calls and 2 + (members) Kubernetes calls.
The steady-state scan's exact formula is asserted in test_scan.py.
"""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, wire

AWS_BUDGET = 12


@pytest.mark.parametrize("kind", ["alb", "nlb", "group-of-5"])
def test_remediating_one_load_balancer_stays_within_the_api_budget(sandbox: Sandbox, kind):
    fg = wire(sandbox, ENFORCE)
    prod = sandbox.cluster("prod")
    if kind == "alb":
        owned, members = prod.ingress("shop/web", ports=[80, 443]), 1
    elif kind == "nlb":
        owned, members = prod.service("shop/api", ports=[("TCP", 443), ("UDP", 53)]), 1
    else:
        refs = [f"team-{i}/web" for i in range(5)]
        owned, members = prod.ingress_group("shared", members=refs, ports=[443]), 5
    fg.reset_counts()

    assert fg.deliver(owned.event)["outcome"] == "remediated"

    assert sum(fg.aws_calls.values()) <= AWS_BUDGET, fg.aws_calls
    assert sum(fg.kube_calls().values()) <= 2 + members, fg.kube_calls()
    assert fg.kube_calls()["PATCH"] == members
    # One rule set, written in one call: no per-rule round trips.
    assert fg.aws_calls["ec2.AuthorizeSecurityGroupIngress"] == 1
