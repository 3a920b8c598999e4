"""The deployed stack, read with the caller's own credentials: its outputs (the canary's
alert queue) and its state table (whose creation records prove frontguard's prefix lists)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frontguard.errors import ConfigurationError

if TYPE_CHECKING:
    import boto3

    from frontguard.adapters.state import StateTable

STACK_READER_SERVICES = ("cloudformation", "sts", "dynamodb")


def creation_records(session: boto3.Session, stack: str | None) -> StateTable:
    """The deployed stack's state table, whose creation records prove frontguard's prefix
    lists (a tag proves nothing: security review r2, R2-2). Read with the caller's own
    credentials (dynamodb:GetItem on the table)."""
    from botocore.exceptions import ClientError

    from frontguard.adapters.aws import CLIENT_CONFIG
    from frontguard.adapters.state import StateTable

    # CLI-only clients, named in a tuple like the doctor's: the Lambda asset does not carry
    # CloudFormation's model (infra/bundling.py BOTOCORE_SERVICES).
    clients = {name: session.client(name, config=CLIENT_CONFIG) for name in STACK_READER_SERVICES}  # type: ignore[call-overload]
    cloudformation = clients["cloudformation"]
    name = stack or (
        f"Frontguard-{clients['sts'].get_caller_identity()['Account']}-{session.region_name}"
    )
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        raise ConfigurationError(
            f"cannot read stack {name} ({error.response['Error'].get('Code')}): frontguard's "
            "prefix lists are proven by its state table; pass --stack"
        ) from error
    outputs = {o["OutputKey"]: o["OutputValue"] for s in stacks for o in s.get("Outputs", [])}
    table = outputs.get("StateTableName")
    if not table:
        raise ConfigurationError(
            f"stack {name} has no StateTableName output: redeploy it with this version"
        )
    return StateTable(clients["dynamodb"], table)


def canary_queue(clients: dict[str, Any], stack: str | None, region: str) -> str | None:
    """The deployed stack's canary subscription (output CanaryAlertsQueueUrl), if any."""
    from botocore.exceptions import ClientError

    name = stack or f"Frontguard-{clients['sts'].get_caller_identity()['Account']}-{region}"
    try:
        stacks = clients["cloudformation"].describe_stacks(StackName=name)["Stacks"]
    except ClientError:
        return None
    outputs = {o["OutputKey"]: o["OutputValue"] for s in stacks for o in s.get("Outputs", [])}
    return outputs.get("CanaryAlertsQueueUrl")
