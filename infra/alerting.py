"""The alert topic: KMS-encrypted SNS, TLS only, with e-mail and optional Slack subscribers."""

from __future__ import annotations

from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import Alerts


class AlertTopic(Construct):
    """Where every outcome, alarm and digest goes."""

    def __init__(self, scope: Construct, construct_id: str, *, alerts: Alerts) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="frontguard alert topic",
            enable_key_rotation=True,
        )
        # CloudWatch alarms publish to the topic, so the service needs the key too.
        self.key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="frontguard alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        for email in alerts.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        if alerts.slack is not None:
            chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                slack_channel_configuration_name=f"frontguard-{alerts.slack.channel_id}",
                slack_workspace_id=alerts.slack.workspace_id,
                slack_channel_id=alerts.slack.channel_id,
                notification_topics=[self.topic],
            )
