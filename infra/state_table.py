"""The state table: alert de-duplication and loop detection for the runtime."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.principals import deny_other_principals


class StateTable(Construct):
    """``pk``/``sk`` strings, items expire through ``expires_at``; nothing here is precious."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Dedupe markers only: a rollback may take them away.
            removal_policy=RemovalPolicy.DESTROY,
        )
        # "*": a table's resource policy cannot name the table itself without a cycle. The
        # roles it names are ARNs built from their fixed names, not references (no cycle with
        # the roles' inline policies, which reference the table).
        self.table.add_to_resource_policy(
            deny_other_principals(
                self,
                [
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:BatchWriteItem",
                ],
                ["*"],
            )
        )
