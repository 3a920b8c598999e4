"""What the stack's outputs say was deployed (:class:`Deployment`), found with DescribeStacks;
and the paging every check area uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from frontguard.errors import ConfigurationError

Client = Any  # boto3 clients (typed stubs are not installed for every service used here)

# Every stack has these; "Remediate" (the scan's fan-out) is checked when the stack has it.
FUNCTIONS: Final = ("Events", "Verify", "Scan")
OPTIONAL_FUNCTIONS: Final = ("Remediate",)


@dataclass(frozen=True)
class Deployment:
    """What the stack's outputs say was deployed."""

    stack: str
    region: str
    account: str
    outputs: Mapping[str, str]

    def function(self, name: str) -> str:
        return self.outputs[f"{name}FunctionName"]

    @property
    def functions(self) -> list[str]:
        """The function names (Events, Verify, Scan, and Remediate when deployed)."""
        optional = [n for n in OPTIONAL_FUNCTIONS if f"{n}FunctionName" in self.outputs]
        return [*FUNCTIONS, *optional]

    def role(self, name: str) -> str:
        return self.outputs[f"{name}RoleArn"]

    @property
    def topic_arn(self) -> str:
        return self.outputs["AlertTopicArn"]

    @property
    def clusters(self) -> list[str]:
        return [c for c in self.outputs.get("Clusters", "").split(",") if c]

    @property
    def dead_letter_queues(self) -> list[str]:
        return [q for q in self.outputs.get("DeadLetterQueueUrls", "").split(",") if q]

    @property
    def queues(self) -> list[str]:
        """Every queue of the stack: the work queues, then the dead-letter queues."""
        work = [q for q in self.outputs.get("WorkQueueUrls", "").split(",") if q]
        return [*work, *self.dead_letter_queues]

    @property
    def state_table_arn(self) -> str | None:
        return self.outputs.get("StateTableArn")

    @property
    def roles(self) -> list[str]:
        """The function roles, and the scheduled canary's (it publishes canary-failed)."""
        canary = [self.outputs["CanaryRoleArn"]] if "CanaryRoleArn" in self.outputs else []
        return [*(self.role(name) for name in self.functions), *canary]


def discover(cloudformation: Client, stack: str, *, region: str, account: str) -> Deployment:
    """The deployment, from DescribeStacks; :class:`ConfigurationError` if there is none."""
    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise ConfigurationError(
            f"no stack {stack} in {region}: deploy with `cdk deploy`, or pass --stack "
            f"({error.response['Error'].get('Message', '')})"
        ) from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    missing = [f"{n}FunctionName" for n in FUNCTIONS if f"{n}FunctionName" not in outputs]
    if missing:
        raise ConfigurationError(
            f"stack {stack} has no frontguard outputs ({', '.join(missing)}): redeploy it with "
            "this version of frontguard"
        )
    return Deployment(stack=stack, region=region, account=account, outputs=outputs)


def paged(client: Client, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items
