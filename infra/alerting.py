"""The alert topic: KMS-encrypted SNS, TLS only, with e-mail and optional Slack subscribers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from frontguard.permissions import partition_of

from infra.config import Alerts
from infra.principals import deny_other_principals

CLOUDWATCH: Final = "cloudwatch.amazonaws.com"
# What AWS Chatbot needs to render CloudWatch alarm notifications in a channel (its
# "Notification permissions" policy template): read-only CloudWatch.
# https://docs.aws.amazon.com/chatbot/latest/adminguide/chatbot-iam-policies.html
CHATBOT_NOTIFICATION_ACTIONS: Final = (
    "cloudwatch:Describe*",
    "cloudwatch:Get*",
    "cloudwatch:List*",
)


def alarm_source_conditions(scope: Construct) -> dict[str, Any]:
    """This account's alarms only (confused-deputy protection for a service principal):
    https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html and
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html"""
    stack = Stack.of(scope)
    partition = partition_of(stack.region)
    alarms = f"arn:{partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
    return {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {"aws:SourceArn": alarms},
    }


class AlertTopic(Construct):
    """Where every outcome, alarm and digest goes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alerts: Alerts,
        extra_publishers: Sequence[str] = (),
    ) -> None:
        """``extra_publishers``: functions beyond the stack's four whose roles publish alerts
        (the scheduled canary's ``canary-failed``)."""
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="frontguard alert topic",
            enable_key_rotation=True,
        )
        # CloudWatch alarms publish to the encrypted topic, so the service needs the key too:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=alarm_source_conditions(self),
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="frontguard alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        # enforce_ssl writes a topic policy, and a topic policy replaces SNS's default one
        # (which let the owner account publish): without this statement every alarm fails with
        # "no resource-based policy allows the SNS:Publish action".
        # https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=alarm_source_conditions(self),
            )
        )
        # Without this, any principal of the account with sns:Publish on "*" could send a
        # forged alert to every subscriber (R2-7): only frontguard's roles, and CloudWatch
        # through the source-restricted Allow above.
        self.topic.add_to_resource_policy(
            deny_other_principals(
                self, ["sns:Publish"], [self.topic.topic_arn], extra_functions=extra_publishers
            )
        )
        for email in alerts.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.slack: chatbot.SlackChannelConfiguration | None = None
        if alerts.slack is not None:
            region = Stack.of(self).region
            self.slack = chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                # Chatbot configurations are global (their ARNs carry no region): one name per
                # regional stack, or the second region's deployment fails on a duplicate.
                slack_channel_configuration_name=f"frontguard-{region}-{alerts.slack.channel_id}",
                slack_workspace_id=alerts.slack.workspace_id,
                slack_channel_id=alerts.slack.channel_id,
                notification_topics=[self.topic],
                # Without guardrails CloudFormation applies AdministratorAccess to what channel
                # members may do; frontguard's channel only reads.
                guardrail_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name("ReadOnlyAccess")
                ],
                logging_level=chatbot.LoggingLevel.ERROR,
                user_role_required=True,
            )
            self.slack.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ChatbotNotifications",
                    actions=list(CHATBOT_NOTIFICATION_ACTIONS),
                    resources=["*"],
                )
            )
            for finding, reason in (
                (
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess]",
                    "the channel guardrail caps what Slack users may do to read-only (the "
                    "CloudFormation default is AdministratorAccess)",
                ),
                (
                    "AwsSolutions-IAM5[Action::cloudwatch:Describe*]",
                    "Chatbot's notification permissions: read alarms to render them",
                ),
                (
                    "AwsSolutions-IAM5[Action::cloudwatch:Get*]",
                    "Chatbot's notification permissions: read alarms to render them",
                ),
                (
                    "AwsSolutions-IAM5[Action::cloudwatch:List*]",
                    "Chatbot's notification permissions: read alarms to render them",
                ),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "CloudWatch Describe/Get/List for alarm rendering support no resource scoping",
                ),
            ):
                Validations.of(self.slack).acknowledge(Acknowledgment(id=finding, reason=reason))
