"""``frontguard render born-protected``: print a cluster's born-protected objects as YAML
(reads frontguard's prefix lists; writes nothing anywhere)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from frontguard.cli import common, stack
from frontguard.cli.common import EXIT_OK


def run_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the born-protected objects of one cluster as YAML (reads frontguard's prefix
    lists; writes nothing anywhere)."""
    import yaml

    from frontguard import render
    from frontguard.adapters import eks, prefix_lists
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.render_services import parse_kubernetes_version, version_note

    policy = common.load_policy(args.policy, enforce=False)
    session = common.session(args.region)
    if args.kubernetes_version:
        version, source = parse_kubernetes_version(args.kubernetes_version), "--kubernetes-version"
    else:
        found = eks.kubernetes_version(session.client("eks", config=CLIENT_CONFIG), args.cluster)
        version, source = parse_kubernetes_version(found), "DescribeCluster"
    ec2 = session.client("ec2", config=CLIENT_CONFIG)
    objects = render.born_protected(
        policy,
        args.cluster,
        prefix_lists.owned(ec2, stack.creation_records(session, args.stack)).lists,
        deny=args.deny,
        namespace=args.namespace,
        other_classes=args.other_class or (),
        kubernetes_version=version,
    )
    out.write(
        f"# frontguard render born-protected --cluster {args.cluster}: apply with your GitOps "
        f"(validationActions {'Deny' if args.deny else 'Warn'}); see docs/born-protected.md\n"
        f"# {version_note(version, source)}\n"
    )
    out.write(yaml.safe_dump_all(objects, sort_keys=False))
    return EXIT_OK


def add_parser(commands: Any) -> None:
    render_cmd = commands.add_parser(
        "render",
        help="print in-cluster objects for a platform team to apply (nothing is written)",
        description="born-protected: the IngressClass + IngressClassParams, the GatewayClass-"
        "level LoadBalancerConfiguration, a ValidatingAdmissionPolicy and (Kubernetes >= 1.36) "
        "a MutatingAdmissionPolicy for Services that make load balancers born at policy width, "
        "referencing frontguard's prefix lists.",
    )
    render_cmd.add_argument("what", choices=("born-protected",))
    render_cmd.add_argument("--cluster", required=True, metavar="NAME")
    render_cmd.add_argument("--policy", metavar="FILE", help="policy document (JSON)")
    render_cmd.add_argument("--region", help="AWS region (default: your AWS configuration)")
    render_cmd.add_argument(
        "--stack",
        help="the deployed stack whose state table proves frontguard's prefix lists (default: "
        "Frontguard-<account>-<region>)",
    )
    render_cmd.add_argument(
        "--deny", action="store_true", help="the admission policy denies (default: Warn)"
    )
    render_cmd.add_argument(
        "--namespace",
        default="frontguard-system",
        help="namespace of the GatewayClass-level LoadBalancerConfiguration",
    )
    render_cmd.add_argument(
        "--kubernetes-version",
        metavar="X.Y",
        help="the cluster's Kubernetes version (default: EKS DescribeCluster); from 1.36 the "
        "output includes the MutatingAdmissionPolicy for Services",
    )
    render_cmd.add_argument(
        "--other-class",
        action="append",
        metavar="NAME",
        help="an IngressClass of another controller the admission policy lets through",
    )
    render_cmd.set_defaults(run=run_render)
