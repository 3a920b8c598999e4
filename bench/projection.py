"""Projection of the first scan to real AWS: calls × per-call latency, and the EC2 rate.

The sandbox answers in milliseconds of its own work; real AWS in tens of milliseconds. The
projection adds, per invocation, every call × the latency assumed for its service below to
frontguard's own compute as measured (the wall time less the time spent waiting on the
emulators). The remediation function is
further held to its pace (0.8 s per LB, 2 at once: infra/remediation.py), which keeps the
account's EC2 mutation buckets (refill 5 a second per API) half free.

Latencies are assumptions, not AWS figures, except DynamoDB's ("single-digit millisecond
performance at any scale", https://aws.amazon.com/dynamodb/): in-Region p50s of the order
the SDKs' client-side metrics show. Change them here to match an account's own.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

# Milliseconds per call, by service (and by operation where it differs).
LATENCY_MS: dict[str, float] = {
    "elbv2": 60,
    "ec2": 80,
    "ec2.mutation": 150,
    "eks": 100,
    "sts": 50,
    "sns": 30,
    "sqs": 20,
    "dynamodb": 10,
    "kube.GET": 150,  # a LIST page of up to 500 objects, or a GET
    "kube.PATCH": 50,
}
EC2_MUTATIONS = ("Create", "Authorize", "Revoke", "Delete")
# Calls that do not grow with the number of load balancers.
FIXED = {"eks.DescribeCluster", "ec2.DescribeVpcs", "dynamodb.Query", "sns.Publish"}
PACE_SECONDS = 0.8
MAX_CONCURRENCY = 2
BATCH = 5
EC2_MUTATION_REFILL = 5.0  # per second, per API (EC2 API throttling documentation)
TARGETS = (10_000, 50_000)
CLUSTERS = 20


def latency(op: str) -> float:
    service, _, name = op.partition(".")
    if service == "ec2" and name.startswith(EC2_MUTATIONS):
        return LATENCY_MS["ec2.mutation"] / 1000
    return LATENCY_MS.get(service, 50) / 1000


def call_seconds(aws: Counter[str], kube: Counter[str]) -> float:
    return sum(n * latency(op) for op, n in aws.items()) + sum(
        n * LATENCY_MS.get(f"kube.{verb}", 100) / 1000 for verb, n in kube.items()
    )


def scaled(counts: Counter[str], factor: float) -> Counter[str]:
    return Counter({op: n if op in FIXED else math.ceil(n * factor) for op, n in counts.items()})


def scaled_kube(counts: Counter[str], measured: int, total: int) -> Counter[str]:
    """Kubernetes lists grow by pages of 500 objects per cluster and kind, not per LB."""
    per_kind = lambda n: math.ceil(n / CLUSTERS / 2 / 500)  # noqa: E731
    factor = per_kind(total) / per_kind(measured)
    return Counter({verb: math.ceil(n * factor) for verb, n in counts.items()})


def project(measured: dict[int, dict[str, Any]]) -> str:
    largest = max(measured)
    base = measured[largest]
    lines = [
        "Projection to real AWS (calls × assumed latency + frontguard's own compute; "
        f"sizes above {largest} scaled linearly from {largest}):",
        "",
        "| N | invocation | AWS calls | projected s | note |",
        "|---|---|---|---|---|",
    ]
    for total in sorted({*measured, *TARGETS}):
        runs = measured.get(total)
        factor = 1.0 if runs else total / largest
        runs = runs or base
        for key, label in (("steady", "steady-state scan"), ("audit", "first audit scan")):
            run = runs[key]
            aws, kube = scaled(run.aws, factor), scaled_kube(run.kube, largest, total)
            seconds = call_seconds(aws, kube) + run.own * factor
            budget = "within" if seconds < 14 * 60 else "beyond"
            lines.append(
                f"| {total} | {label} | {sum(aws.values())} | {seconds:.0f} "
                f"| {budget} the scan's 14-minute budget (it resumes from its cursor) |"
            )
        scan, consumer = runs["scan"], runs["consumer"]
        aws, kube = scaled(scan.aws, factor), scaled_kube(scan.kube, largest, total)
        seconds = call_seconds(aws, kube) + scan.own * factor
        lines.append(
            f"| {total} | first enforce scan: the scan | {sum(aws.values())} | {seconds:.0f} "
            f"| {'under 5 minutes' if seconds < 300 else 'over 5 minutes'}"
            f"{'' if seconds < 14 * 60 else '; beyond the 14-minute budget: resumes'} |"
        )
        per_repair = call_seconds(consumer.aws, consumer.kube) / consumer.lbs
        per_repair += consumer.own / consumer.lbs
        paced = max(per_repair, PACE_SECONDS)
        mutations = sum(
            n for op, n in consumer.aws.items() if op.startswith("ec2.") and latency(op) > 0.1
        ) / max(consumer.lbs, 1)
        rate = MAX_CONCURRENCY / paced  # repairs per second
        wall = total / rate
        lines.append(
            f"| {total} | first enforce scan: each remediation invocation (batch of {BATCH}) "
            f"| {round(sum(consumer.aws.values()) / consumer.lbs * BATCH)} "
            f"| {BATCH * paced:.1f} | {per_repair:.2f} s per repair; {rate:.2f} repairs/s "
            f"→ all {total} in {wall / 60:.0f} min; EC2 mutations "
            f"{rate * mutations / 2:.2f}/s per API (refill {EC2_MUTATION_REFILL:.0f}/s) |"
        )
    lines += [
        "",
        "Assumed latency per call (ms): "
        + ", ".join(f"{k} {v:g}" for k, v in LATENCY_MS.items())
        + ". EC2 mutating APIs refill 5 tokens a second each "
        "(https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).",
    ]
    return "\n".join(lines)
