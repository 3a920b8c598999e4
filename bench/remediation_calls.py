"""API calls to remediate one load balancer, by operation: ALB, NLB, IngressGroup of 5.

    python bench/remediation_calls.py

Counted with a botocore ``before-call`` hook (AWS) and the Kubernetes client's own counter,
for one CloudTrail event through the production event path in enforce mode. Budget (issue 3):
at most 12 AWS calls and 2 + (members of the group) Kubernetes calls.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox import Sandbox
from sandbox.wiring import ENFORCE, wire


def count_remediation(kind: str) -> tuple[Counter[str], Counter[str], int]:
    """(AWS calls by operation, Kubernetes calls by verb, group members) for one LB."""
    with Sandbox() as sandbox:
        fg = wire(sandbox, ENFORCE)
        prod = sandbox.cluster("prod")
        if kind == "ALB (Ingress)":
            owned, members = prod.ingress("shop/web", ports=[80, 443]), 1
        elif kind == "NLB (Service)":
            owned, members = prod.service("shop/api", ports=[("TCP", 443)]), 1
        else:
            refs = [f"team-{i}/web" for i in range(5)]
            owned, members = prod.ingress_group("shared", members=refs, ports=[443]), 5
        fg.reset_counts()
        outcome = fg.deliver(owned.event)["outcome"]
        assert outcome == "remediated", outcome
        aws_calls = Counter(fg.aws_calls)
        kube_calls = fg.kube_calls()
        sandbox.reset()
    return aws_calls, kube_calls, members


def main() -> None:
    print("| load balancer | AWS calls | Kubernetes calls | budget (AWS / K8s) | by operation |")
    print("|---|---|---|---|---|")
    for kind in ("ALB (Ingress)", "NLB (Service)", "IngressGroup of 5"):
        aws_calls, kube_calls, members = count_remediation(kind)
        operations = ", ".join(f"{op} {n}" for op, n in sorted(aws_calls.items()))
        kube = ", ".join(f"{verb} {n}" for verb, n in sorted(kube_calls.items()))
        print(
            f"| {kind} | {sum(aws_calls.values())} | {sum(kube_calls.values())} "
            f"| 12 / {2 + members} | {operations}; Kubernetes: {kube} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
