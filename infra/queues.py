"""SQS queues: the verification queue and the dead-letter queues, all TLS-only and encrypted."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.principals import deny_other_principals

# Long enough for an on-call engineer to look at what failed, after a weekend.
DLQ_RETENTION = Duration.days(14)


def only_frontguard_sends(queue: sqs.Queue) -> sqs.Queue:
    """Refuse ``sqs:SendMessage`` (and so ``SendMessageBatch``) from every principal but
    frontguard's roles; AWS services still need the source-restricted Allow their
    integration adds (infra/principals.py). SQS moving a message to a dead-letter queue after
    ``maxReceiveCount`` is not a SendMessage call of any principal and needs no permission
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
    """
    queue.add_to_resource_policy(
        deny_other_principals(queue, ["sqs:SendMessage"], [queue.queue_arn])
    )
    return queue


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """A queue that keeps what failed for 14 days (alarmed on depth by Observability)."""
    return only_frontguard_sends(
        sqs.Queue(
            scope,
            construct_id,
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
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
        only_frontguard_sends(self.queue)


class VerificationQueue(RequestQueue):
    """Verification requests from the remediating functions to the verify function."""

    # A request that fails this often is a bug or a permanent error, not a slow controller.
    MAX_RECEIVE_COUNT = 5
