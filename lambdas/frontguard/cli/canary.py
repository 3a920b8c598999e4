"""``frontguard canary``: one canary run with the caller's credentials (docs/canary.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TextIO

from frontguard.cli import common, stack
from frontguard.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK

CANARY_SERVICES = (
    "eks",
    "sts",
    "elbv2",
    "ec2",
    "resourcegroupstaggingapi",
    "sqs",
    "cloudformation",
)


def run_canary(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One canary run with the caller's credentials (docs/canary.md): exit 0 when every stage
    passed, 1 when one failed, 130 when interrupted (after the clean-up)."""
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.canary import report as canary_report
    from frontguard.canary.owners import Kind
    from frontguard.canary.probe import Canary, CanaryClients, CanarySettings
    from frontguard.runtime import ClusterConnector

    session = common.session(args.region)
    clients = {name: session.client(name, config=CLIENT_CONFIG) for name in CANARY_SERVICES}  # type: ignore[call-overload]
    queue_url = args.alerts_queue or stack.canary_queue(
        clients, args.stack, str(session.region_name)
    )
    canary = Canary(
        CanarySettings(
            cluster=args.cluster,
            kind=Kind(args.kind),
            namespace=args.namespace,
            internet_facing=args.internet_facing,
            timeout_seconds=args.timeout,
            poll_seconds=args.poll,
            ingress_class=args.ingress_class,
            gateway_class=args.gateway_class,
        ),
        CanaryClients(
            kube=ClusterConnector(clients["eks"], clients["sts"])(args.cluster),
            elbv2=clients["elbv2"],
            ec2=clients["ec2"],
            tagging=clients["resourcegroupstaggingapi"],
            sqs=clients["sqs"],
            alerts_queue_url=queue_url,
        ),
        progress=_waiting(err),
    )
    interrupted = False
    try:
        canary.run()
    except KeyboardInterrupt:
        interrupted = True  # run() cleaned up on its way out
    err.write("\r\033[K" if err.isatty() else "")
    report = canary.report
    if args.output == "json":
        out.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.write("\n".join(canary_report.table(report)) + "\n")
    if interrupted:
        err.write("frontguard: interrupted; the canary's objects were deleted\n")
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok else EXIT_ERROR


def _waiting(err: TextIO) -> Callable[[str, float], None]:
    """One progress line while the canary waits: rewritten in place on a terminal, one line
    every 30 s otherwise (CI logs)."""
    last = [-30.0]

    def show(what: str, seconds: float) -> None:
        if err.isatty():
            err.write(f"\r\033[Kcanary: waiting for {what} ({seconds:.0f} s)")
        elif seconds - last[0] >= 30:
            last[0] = seconds
            err.write(f"canary: waiting for {what} ({seconds:.0f} s)\n")
        err.flush()

    return show


def add_parser(commands: Any) -> None:
    canary = commands.add_parser(
        "canary",
        help="measure the real exposure of a new load balancer in a cluster (exit code 1 on "
        "failure)",
        description="Create a throw-away owner (labelled frontguard.io/canary, pointing at no "
        "workload), wait for the controller's load balancer, measure how long it was open "
        "before frontguard's SG was on it and which path acted, read frontguard's alert and "
        "verification, then delete the owner and wait for the controller to delete the load "
        "balancer. Nothing is left behind, also on failure or Ctrl-C; an earlier run's "
        "leftovers are removed first. See docs/canary.md.",
    )
    canary.add_argument("--cluster", required=True, metavar="NAME")
    canary.add_argument("--namespace", default="frontguard-canary", metavar="NS")
    canary.add_argument("--kind", choices=("ingress", "service", "gateway"), default="ingress")
    canary.add_argument(
        "--internet-facing", action="store_true", help="internet-facing (default: internal)"
    )
    canary.add_argument(
        "--timeout", type=float, default=600, metavar="SECONDS", help="wall time (default 600)"
    )
    canary.add_argument("--poll", type=float, default=5, metavar="SECONDS", help=argparse.SUPPRESS)
    canary.add_argument("--ingress-class", default="alb", metavar="NAME")
    canary.add_argument("--gateway-class", default="alb", metavar="NAME")
    canary.add_argument("--stack", help="stack name (default: Frontguard-<account>-<region>)")
    canary.add_argument(
        "--alerts-queue",
        metavar="URL",
        help="the queue subscribed to the alert topic (default: the stack's canary queue)",
    )
    canary.add_argument("--region", help="AWS region (default: your AWS configuration)")
    canary.add_argument("--output", choices=("table", "json"), default="table")
    canary.set_defaults(run=run_canary)
