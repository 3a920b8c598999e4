"""Synthesizes the app once per session (synth and bundling are slow) in two shapes:

- ``minimal``: one account/region, an inline policy, e-mail alerts, no VPC;
- ``full``: two targets (each with its own clusters, the first in a VPC), the policy in a
  parameter the operator manages, Slack, Security Hub findings, the organization scan role,
  fail-closed mode and the scheduled canary.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build
from infra.config import DeploymentConfig, parse_config

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CLUSTERS = ("prod-eu", "staging-eu")
POLICY = {"mode": "audit", "clusters": ["*"], "default_sources": ["vpc"], "rules": []}

MINIMAL: dict[str, Any] = {
    "targets": [{"account": ACCOUNT, "region": REGION, "clusters": list(CLUSTERS)}],
    "policy": POLICY,
    "schedule": "rate(30 minutes)",
    "alerts": {"emails": ["security@example.com"]},
    "log_retention_days": 90,
}
FULL: dict[str, Any] = {
    "targets": [
        {
            "account": ACCOUNT,
            "region": REGION,
            "clusters": ["private-eu"],
            "vpc": {
                "vpc_id": "vpc-0123456789abcdef0",
                "subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
                "security_group_ids": ["sg-0cccccccccccccccc"],
            },
        },
        {"account": "210987654321", "region": "us-east-1", "clusters": ["prod-us"]},
    ],
    "policy_parameter": "/frontguard/policy",
    "security_hub": True,
    "scan_role": {"trusted_accounts": ["111122223333"], "organization_id": "o-abcdef1234"},
    "fail_closed": {"controller_role_names": ["eks-aws-load-balancer-controller"]},
    "canary": {"clusters": ["private-eu"], "max_exposure_seconds": 90},
    "alerts": {
        "emails": ["security@example.com"],
        "slack": {"workspace_id": "T0123", "channel_id": "C0456"},
    },
}


@dataclass(frozen=True)
class Synthesized:
    config: DeploymentConfig
    assembly_dir: Path
    templates: dict[str, Template]  # by stack name
    template_files: list[Path]

    @property
    def template(self) -> Template:
        return next(iter(self.templates.values()))


def synthesize(raw: dict[str, Any], outdir: Path) -> Synthesized:
    return _synthesize(raw, outdir)[0]


def _synthesize(raw: dict[str, Any], outdir: Path) -> tuple[Synthesized, dict[str, str]]:
    """The synthesized app, and each stack's template file by stack name."""
    config = parse_config(raw, source="test")
    app = cdk.App(outdir=str(outdir))
    stacks = build(app, config)
    assembly = app.synth()  # raises when cdk-nag reports an unacknowledged finding
    synthesized = Synthesized(
        config=config,
        assembly_dir=outdir,
        templates={stack.stack_name: Template.from_stack(stack) for stack in stacks},
        template_files=[Path(outdir) / s.template_file for s in assembly.stacks],
    )
    return synthesized, {stack.stack_name: stack.template_file for stack in stacks}


SYNTHESIZED_STACKS = "frontguard-stacks.json"  # written last: the synth is complete


def synthesize_once(
    name: str, raw: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    """``synthesize`` once per test run, not once per xdist worker: the first worker to need
    ``name`` synthesizes it under a lock in the run's shared temporary directory; the others
    read the same cloud assembly (the templates, nag report and metadata the synth wrote)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the run's workers
    outdir = root / f"cdk-{name}"
    with (root / f"cdk-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = outdir / SYNTHESIZED_STACKS
        if not done.exists():
            synthesized, files = _synthesize(raw, outdir)
            order = [str(path) for path in synthesized.template_files]
            done.write_text(json.dumps({"stacks": files, "template_files": order}))
            return synthesized
    written = json.loads(done.read_text())
    return Synthesized(
        config=parse_config(raw, source="test"),
        assembly_dir=outdir,
        templates={
            stack: Template.from_json(json.loads((outdir / file).read_text()))
            for stack, file in written["stacks"].items()
        },
        template_files=[Path(path) for path in written["template_files"]],
    )


@pytest.fixture(scope="session")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize_once("minimal", MINIMAL, tmp_path_factory)


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize_once("full", FULL, tmp_path_factory)


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: dict(resource) for name, resource in template.find_resources(kind).items()}


def logical_id(template: Template, kind: str, path_part: str) -> str:
    """The logical id of the one ``kind`` resource whose id contains ``path_part``."""
    matches = [name for name in resources(template, kind) if name.startswith(path_part)]
    assert len(matches) == 1, (kind, path_part, matches)
    return matches[0]
