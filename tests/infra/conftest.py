"""Synthesizes the app once per session (synth and bundling are slow) in two shapes:

- ``minimal``: one account/region, an inline policy, e-mail alerts, no VPC;
- ``full``: two targets (each with its own clusters, the first in a VPC), the policy in a
  parameter the operator manages, Slack, Security Hub findings, the organization scan role,
  fail-closed mode and the scheduled canary.
"""

from __future__ import annotations

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
    config = parse_config(raw, source="test")
    app = cdk.App(outdir=str(outdir))
    stacks = build(app, config)
    assembly = app.synth()  # raises when cdk-nag reports an unacknowledged finding
    return Synthesized(
        config=config,
        assembly_dir=outdir,
        templates={stack.stack_name: Template.from_stack(stack) for stack in stacks},
        template_files=[Path(outdir) / s.template_file for s in assembly.stacks],
    )


@pytest.fixture(scope="session")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(MINIMAL, tmp_path_factory.mktemp("cdk-minimal"))


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(FULL, tmp_path_factory.mktemp("cdk-full"))


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: dict(resource) for name, resource in template.find_resources(kind).items()}


def logical_id(template: Template, kind: str, path_part: str) -> str:
    """The logical id of the one ``kind`` resource whose id contains ``path_part``."""
    matches = [name for name in resources(template, kind) if name.startswith(path_part)]
    assert len(matches) == 1, (kind, path_part, matches)
    return matches[0]
