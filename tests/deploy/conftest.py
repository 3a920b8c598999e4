"""The synthesized stack deployed into the sandbox's CloudFormation, for the doctor and the
runtime to be tested together with the template (deploy audit, issue 14).

The template is synthesized once per session (CDK synth through jsii is slow); each test gets
a fresh sandbox with the cluster ``prod`` and the stack deployed into it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import Sandbox
from sandbox.aws import ACCOUNT_ID, REGION
from sandbox.deploy import Prepared, deploy
from tests.infra.conftest import Synthesized, synthesize_once

STACK = f"Frontguard-{ACCOUNT_ID}-{REGION}"
RBAC = Path(__file__).resolve().parents[2] / "infra" / "rbac.yaml"
POLICY: dict[str, Any] = {
    "mode": "enforce",
    "rules": [{"scheme": "internet-facing", "sources": ["203.0.113.0/24"]}],
    "default_sources": ["vpc"],
    "verify_delay_seconds": 0,
    "verify_backoff_seconds": [0, 0],
}
CONFIG: dict[str, Any] = {
    "targets": [{"account": ACCOUNT_ID, "region": REGION, "clusters": ["prod"]}],
    "policy": POLICY,
    "schedule": "rate(1 hour)",
    "alerts": {"emails": ["security@example.com"]},
}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_once("sandbox", CONFIG, tmp_path_factory)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> dict[str, Any]:
    (path,) = synthesized.template_files
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def a_trail(sandbox: Sandbox) -> str:
    """A multi-region trail that logs management events, as an account baseline has."""
    s3 = sandbox.client("s3")
    s3.create_bucket(
        Bucket="org-cloudtrail", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    cloudtrail = sandbox.client("cloudtrail")
    arn: str = cloudtrail.create_trail(
        Name="org-trail", S3BucketName="org-cloudtrail", IsMultiRegionTrail=True
    )["TrailARN"]
    # What AWS reports for a trail created without selectors (moto reports none).
    cloudtrail.put_event_selectors(
        TrailName=arn,
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
    )
    cloudtrail.start_logging(Name=arn)
    return arn


@pytest.fixture
def deployed(sandbox: Sandbox, template: dict[str, Any]) -> Iterator[Prepared]:
    """A working deployment: trail, cluster ``prod`` with the controller and infra/rbac.yaml,
    the stack."""
    a_trail(sandbox)
    prod = sandbox.cluster("prod")
    prod.install_controller()
    prod.apply(yaml.safe_load_all(RBAC.read_text()))
    yield deploy(sandbox, template, STACK)
