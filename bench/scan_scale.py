"""Scan scale and cost: AWS and Kubernetes calls and wall time for N load balancers.

    python bench/scan_scale.py [N ...]        (default: 100 1000 5000)

For each N, 20 clusters share N load balancers (half NLB Services, half ALB Ingresses),
seeded straight into the sandbox's backends. Two scans are measured:
- steady state: every LB already behind frontguard's SG (sandbox.steady.seed_remediated);
- first scan: 10% of the LBs not remediated yet, so the enforce-mode scan repairs them.
The theoretical minimum for the steady state is: LB pages of 400, tag batches of 20 per page,
frontguard SGs in pages of 1000, one backend-SG read, one VPC read, one DescribeCluster and
two list calls per cluster.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from frontguard.engine.scan import scan

from sandbox import Sandbox
from sandbox.steady import seed_remediated
from sandbox.wiring import ENFORCE, steady_state_minimum_aws_calls, wire

CLUSTERS = 20
SOURCES = ["203.0.113.0/24", "198.51.100.0/24"]


def measure(total: int, remediated_share: float) -> dict[str, float]:
    with Sandbox() as sandbox:
        fg = wire(sandbox, {**ENFORCE, "verify_delay_seconds": 0})
        per_cluster = total // CLUSTERS
        for index in range(CLUSTERS):
            cluster = sandbox.cluster(f"c{index:02d}", cidr=f"10.{index}.0.0/16")
            owned = [
                *cluster.bulk_services(per_cluster // 2),
                *cluster.bulk_ingresses(per_cluster - per_cluster // 2),
            ]
            keep = round(len(owned) * remediated_share)
            seed_remediated(cluster, owned[:keep], SOURCES)
        fg.reset_counts()
        started = time.perf_counter()
        report = scan(fg.runtime.engine)
        seconds = time.perf_counter() - started
        aws_calls = sum(fg.aws_calls.values())
        kube_calls = sum(fg.kube_calls().values())
        groups = sum(1 for _ in report.items)
        outcomes = report.by_outcome()
        sandbox.reset()
    return {
        "lbs": len(report.items),
        "aws": aws_calls,
        "kube": kube_calls,
        "seconds": seconds,
        "minimum": steady_state_minimum_aws_calls(total, groups, CLUSTERS) + 2 * CLUSTERS,
        "compliant": outcomes.get("compliant", 0),
        "remediated": outcomes.get("remediated", 0),
    }


def main(sizes: list[int]) -> None:
    print("| N | scan | AWS calls | Kubernetes calls | total | theoretical min | ratio | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for total in sizes:
        for label, share in (("steady state", 1.0), ("first scan (10% new)", 0.9)):
            m = measure(total, share)
            calls = m["aws"] + m["kube"]
            print(
                f"| {total} | {label} | {m['aws']:.0f} | {m['kube']:.0f} | {calls:.0f} "
                f"| {m['minimum']:.0f} | {calls / m['minimum']:.2f} | {m['seconds']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 5000])
