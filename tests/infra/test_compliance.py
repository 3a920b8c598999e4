"""cdk-nag (AwsSolutions, as a policy-validation plugin) and cfn-lint on the synthesized app."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import cfnlint.api
import pytest
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks

from tests.infra.conftest import Synthesized

# CDK writes an explicit DependsOn on the role next to the GetAtt it already has; harmless.
CFN_LINT_IGNORED = ["W3005"]


def nag_violations(assembly_dir: Path) -> list[object]:
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    return [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]


def test_cdk_nag_reports_no_unacknowledged_finding(minimal: Synthesized, full: Synthesized) -> None:
    # The fixtures' synth raises on any finding; the report is checked too.
    for synth in (minimal, full):
        assert nag_violations(synth.assembly_dir) == []


def test_cdk_nag_fails_the_synth_on_a_finding(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(
        app, "NonCompliant", env=cdk.Environment(account="123456789012", region="eu-west-1")
    )
    sns.Topic(stack, "Unencrypted")  # AwsSolutions-SNS2 and SNS3
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert nag_violations(tmp_path)


def acknowledgements(assembly_dir: Path) -> dict[str, str]:
    """``{"<construct path> <rule>": reason}`` from the stacks' assembly metadata."""
    found = {}
    for metadata in assembly_dir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    found.update({f"{path} {rule}": why for rule, why in entry["data"].items()})
    return found


def test_every_acknowledgement_names_its_reason(minimal: Synthesized, full: Synthesized) -> None:
    for synth in (minimal, full):
        found = acknowledgements(synth.assembly_dir)
        assert found
        for rule, reason in found.items():
            assert "AwsSolutions-" in rule
            assert len(reason.split()) >= 5, (rule, reason)


def test_cfn_lint_passes_on_every_template(minimal: Synthesized, full: Synthesized) -> None:
    for synth in (minimal, full):
        for template in synth.template_files:
            matches = cfnlint.api.lint_file(
                template, config=cfnlint.api.ManualArgs(ignore_checks=CFN_LINT_IGNORED)
            )
            assert [str(m) for m in matches] == [], template
