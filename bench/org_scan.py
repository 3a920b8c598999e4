"""The cross-account scan of an organization: calls and wall time, sequential vs parallel.

    python bench/org_scan.py [ACCOUNTS [REGIONS [LBS [LATENCY_MS]]]]   (default: 50 3 20 20)

A sandbox organization of ACCOUNTS member accounts, each with cluster ``prod`` in REGIONS
regions and LBS controller-made load balancers per region (half NLB Services, half ALB
Ingresses; one Kubernetes emulator answers for every cluster), left world-open by the
controller: the audit scan reports each as a finding, the first look an organization gets.
The scan runs through ``frontguard.fleet.fleet_scan`` exactly as ``frontguard scan
--account ...`` does, with 1 (sequential), 4, 8 (the default) and 16 account-regions at a time.

Two timings per pool size: the sandbox as is (moto answers in-process, so the only thing to
overlap is Python work, and the GIL serialises that), and with LATENCY_MS added to every AWS
call (a botocore ``before-send`` sleep standing in for a real API round trip) -- the case a
laptop or a pipeline is in, where the pool's overlap is what saves time. Call counts do not
depend on the pool size: the table shows they are the same.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from frontguard.adapters.organizations import Account, Credentials
from frontguard.cli import load_policy
from frontguard.fleet import FleetReport, default_session_factory, fleet_scan, targets_for

from sandbox import REGION, Sandbox
from sandbox.organization import SCAN_ROLE, Organization

ALL_REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-1", "us-west-2")
POOLS = (1, 4, 8, 16)


class Counted:
    """A session factory that counts every AWS call (and optionally delays each one)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, **kwargs: Any) -> None:
        model = kwargs["model"]
        with self._lock:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def delay(self, **_: Any) -> None:
        time.sleep(self.latency)

    def register(self, session: boto3.Session) -> boto3.Session:
        session._session.register("before-call", self.count)
        if self.latency:
            session._session.register("before-send", self.delay)
        return session

    def __call__(self, credentials: Credentials | None, region: str) -> boto3.Session:
        return self.register(default_session_factory(credentials, region))


def build(sandbox: Sandbox, accounts: int, regions: tuple[str, ...], lbs: int) -> list[Account]:
    org = Organization.create(sandbox)
    shared = sandbox.cluster("prod")
    shared.bulk_services(lbs // 2)
    shared.bulk_ingresses(lbs - lbs // 2)
    members = []
    for index in range(accounts):
        account = org.add_account(f"member-{index:03d}", ou="workloads")
        for number, region in enumerate(regions):
            org.seed_region(account, region, shared, cidr=f"10.{number + 1}.0.0/16")
        members.append(Account(account, f"member-{index:03d}"))
    return members


def measure(
    members: list[Account], regions: tuple[str, ...], parallel: int, latency: float
) -> tuple[FleetReport, Counted, float]:
    counted = Counted(latency)
    sts = counted.register(boto3.Session(region_name=REGION)).client("sts")
    started = time.perf_counter()
    report = fleet_scan(
        targets_for(members, regions),
        policy=load_policy(None, enforce=False),
        role=SCAN_ROLE,
        sts=sts,
        session_factory=counted,
        parallel=parallel,
    )
    return report, counted, time.perf_counter() - started


def main(accounts: int, region_count: int, lbs: int, latency_ms: float) -> None:
    regions = ALL_REGIONS[:region_count]
    with Sandbox() as sandbox:
        seeding = time.perf_counter()
        members = build(sandbox, accounts, regions, lbs)
        seeding = time.perf_counter() - seeding
        print(
            f"{accounts} accounts x {len(regions)} regions x {lbs} load balancers = "
            f"{accounts * len(regions) * lbs} LBs in {accounts * len(regions)} account-regions "
            f"(seeded in {seeding:.0f} s); audit scan, every LB an open finding.",
        )
        print()
        print(
            "| pool | added latency per AWS call | wall s | AWS calls | AssumeRole | Kubernetes "
            "calls | calls per account-region | LBs | open findings | errors | failed |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for latency in (0.0, latency_ms / 1000):
            for parallel in POOLS:
                report, counted, seconds = measure(members, regions, parallel, latency)
                aws = sum(counted.calls.values())
                kube = sum(sum(r.kube_calls.values()) for r in report.results)
                lbs_seen = sum(len(r.report.items) for r in report.results if r.report)
                per_target = (aws + kube) / len(report.results)
                errors = Counter(
                    item.reason
                    for r in report.results
                    if r.report
                    for item in r.report.items
                    if item.outcome.value == "error"
                )
                print(
                    f"| {parallel} | {latency * 1000:.0f} ms | {seconds:.1f} | {aws} "
                    f"| {counted.calls['sts.AssumeRole']} | {kube} | {per_target:.1f} "
                    f"| {lbs_seen} | {report.open_findings} | {sum(errors.values())} "
                    f"| {len(report.failed)} |",
                    flush=True,
                )
                for reason, count in errors.items():
                    print(f"<!-- {count} LBs in error: {reason} -->", flush=True)
        print()
        load = os.getloadavg()
        print(
            f"Load average of the (shared, {os.cpu_count()}-core) machine at the end: "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min): wall times are "
            "only comparable within this table."
        )
        print()
        print("AWS calls by operation (any pool size):")
        print()
        print("| operation | calls |")
        print("|---|---|")
        for operation, count in sorted(counted.calls.items()):
            print(f"| {operation} | {count} |")


if __name__ == "__main__":
    arguments = [float(a) for a in sys.argv[1:]]
    defaults = [50, 3, 20, 20]
    values = arguments + defaults[len(arguments) :]
    main(int(values[0]), int(values[1]), int(values[2]), values[3])
