"""The ``frontguard`` command line: scan (from a laptop or a pipeline), doctor, canary,
render and revert. The demo is the sandbox's (``bin/demo``).

It runs the same engine as the Lambdas with the user's own AWS credentials (boto3's default
session) and reaches each EKS cluster through DescribeCluster and a presigned STS token, so no
kubeconfig is needed. Only the standard library is added here: the Lambda package must not
grow for the CLI.

One module per command (:mod:`~frontguard.cli.scan` and :mod:`~frontguard.cli.fleet`,
:mod:`~frontguard.cli.revert`, :mod:`~frontguard.cli.doctor`, :mod:`~frontguard.cli.canary`,
:mod:`~frontguard.cli.render`), above what they share (:mod:`~frontguard.cli.stack`,
:mod:`~frontguard.cli.common`); :mod:`~frontguard.cli.main` ties them together
(``.importlinter``: cli-commands).

Exit codes: 0 nothing open; 2 findings remain (so ``frontguard scan`` can gate a pipeline);
1 on errors, with a one-line message and no traceback.
"""

from frontguard.cli.common import load_policy, render_table
from frontguard.cli.main import main
from frontguard.cli.scan import scan_summary

__all__ = ["load_policy", "main", "render_table", "scan_summary"]
