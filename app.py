"""CDK entry point: one frontguard stack per configured account and region.

The configuration comes from ``-c config=<file>`` (JSON) or, without it, from the
``frontguard`` object in cdk.json's context. See docs/deploy.md.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.central_alerts import CentralAlertsStack
from infra.config import ConfigError, DeploymentConfig, load_config, parse_config, stack_name
from infra.organization import build_organization
from infra.stack import FrontguardMemberStackSetStack, FrontguardStack

DEFAULT_CONFIG = Path("frontguard.config.json")


def read_config(app: cdk.App) -> DeploymentConfig:
    """``-c config=<file>``, else cdk.json's ``frontguard`` context, else the default file."""
    path = app.node.try_get_context("config")
    if path:
        return load_config(Path(str(path)))
    inline = app.node.try_get_context("frontguard")
    if inline is not None:
        return parse_config(inline, source="cdk.json context 'frontguard'")
    if DEFAULT_CONFIG.is_file():
        return load_config(DEFAULT_CONFIG)
    raise ConfigError(
        f"no frontguard configuration: create {DEFAULT_CONFIG} (see "
        "frontguard.config.example.json), pass -c config=<file>, or set context 'frontguard'"
    )


def build(app: cdk.App, config: DeploymentConfig) -> list[cdk.Stack]:
    """The stacks, with cdk-nag's AwsSolutions checks as a policy-validation plugin: one per
    target, and with ``organization`` the StackSet's (infra/organization.py)."""
    stacks: list[cdk.Stack] = [
        FrontguardStack(app, stack_name(target), config=config, target=target)
        for target in config.targets
    ]
    if config.organization is not None:
        stacks += build_organization(app, config, FrontguardMemberStackSetStack)
    if config.central_alerts is not None:
        stacks.append(CentralAlertsStack(app, central=config.central_alerts))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def main() -> None:
    app = cdk.App()
    build(app, read_config(app))
    app.synth()


if __name__ == "__main__":
    main()
