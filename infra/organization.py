"""Roll-out to an AWS Organization with a service-managed CloudFormation StackSet.

Three kinds of stack, all in the administrator account (the management account, or a
delegated administrator for StackSets):

- ``FrontguardAssets-<region>``, one per target region: an S3 bucket ``<prefix>-<region>``
  holding the Lambda code, readable by principals of the organization only
  (``aws:PrincipalOrgID``). A StackSet instance can only read code from its own region, and a
  member account has no CDK bootstrap bucket: these buckets are where every member's functions
  come from.
- ``FrontguardStackSet``, the administrator stack: the ``AWS::CloudFormation::StackSet``
  (service-managed permissions, automatic deployment to the chosen OUs and to every account
  that joins them, failure tolerance and concurrency as configured) whose template is the
  member stack, and the copy of the Lambda code into each region's bucket.
- the member stack itself, a ``StackSetStack``: the same functions, queues, table, topic and
  alarms as the single-account stack, environment-agnostic (account and region are
  CloudFormation pseudo parameters), with no CDK bootstrap resources at all.

``cdk-stacksets`` (cdklabs) supplies ``StackSetStack`` (a stack synthesized as a StackSet
template, its file assets redirected to ``<prefix>-${AWS::Region}``) and ``StackSet``; see
docs/organization.md for why it was chosen over a hand-written ``CfnStackSet``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from aws_cdk import Acknowledgment, Environment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_stacksets import (
    Capability,
    DeploymentType,
    OperationPreferences,
    RegionConcurrencyType,
    StackSet,
    StackSetStack,
    StackSetTarget,
    StackSetTemplate,
)
from constructs import Construct

from infra.config import DeploymentConfig, OrganizationRollout

# (scope, id, config, the regions' code buckets, their name prefix) -> the member stack
MemberFactory = Callable[
    [Construct, str, DeploymentConfig, Sequence[s3.IBucket], str], StackSetStack
]
ASSETS_STACK: Final = "FrontguardAssets-{region}"
ADMIN_STACK: Final = "FrontguardStackSet"
MEMBER_ID: Final = "Member"


def asset_bucket_name(rollout: OrganizationRollout, region: str) -> str:
    return f"{rollout.bucket_prefix}-{region}"


class AssetBucketStack(Stack):
    """The Lambda code bucket of one region, readable by the organization only."""

    def __init__(self, scope: Construct, *, rollout: OrganizationRollout, region: str) -> None:
        super().__init__(
            scope,
            ASSETS_STACK.format(region=region),
            env=Environment(account=rollout.admin_account, region=region),
            description="frontguard: Lambda code for the organization's member stacks",
        )
        self.bucket = s3.Bucket(
            self,
            "Code",
            bucket_name=asset_bucket_name(rollout, region),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Whoever creates a member's functions (the StackSet execution role in that account)
        # reads the code; nobody outside the organization can.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationReadsCode",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.bucket.arn_for_objects("*")],
                principals=[iam.OrganizationPrincipal(rollout.organization_id)],
            )
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="holds only the Lambda code that CDK deployments write; reads are "
                "CloudFormation creating functions, recorded by CloudTrail",
            )
        )


class AdministratorStack(Stack):
    """The StackSet and the copy of the Lambda code into each region's bucket."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: DeploymentConfig,
        rollout: OrganizationRollout,
        member: MemberFactory,
    ) -> None:
        super().__init__(
            scope,
            ADMIN_STACK,
            env=Environment(account=rollout.admin_account, region=rollout.admin_region),
            description="frontguard: the StackSet that deploys frontguard to the organization",
        )
        buckets = [
            s3.Bucket.from_bucket_name(self, f"Code-{region}", asset_bucket_name(rollout, region))
            for region in rollout.regions
        ]
        self.member = member(self, MEMBER_ID, config, buckets, rollout.bucket_prefix)
        self.stack_set = StackSet(
            self,
            "StackSet",
            stack_set_name=rollout.stack_set_name,
            description="frontguard member stack: keeps controller-made load balancers "
            "behind policy security groups",
            template=StackSetTemplate.from_stack_set_stack(self.member),
            target=StackSetTarget.from_organizational_units(
                regions=list(rollout.regions),
                organizational_units=list(rollout.organizational_units),
            ),
            deployment_type=DeploymentType.service_managed(
                auto_deploy_enabled=True,
                auto_deploy_retain_stacks=rollout.retain_stacks_on_account_removal,
                delegated_admin=rollout.call_as == "DELEGATED_ADMIN",
            ),
            # The member stack names its IAM roles (cluster owners map them in EKS).
            capabilities=[Capability.NAMED_IAM],
            operation_preferences=OperationPreferences(
                failure_tolerance_percentage=rollout.failure_tolerance_percentage,
                max_concurrent_percentage=rollout.max_concurrent_percentage,
                region_concurrency_type=(
                    RegionConcurrencyType.PARALLEL
                    if rollout.region_concurrency == "PARALLEL"
                    else RegionConcurrencyType.SEQUENTIAL
                ),
            ),
            managed_execution=True,
        )
        _acknowledge_bucket_deployment(self, rollout)


def _acknowledge_bucket_deployment(stack: Stack, rollout: OrganizationRollout) -> None:
    """The code copy is CDK's own BucketDeployment (a singleton Lambda kept by CDK): its
    role's grants are aws-cdk-lib's, on the staging bucket and the code buckets only."""
    copy = "CDK's BucketDeployment copies the code from the CDK staging bucket into the "
    "regions' code buckets"
    findings = {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]": "CDK's BucketDeployment function writes its logs with "
        "the AWS-managed basic execution policy",
        **{
            f"AwsSolutions-IAM5[Action::s3:{action}]": f"{copy}: aws-cdk-lib grants s3:{action}"
            for action in ("Abort*", "DeleteObject*", "GetBucket*", "GetObject*", "List*")
        },
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-"
        f"{rollout.admin_account}-{rollout.admin_region}/*]": f"{copy}: it reads the staged "
        "code objects",
        **{
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
            f"{asset_bucket_name(rollout, region)}/*]": f"{copy}: it writes the code objects of "
            f"{region}"
            for region in rollout.regions
        },
        "AwsSolutions-L1": "the runtime of CDK's BucketDeployment function is chosen by "
        "aws-cdk-lib and moves with its version",
    }
    for rule, reason in findings.items():
        Validations.of(stack).acknowledge(Acknowledgment(id=rule, reason=reason))


def build_organization(
    app: Construct, config: DeploymentConfig, member: MemberFactory
) -> list[Stack]:
    """The asset bucket stacks and the administrator stack (which waits for them)."""
    rollout = config.organization
    assert rollout is not None
    assets = [AssetBucketStack(app, rollout=rollout, region=r) for r in rollout.regions]
    admin = AdministratorStack(app, config=config, rollout=rollout, member=member)
    for stack in assets:
        admin.add_dependency(stack)
    return [*assets, admin]
