"""The scheduled scan's fan-out: a queue of repairs and the function that applies them.

The scan decides for every load balancer in minutes and sends each repair here; the
Remediate function applies them through the event path's engine, a few at a time, so no
invocation comes near Lambda's 15 minutes whatever the account's size, and the account's
API rate limits keep room for everything else.

How the rate was chosen. EC2 throttles each mutating API per account and Region with a token
bucket that refills at 5 requests a second by default (https://docs.aws.amazon.com/ec2/
latest/devguide/ec2-api-throttling.html, "Request token bucket sizes and refill rates":
mutating actions, bucket 200, refill 5/s); a first repair makes one CreateSecurityGroup and
one AuthorizeSecurityGroupIngress. Capping the repairs at half that refill rate (2.5 LBs a
second) leaves the other half to the controller, CI pipelines and people:
``MAX_CONCURRENCY`` = 2 (the lowest maximum concurrency an SQS event source accepts,
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html) × one LB per
``PACE_SECONDS`` = 0.8 s each. ELBv2's and EKS's rates are not approached (one
DescribeLoadBalancers and one PATCH per LB). Throttled anyway: the clients' adaptive retries
slow down, and a record that still fails is retried by SQS, then kept in the DLQ (alarmed).
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration
from frontguard import permissions

from infra.functions import FunctionSpec
from infra.queues import RequestQueue

MAX_CONCURRENCY: Final = 2
PACE_SECONDS: Final = 0.8
# Records per invocation: at the pace above a batch takes about 5 × 0.8 s (plus the calls),
# far from the timeout, and a partial failure re-drives only the failed records.
BATCH_SIZE: Final = 5

REMEDIATE: Final = FunctionSpec(
    name="Remediate",
    handler="frontguard.handlers.remediate.handler",
    description="frontguard: apply the repairs the scheduled scan queued",
    actions=permissions.REMEDIATE_FUNCTION,
    memory_mb=512,
    timeout=Duration.minutes(2),
    asynchronous=False,
    batch_size=BATCH_SIZE,
    max_concurrency=MAX_CONCURRENCY,
)


class RemediationQueue(RequestQueue):
    """Repairs from the scan to the Remediate function, with a dead-letter queue."""

    # A repair that fails this often is a permanent problem (alarmed through the DLQ); the
    # next scan decides again anyway.
    MAX_RECEIVE_COUNT = 3
