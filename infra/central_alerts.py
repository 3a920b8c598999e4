"""One alert stream for the organization (optional): a topic in the security account that
every member stack publishes its alerts and scan digests to.

The topic and its KMS key accept ``sns:Publish`` and the key's data-key calls only from the
member stacks' function roles (R2-7): principals of the organization (``aws:PrincipalOrgID``,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid)
whose ``aws:PrincipalArn`` is a frontguard function role, ``frontguard-<function>-<region>``
in any account (``ArnLike``; the names are fixed by infra/principals.py). A Deny refuses every
other principal, including those of this account whose own identity policies would allow
the publish. docs/scp.md reserves the role names in the member accounts.

Who published is not in what SNS delivers (the message, subject and attributes are the
publisher's; the envelope names the topic only). The ``account`` of an alert is what the
publishing function read from STS GetCallerIdentity (frontguard.runtime), never an event's
field; the topic refusing every principal but frontguard's roles is what makes that hold.
docs/organization.md says what remains: an administrator of a member account can run code as
its own frontguard role.

The key has a fixed alias so that member roles can be granted "the key behind this alias"
without knowing its ID (``kms:ResourceAliases``,
https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-resource-aliases).
Each member keeps its own topic for its CloudWatch alarms, which can only notify a topic of
their own account.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import CfnOutput, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import CentralAlerts
from infra.principals import deny_unless_principal, organization_publisher_patterns

STACK_NAME: Final = "FrontguardCentralAlerts"
# What a publisher needs of an encrypted topic's key.
PUBLISH_KEY_ACTIONS: Final = ("kms:Decrypt", "kms:GenerateDataKey")


class CentralAlertsStack(Stack):
    def __init__(self, scope: Construct, *, central: CentralAlerts) -> None:
        super().__init__(
            scope,
            STACK_NAME,
            env=Environment(account=central.account, region=central.region),
            description="frontguard: the organization's alert topic",
        )
        publishers = organization_publisher_patterns(central.region)
        organization = {
            "StringEquals": {"aws:PrincipalOrgID": central.organization_id},
            "ArnLike": {"aws:PrincipalArn": publishers},
        }
        self.key = kms.Key(
            self,
            "Key",
            alias=central.key_alias,
            description="frontguard organization alert topic",
            enable_key_rotation=True,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationPublishes",
                actions=list(PUBLISH_KEY_ACTIONS),
                resources=["*"],  # in a key policy, "*" is this key
                principals=[iam.AnyPrincipal()],
                conditions=organization,
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=central.topic_name,
            display_name="frontguard alerts (organization)",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationPublishes",
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                principals=[iam.AnyPrincipal()],
                conditions=organization,
            )
        )
        self.topic.add_to_resource_policy(
            deny_unless_principal(
                ["sns:Publish"],
                [self.topic.topic_arn],
                {"ArnNotLike": {"aws:PrincipalArn": publishers}},
            )
        )
        for email in central.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn)
