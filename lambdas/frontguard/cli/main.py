"""The ``frontguard`` entry point: one sub-command per module of :mod:`frontguard.cli`, the
logging set-up, and one error line (no traceback) for what the user can fix."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from frontguard.cli import canary, doctor, render, revert, scan
from frontguard.cli.common import EXIT_ERROR
from frontguard.errors import FrontguardError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontguard",
        description="Keep AWS Load Balancer Controller load balancers behind policy "
        "security groups.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (scan, revert, doctor, render, canary):
        command.add_parser(commands)
    return parser


def _configure_logging(verbose: bool) -> None:
    root = logging.getLogger()
    if root.handlers:  # embedded (tests, another tool): leave its logging alone
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("frontguard").setLevel(logging.INFO if verbose else logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError

    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
    try:
        return run(args, sys.stdout, sys.stderr)
    except FrontguardError as error:
        sys.stderr.write(f"frontguard: error: {error}\n")
    except BotoCoreError as error:  # no credentials, no endpoint, ...
        sys.stderr.write(f"frontguard: error: AWS: {error}\n")
    except KeyboardInterrupt:
        sys.stderr.write("frontguard: interrupted\n")
    return EXIT_ERROR
