"""The first scan of an account nobody guarded yet (issue 16), beside the steady state.

    python bench/first_scan.py [N ...]          (default: 1000 5000 10000)
    python bench/first_scan.py --sample 1000 N  (remediation consumer measured on a sample)

For each N, 20 clusters share N world-open load balancers (half NLB Services, half ALB
Ingresses), seeded straight into the sandbox's backends. Measured through the production
flows (``run_scan`` as the scan handler runs it, the remediate handler as Lambda invokes it):

- steady state: every LB behind frontguard's SG (sandbox.steady.seed_remediated), no state;
- first audit scan: nothing remediated yet, audit mode: one invocation;
- first enforce scan: the scan invocation (decides, queues), then the remediation function
  on the queued repairs in batches of 5 (its event source mapping's batch size), each batch
  one invocation. With ``--sample`` the consumer runs on an even sample of the queue (calls
  per repair are deterministic; totals are scaled to N and marked as such).

Then a projection to real AWS (bench/projection.py): calls × an assumed per-call latency,
and the EC2 mutation rate the remediation function is held to.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from frontguard.handlers import remediate as remediate_handler
from frontguard.handlers.scan_flow import run_scan

from bench.projection import project
from sandbox import Sandbox
from sandbox.aws import published_messages, queued_messages
from sandbox.steady import seed_remediated
from sandbox.wiring import (
    ENFORCE,
    STATE_TABLE,
    FakeLambdaContext,
    Frontguard,
    sqs_record,
    wire,
)

CLUSTERS = 20
SOURCES = ["203.0.113.0/24", "198.51.100.0/24"]
BATCH = 5  # infra/remediation.py BATCH_SIZE


@dataclass
class Run:
    label: str
    lbs: int
    aws: Counter[str] = field(default_factory=Counter)
    kube: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    seconds: float = 0.0
    longest: float = 0.0  # the longest single invocation
    invocations: int = 0
    note: str = ""
    waiting: float = 0.0  # of ``seconds``, spent waiting on the emulators (HTTP round trips)

    @property
    def own(self) -> float:
        """frontguard's own compute: the wall time less the emulators' answers."""
        return max(0.0, self.seconds - self.waiting)

    @property
    def aws_total(self) -> int:
        return sum(self.aws.values())

    @property
    def kube_total(self) -> int:
        return sum(self.kube.values())


class Waiting:
    """Seconds spent in HTTP round trips to moto and the Kubernetes emulators (bench-only
    instrumentation of botocore's and frontguard's request functions)."""

    seconds = 0.0

    @classmethod
    def install(cls) -> None:
        import botocore.endpoint
        from frontguard.adapters.kube import KubeClient

        def timed(original: Any) -> Any:
            @functools.wraps(original)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    cls.seconds += time.perf_counter() - started

            return wrapper

        botocore.endpoint.Endpoint._send = timed(botocore.endpoint.Endpoint._send)  # type: ignore[method-assign,attr-defined,unused-ignore]
        KubeClient._request = timed(KubeClient._request)  # type: ignore[method-assign,attr-defined,unused-ignore]


def world(sandbox: Sandbox, total: int) -> list[Any]:
    owned: list[Any] = []
    per_cluster = total // CLUSTERS
    clusters = []
    for index in range(CLUSTERS):
        cluster = sandbox.cluster(f"c{index:02d}", cidr=f"10.{index}.0.0/16")
        clusters.append(cluster)
        owned.append(
            (
                cluster,
                [
                    *cluster.bulk_services(per_cluster // 2),
                    *cluster.bulk_ingresses(per_cluster - per_cluster // 2),
                ],
            )
        )
    return owned


def clear_state(sandbox: Sandbox) -> None:
    dynamodb = sandbox.client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=STATE_TABLE):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=STATE_TABLE, Key={"pk": item["pk"], "sk": item["sk"]})


def scan_once(fg: Frontguard, label: str, lbs: int) -> Run:
    fg.reset_counts()
    before = len(published_messages(fg.topic_arn))
    waited = Waiting.seconds
    started = time.perf_counter()
    report = run_scan(fg.runtime)
    seconds = time.perf_counter() - started
    assert report.complete
    return Run(
        label,
        lbs,
        Counter(fg.aws_calls),
        fg.kube_calls(),
        len(published_messages(fg.topic_arn)) - before,
        seconds,
        seconds,
        1,
        waiting=Waiting.seconds - waited,
    )


def audit_and_steady(total: int) -> tuple[Run, Run]:
    with Sandbox() as sandbox:
        fg = wire(sandbox, {**ENFORCE, "mode": "audit"})
        owned = world(sandbox, total)
        audit = scan_once(fg, "first audit scan", total)
        for cluster, items in owned:
            seed_remediated(cluster, items, SOURCES)
        clear_state(sandbox)
        # A fresh container (its own clients and caches), as a scheduled run would be.
        fresh = wire(sandbox, {**ENFORCE, "mode": "audit"})
        steady = scan_once(fresh, "steady state", total)
        assert steady.messages == 0
        sandbox.reset()
    return steady, audit


def enforce(total: int, sample: int | None) -> tuple[Run, Run]:
    with Sandbox() as sandbox:
        fg = wire(sandbox, ENFORCE)
        # The handler runs on this wiring's runtime, so that its calls are counted.
        vars(remediate_handler)["current_runtime"] = lambda: fg.runtime
        world(sandbox, total)
        decided = scan_once(fg, "first enforce scan: the scan", total)
        records = [
            sqs_record(m, fg.remediation_queue_url)
            for m in queued_messages(fg.remediation_queue_url)
        ]
        assert len(records) == total, len(records)
        chosen = records
        if sample is not None and sample < total:
            step = total / sample
            chosen = [records[int(i * step)] for i in range(sample)]
        fg.reset_counts()
        consumer = Run("first enforce scan: remediation function", len(chosen))
        before = len(published_messages(fg.topic_arn))
        for start in range(0, len(chosen), BATCH):
            batch = chosen[start : start + BATCH]
            began, waited = time.perf_counter(), Waiting.seconds
            response = remediate_handler.handler({"Records": batch}, FakeLambdaContext())
            took = time.perf_counter() - began
            consumer.waiting += Waiting.seconds - waited
            assert response == {"batchItemFailures": []}, response
            consumer.seconds += took
            consumer.longest = max(consumer.longest, took)
            consumer.invocations += 1
        consumer.aws = Counter(fg.aws_calls)
        consumer.kube = fg.kube_calls()
        consumer.messages = len(published_messages(fg.topic_arn)) - before
        if len(chosen) < total:
            consumer.note = f"measured on {len(chosen)} of {total} repairs, totals scaled"
            scale = total / len(chosen)
            consumer.aws = Counter({k: round(v * scale) for k, v in consumer.aws.items()})
            consumer.kube = Counter({k: round(v * scale) for k, v in consumer.kube.items()})
            consumer.seconds *= scale
            consumer.waiting *= scale
            consumer.invocations = math.ceil(total / BATCH)
            consumer.lbs = total
        sandbox.reset()
    return decided, consumer


def operations(run: Run) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(run.aws.items()))


def main(argv: list[str]) -> None:
    # The handlers log and emit metrics on stdout (as in Lambda): keep them out of the table.
    table = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    emit = functools.partial(print, file=table)
    Waiting.install()
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 5000, 10000])
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args(argv)
    emit(
        "| N | run | AWS calls | Kubernetes calls | SNS messages | invocations "
        "| longest invocation s | wall s | of which frontguard's own s | AWS calls by operation |"
    )
    emit("|---|---|---|---|---|---|---|---|---|---|")
    measured: dict[int, dict[str, Run]] = {}
    for total in args.sizes:
        steady, audit = audit_and_steady(total)
        decided, consumer = enforce(total, args.sample if total > args.sample else None)
        measured[total] = {"steady": steady, "audit": audit, "scan": decided, "consumer": consumer}
        for run in (steady, audit, decided, consumer):
            note = f" ({run.note})" if run.note else ""
            emit(
                f"| {total} | {run.label}{note} | {run.aws_total} | {run.kube_total} "
                f"| {run.messages} | {run.invocations} | {run.longest:.1f} | {run.seconds:.1f} "
                f"| {run.own:.1f} | {operations(run)} |",
                flush=True,
            )
    emit()
    emit("Targets, from the measurements above:")
    emit()
    emit(
        "| N | first audit AWS calls | steady + ⌈findings/25⌉ + 1 (+1 PrivateLink read) "
        "| K8s first audit "
        "| K8s steady + class lookups | audit wall / steady wall "
        "| AWS calls per repair (consumer) |"
    )
    emit("|---|---|---|---|---|---|---|")
    for total, runs in measured.items():
        steady, audit, consumer = runs["steady"], runs["audit"], runs["consumer"]
        # + the PrivateLink check's one region-wide read (issue 12), once an NLB is decided.
        bound = steady.aws_total + math.ceil(total / 25) + 1 + 1
        # Class lookups once per cluster: IngressClasses (no class here names params).
        kube_bound = steady.kube_total + CLUSTERS
        emit(
            f"| {total} | {audit.aws_total} | {bound} | {audit.kube_total} | {kube_bound} "
            f"| {audit.seconds / steady.seconds:.2f} "
            f"| {consumer.aws_total / consumer.lbs:.1f} (event path budget 12) |"
        )
    emit()
    emit(project(measured))
    table.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
