"""``frontguard doctor``: check that a deployment really works, with the caller's own
credentials (see :mod:`frontguard.doctor`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from frontguard.cli import common, stack
from frontguard.cli.common import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from frontguard.adapters.state import StateTable
    from frontguard.doctor.born import Expected
    from frontguard.policy import Policy

DOCTOR_SERVICES = (
    "cloudformation",
    "cloudtrail",
    "events",
    "sns",
    "cloudwatch",
    "lambda",
    "sqs",
    "ssm",
    "eks",
    "sts",
    "ec2",  # frontguard's prefix lists, for born-protected clusters
    "dynamodb",  # the state table's resource policy (channels)
)


def run_doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.doctor import checks, report
    from frontguard.doctor.deployment import discover
    from frontguard.runtime import ClusterConnector

    session = common.session(args.region)
    clients = {name: session.client(name, config=CLIENT_CONFIG) for name in DOCTOR_SERVICES}  # type: ignore[call-overload]
    account = clients["sts"].get_caller_identity()["Account"]
    region = str(session.region_name)
    name = args.stack or f"Frontguard-{account}-{region}"
    deployment = discover(clients["cloudformation"], name, region=region, account=account)
    connector = ClusterConnector(clients["eks"], clients["sts"])
    found = checks.run_all(
        clients=clients,
        connect=connector,
        deployment=deployment,
        publish=not args.no_publish,
        born_protected=_born_protected(
            clients["ec2"], clients["eks"], args, stack.creation_records(session, name)
        ),
    )
    if args.output == "json":
        out.write(json.dumps({"stack": name, **report.summary(found)}, indent=2) + "\n")
    else:
        out.write(f"frontguard doctor: stack {name} in {account} {region}\n\n")
        out.write("\n".join(report.table(found)) + "\n")
    return EXIT_OK if report.healthy(found) else EXIT_ERROR


def _born_protected(
    ec2: Any, eks_client: Any, args: argparse.Namespace, records: StateTable
) -> Callable[[Policy, str], Expected]:
    """For the doctor: a born-protected cluster's expected objects, exactly what `frontguard
    render born-protected` prints for it with the same --namespace and --other-class and the
    Kubernetes version DescribeCluster reports (the doctor never imports the rendering:
    .importlinter), and frontguard's prefix lists (read once)."""
    import functools

    from frontguard import render
    from frontguard.adapters import eks, prefix_lists
    from frontguard.controller.class_fields import PREFIX_LIST_FIELDS
    from frontguard.doctor.born import Expected
    from frontguard.render_services import parse_kubernetes_version

    owned = functools.cache(lambda: prefix_lists.owned(ec2, records).lists)

    def expect(policy: Policy, cluster: str) -> Expected:
        version = parse_kubernetes_version(eks.kubernetes_version(eks_client, cluster))
        objects = render.born_protected(
            policy,
            cluster,
            owned(),
            namespace=args.namespace,
            other_classes=args.other_class or (),
            kubernetes_version=version,
        )
        return Expected(
            objects=objects,
            owned_prefix_lists=frozenset(pl.id for pl in owned().values()),
            prefix_list_fields=PREFIX_LIST_FIELDS,
        )

    return expect


def add_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check that a deployment really works (exit code 1 on any failure)",
        description="Check the deployed stack with your own credentials: CloudTrail, the "
        "EventBridge rules (against real CloudTrail records), alert delivery, the functions, "
        "each cluster's access and controller, and in clusters the policy lists in "
        "born_protected the objects `render born-protected` prints. Each failure says what "
        "to fix. Sends one test alert and sets one alarm to ALARM and back (skip with "
        "--no-publish).",
    )
    doctor.add_argument("--stack", help="stack name (default: Frontguard-<account>-<region>)")
    doctor.add_argument("--region", help="AWS region (default: your AWS configuration)")
    doctor.add_argument("--output", choices=("table", "json"), default="table")
    doctor.add_argument(
        "--no-publish", action="store_true", help="no test alert, no alarm state change"
    )
    doctor.add_argument(
        "--namespace",
        default="frontguard-system",
        help="born-protected clusters: the --namespace given to `render born-protected`",
    )
    doctor.add_argument(
        "--other-class",
        action="append",
        metavar="NAME",
        help="born-protected clusters: each --other-class given to `render born-protected`",
    )
    doctor.set_defaults(run=run_doctor)
