"""``frontguard revert``: give a cluster's load balancers back to the controller (dry run
unless ``--apply``; see :mod:`frontguard.engine.revert`)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from frontguard.cli import common
from frontguard.cli.common import EXIT_OK, human
from frontguard.errors import ConfigurationError


def run_revert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.engine.revert import Scope, render, revert
    from frontguard.runtime import ClusterConnector

    if args.object:
        try:
            scope = Scope.parse_object(args.cluster, args.object)
        except ValueError as error:
            raise ConfigurationError(str(error)) from error
        if args.namespace and args.namespace != scope.namespace:
            raise ConfigurationError("--namespace and --object name different namespaces")
    else:
        scope = Scope(args.cluster, namespace=args.namespace)
    session = common.session(args.region)
    connector = ClusterConnector(
        session.client("eks", config=CLIENT_CONFIG), session.client("sts", config=CLIENT_CONFIG)
    )
    kube = connector(args.cluster)
    ec2 = session.client("ec2", config=CLIENT_CONFIG)
    elbv2 = session.client("elbv2", config=CLIENT_CONFIG)
    result = revert(kube, ec2, elbv2, scope, apply=args.apply)
    out.write(human(render(result, applied=args.apply)))
    if not args.apply and (result.patches or result.config_patches or result.security_groups):
        err.write("dry run: nothing changed; add --apply to do it\n")
    return EXIT_OK


def add_parser(commands: Any) -> None:
    revert = commands.add_parser(
        "revert",
        help="undo frontguard's work on a cluster (dry run unless --apply)",
        description="Restore the annotations frontguard replaced (frontguard.io/replaced) so "
        "the controller brings back its default SG, then delete frontguard's SGs that nothing "
        "uses any more. Dry run unless --apply.",
    )
    revert.add_argument("--cluster", required=True, metavar="NAME")
    revert.add_argument("--namespace", metavar="NS", help="only objects in this namespace")
    revert.add_argument(
        "--object",
        metavar="KIND/NS/NAME",
        help="only this object (service/ns/name or ingress/ns/name; its IngressGroup entirely)",
    )
    revert.add_argument("--region", help="AWS region (default: your AWS configuration)")
    revert.add_argument("--apply", action="store_true", help="make the changes")
    revert.set_defaults(run=run_revert)
