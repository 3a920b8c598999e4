"""One frontguard Lambda function: its own role (exactly its declared actions), log group,
and, for asynchronous invocations, a failure queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bundling
from infra.config import VpcAttachment
from infra.least_privilege import (
    WILDCARD_REASONS,
    Scope,
    code_statements,
    nag_resource,
    topic_key_statement,
)
from infra.queues import dead_letter_queue

# What the Lambda service itself does with an execution role in a VPC (the managed policy
# AWSLambdaVPCAccessExecutionRole, written out): AWS allows no resource scoping for these.
VPC_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
VPC_ENI_REASON = (
    "the Lambda service manages the function's VPC network interfaces with these; AWS supports "
    "no resource scoping for them (as in AWSLambdaVPCAccessExecutionRole)"
)
QUEUE_CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the three functions."""

    name: str
    handler: str
    description: str
    actions: Sequence[str]
    memory_mb: int
    timeout: Duration
    asynchronous: bool
    reserved_concurrency: int | None = None
    # For a queue consumer: records per invocation and the event source's concurrency cap.
    batch_size: int = 10
    max_concurrency: int | None = None


class FrontguardFunction(Construct):
    """A function whose execution role is written out in full, never grown by CDK grants.

    The role is handed to Lambda as immutable, so ``grant_*`` calls and event sources cannot
    add to it behind the tests' back: every statement below is deliberate.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        code: lambda_.Code,
        environment: Mapping[str, str],
        permissions: Scope,
        log_retention: logs.RetentionDays,
        vpc: VpcAttachment | None,
        event_source_queue: sqs.IQueue | None = None,
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.RETAIN
        )
        self.failure_queue = dead_letter_queue(self, "Failures") if spec.asynchronous else None

        statements = code_statements(spec.actions, permissions)
        if "sns:Publish" in spec.actions:
            statements.append(topic_key_statement(permissions))
        statements.extend(self._platform_statements(event_source_queue, vpc))
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            role_name=role_name,
            description=f"frontguard {spec.name}: exactly the actions its code declares",
            inline_policies={"frontguard": iam.PolicyDocument(statements=statements)},
        )

        self._acknowledge_findings(statements)
        placement = _placement(self, vpc)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            runtime=bundling.RUNTIME,
            architecture=bundling.ARCHITECTURE,
            code=code,
            handler=spec.handler,
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            role=self.role.without_policy_updates(),
            environment=dict(environment),
            log_group=self.log_group,
            on_failure=(
                destinations.SqsDestination(self.failure_queue) if self.failure_queue else None
            ),
            retry_attempts=2 if spec.asynchronous else None,
            vpc=placement.vpc if placement else None,
            vpc_subnets=placement.subnets if placement else None,
            security_groups=placement.security_groups if placement else None,
        )
        if event_source_queue is not None:
            fifo = bool(event_source_queue.fifo)
            self.function.add_event_source(
                event_sources.SqsEventSource(
                    event_source_queue,
                    batch_size=spec.batch_size,
                    # FIFO event sources take no batching window.
                    max_batching_window=None if fifo else Duration.seconds(5),
                    max_concurrency=spec.max_concurrency,
                    # Only the failed records come back; the rest of the batch is done.
                    report_batch_item_failures=True,
                )
            )

    def _acknowledge_findings(self, statements: Sequence[iam.PolicyStatement]) -> None:
        """Tell cdk-nag why each wildcard and design choice is deliberate."""
        reasons = {**WILDCARD_REASONS, "PlatformVpcNetworkInterfaces": VPC_ENI_REASON}
        wildcards: dict[str, list[str]] = {}
        for statement in statements:
            for resource in statement.resources:
                if "*" in resource:
                    wildcards.setdefault(resource, []).append(reasons[statement.sid or ""])
        for resource, why in wildcards.items():
            _acknowledge(
                self.role, f"AwsSolutions-IAM5[Resource::{nag_resource(resource)}]", "; ".join(why)
            )
        _acknowledge(
            self,
            "AwsSolutions-L1",
            f"Python {bundling.PYTHON_VERSION} on purpose: the asset's wheels (and bytecode, when "
            "compiled) are built for this version; moving is a deliberate change of "
            "infra/bundling.PYTHON_VERSION, tested with the runtime code",
        )
        if self.failure_queue is not None:
            _acknowledge(
                self.failure_queue,
                "AwsSolutions-SQS3",
                "this queue is itself the dead-letter queue of the function's asynchronous "
                "invocations and EventBridge targets, alarmed on depth",
            )

    def _platform_statements(
        self, event_source_queue: sqs.IQueue | None, vpc: VpcAttachment | None
    ) -> list[iam.PolicyStatement]:
        statements = [
            iam.PolicyStatement(
                sid="PlatformLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        ]
        if self.failure_queue is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="PlatformFailureDestination",
                    actions=["sqs:SendMessage"],
                    resources=[self.failure_queue.queue_arn],
                )
            )
        if event_source_queue is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="PlatformEventSource",
                    actions=list(QUEUE_CONSUMER_ACTIONS),
                    resources=[event_source_queue.queue_arn],
                )
            )
        if vpc is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="PlatformVpcNetworkInterfaces",
                    actions=list(VPC_ENI_ACTIONS),
                    resources=["*"],
                )
            )
        return statements


def _acknowledge(construct: Construct, finding: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


@dataclass(frozen=True)
class _Placement:
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_groups: list[ec2.ISecurityGroup]


def _placement(scope: Construct, vpc: VpcAttachment | None) -> _Placement | None:
    """The configured subnets and security groups, referenced by ID (no lookups)."""
    if vpc is None:
        return None
    return _Placement(
        vpc=ec2.Vpc.from_vpc_attributes(
            scope,
            "Vpc",
            vpc_id=vpc.vpc_id,
            # Required by the API, unused: the subnets are selected explicitly.
            availability_zones=[f"az-{index}" for index in range(len(vpc.subnet_ids))],
        ),
        subnets=ec2.SubnetSelection(
            subnets=[
                ec2.Subnet.from_subnet_id(scope, f"Subnet{index}", subnet_id)
                for index, subnet_id in enumerate(vpc.subnet_ids)
            ]
        ),
        security_groups=[
            ec2.SecurityGroup.from_security_group_id(scope, f"SecurityGroup{index}", group_id)
            for index, group_id in enumerate(vpc.security_group_ids)
        ],
    )
