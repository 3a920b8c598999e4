"""The sweep's cost (issue 22): calls, time, state size and a month's Lambda bill.

    python bench/sweep_scale.py [N ...]        (default: 1000 10000)

For each N, 20 clusters share N load balancers (half NLB Services, half ALB Ingresses), all
already behind frontguard's SG (sandbox.steady.seed_remediated). Measured:
- one sweep of the steady account (after the baseline sweep): AWS calls against the bound
  ⌈LBs/400⌉ + ⌈frontguard SGs/1,000⌉ + 2, Kubernetes calls (0 expected), wall time, and the
  size of the fingerprints item in the state table (DynamoDB's item limit is 400 KB);
- one new world-open LB whose event was lost: the sweep's calls beyond the steady sweep, next
  to the event path's budget for the same LB (tests/integration/test_budgets.py: 12 AWS).
The monthly cost runs the sweep every minute (43,200 invocations in 30 days) on the scan
function's memory (infra/stack.py) at Lambda's published on-demand prices
(https://aws.amazon.com/lambda/pricing/, us-east-1: $0.20 per million requests, Arm
$0.0000133334 per GB-second). The wall time here is moto's, not AWS's: the figure is an
order of magnitude, and AWS answers a page of 400 LBs in ~100-300 ms.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from frontguard.engine.sweep import STATE_KEY, sweep

from sandbox import Sandbox
from sandbox.steady import seed_remediated
from sandbox.wiring import ENFORCE, wire

CLUSTERS = 20
SOURCES = ["203.0.113.0/24", "198.51.100.0/24"]
SWEEPS_PER_MONTH = 60 * 24 * 30
SCAN_MEMORY_GB = 1769 / 1024  # infra/stack.py, the scan function (which runs the sweep)
PRICE_PER_GB_SECOND = 0.0000133334  # Arm, us-east-1
PRICE_PER_REQUEST = 0.20 / 1_000_000
EVENT_PATH_AWS_BUDGET = 12


def measure(total: int) -> dict[str, float]:
    with Sandbox() as sandbox:
        fg = wire(sandbox, ENFORCE)
        state = fg.runtime.engine.state
        assert state is not None
        per_cluster = total // CLUSTERS
        clusters = []
        for index in range(CLUSTERS):
            cluster = sandbox.cluster(f"c{index:02d}", cidr=f"10.{index}.0.0/16")
            owned = [
                *cluster.bulk_services(per_cluster // 2),
                *cluster.bulk_ingresses(per_cluster - per_cluster // 2),
            ]
            seed_remediated(cluster, owned, SOURCES)
            clusters.append(cluster)
        sweep(fg.runtime.engine, state)  # the baseline
        fg.reset_counts()
        started = time.perf_counter()
        steady = sweep(fg.runtime.engine, state)
        seconds = time.perf_counter() - started
        assert not steady.changed, steady.changed
        aws_calls, kube_calls = sum(fg.aws_calls.values()), sum(fg.kube_calls().values())
        shards = state.load_blobs(STATE_KEY)

        clusters[0].ingress("shop/lost-event", ports=[443])  # its CreateLoadBalancer is lost
        fg.reset_counts()
        changed = sweep(fg.runtime.engine, state)
        assert list(changed.outcomes.values()) == ["remediated"], changed.outcomes
        one_aws = sum(fg.aws_calls.values())
        one_kube = sum(fg.kube_calls().values())
        sandbox.reset()
    return {
        "aws": aws_calls,
        "kube": kube_calls,
        "bound": math.ceil(total / 400) + math.ceil(total / 1000) + 2,
        "seconds": seconds,
        "blob": max(len(b) for b in shards),
        "shards": len(shards),
        "one_aws": one_aws - aws_calls,
        "one_kube": one_kube,
    }


def main(sizes: list[int]) -> None:
    print(
        "| LBs | AWS calls (bound) | Kubernetes calls | wall s (moto) | largest state item bytes "
        "| shards | + one changed LB: AWS (event path) / Kubernetes | cost per month |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for total in sizes:
        m = measure(total)
        month = SWEEPS_PER_MONTH * (
            PRICE_PER_REQUEST + m["seconds"] * SCAN_MEMORY_GB * PRICE_PER_GB_SECOND
        )
        print(
            f"| {total} | {m['aws']:.0f} ({m['bound']:.0f}) | {m['kube']:.0f} "
            f"| {m['seconds']:.2f} | {m['blob']:,.0f} | {m['shards']:.0f} "
            f"| +{m['one_aws']:.0f} ({EVENT_PATH_AWS_BUDGET}) / {m['one_kube']:.0f} "
            f"| ${month:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
