"""SQS queues: the verification queue and the dead-letter queues, all TLS-only and encrypted."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.principals import deny_other_principals

# Long enough for an on-call engineer to look at what failed, after a weekend.
DLQ_RETENTION = Duration.days(14)


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """A queue that keeps what failed for 14 days (alarmed on depth by Observability)."""
    return sqs.Queue(
        scope,
        construct_id,
        retention_period=DLQ_RETENTION,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )


class RequestQueue(Construct):
    """Requests from frontguard's functions to one consuming function, with a dead-letter
    queue; only frontguard's roles may send (infra/principals.py)."""

    MAX_RECEIVE_COUNT = 5

    def __init__(self, scope: Construct, construct_id: str, *, consumer_timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            # AWS's advice for Lambda event sources: six times the function timeout.
            visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() * 6),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=self.MAX_RECEIVE_COUNT
            ),
        )
        self.queue.add_to_resource_policy(
            deny_other_principals(self, ["sqs:SendMessage"], [self.queue.queue_arn])
        )


class VerificationQueue(RequestQueue):
    """Verification requests from the remediating functions to the verify function."""

    # A request that fails this often is a bug or a permanent error, not a slow controller.
    MAX_RECEIVE_COUNT = 5
