"""The Remediate function's time budget (issue 22 item 4): a slow cluster must never time out
a whole batch. Before each record the handler checks the time Lambda has left; records it
cannot finish in time go back to the queue unstarted, as batch item failures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from frontguard.adapters.remediation_queue import RemediationRequest
from frontguard.handlers import remediate as remediate_handler
from frontguard.handlers.batches import RECORD_RESERVE_MS

from sandbox import Sandbox
from sandbox.scenario import Owned
from sandbox.wiring import FakeLambdaContext, Frontguard

SG = "alb.ingress.kubernetes.io/security-groups"
TIMEOUT_MS = 120_000  # the Remediate function's timeout (infra/remediation.py)
SLOW_PATCH_MS = 70_000  # a cluster whose API answers after 70 s


@dataclass
class VirtualClock:
    elapsed_ms: int = 0


@dataclass
class ClockedContext(FakeLambdaContext):
    """Lambda's context object, its remaining time read from a clock the test advances."""

    clock: VirtualClock = field(default_factory=VirtualClock)

    def get_remaining_time_in_millis(self) -> int:
        return TIMEOUT_MS - self.clock.elapsed_ms


def queued(owned: Owned, cluster: str) -> dict[str, Any]:
    """A repair as the scan queues it, in the SQS record Lambda hands the handler."""
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"AQEB{uuid.uuid4().hex}",
        "body": RemediationRequest(owned.lb_arn, cluster).to_json(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:frontguard-remediation",
    }


def test_records_a_slow_cluster_leaves_no_time_for_come_back_unstarted(
    sandbox: Sandbox, fg: Frontguard, handler_env: None
):
    slow_cluster = sandbox.cluster("slow")
    prod = sandbox.cluster("prod", cidr="10.1.0.0/16")
    slow = slow_cluster.ingress("shop/slow", ports=[443])
    fast = [prod.ingress(f"shop/web-{i}", ports=[443]) for i in range(2)]
    context = ClockedContext()

    def slow_patch(method: str, path: str, headers: Any) -> int | None:
        if method == "PATCH":
            context.clock.elapsed_ms += SLOW_PATCH_MS
        return None  # the request then goes through

    slow_cluster.kube.inject(slow_patch)
    records = [queued(slow, "slow"), *(queued(lb, "prod") for lb in fast)]

    response = remediate_handler.handler({"Records": records}, context)

    # The slow record ran to the end (120 s left at its start); after it 50 s were left, less
    # than one record's reserve: the two others were handed back without being started.
    assert TIMEOUT_MS - SLOW_PATCH_MS < RECORD_RESERVE_MS <= TIMEOUT_MS
    assert response == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records[1:]]
    }
    assert SG in slow.object["metadata"]["annotations"]
    assert all(SG not in lb.object["metadata"]["annotations"] for lb in fast)

    # Redelivered to a fresh invocation, they are applied.
    again = remediate_handler.handler({"Records": records[1:]}, FakeLambdaContext())

    assert again == {"batchItemFailures": []}
    assert all(SG in lb.object["metadata"]["annotations"] for lb in fast)
