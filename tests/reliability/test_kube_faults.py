"""Kubernetes faults, injected in the emulator before it changes any state: each status ends
where the error contract says, the cluster endpoint can vanish or hang, tokens expire."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from frontguard.adapters.eks import TOKEN_LIFETIME, describe_cluster
from frontguard.adapters.kube import REQUEST_TIMEOUT, KubeClient

from sandbox import SANDBOX_TOKEN, Sandbox
from sandbox.aws import set_cluster_endpoint
from sandbox.wiring import Frontguard
from tests.reliability.conftest import Record
from tests.reliability.faults import deliver, frontguard_groups, half_applied, kube_fault

AREA = "Kubernetes faults"
SG = "alb.ingress.kubernetes.io/security-groups"

# (status, method) → where the event must end up, then after Lambda's retry.
CASES = [
    (401, "GET", "alert:error", None),
    (403, "GET", "alert:error", None),
    (404, "GET", "dropped", None),  # the owner is gone: the controller deletes its LB
    (409, "GET", "dlq", "success:remediated"),
    (429, "GET", "dlq", "success:remediated"),
    (500, "GET", "dlq", "success:remediated"),
    (401, "PATCH", "alert:error", None),
    (403, "PATCH", "alert:error", None),
    (404, "PATCH", "dlq", None),  # vanished between GET and PATCH while its LB exists: retry
    (409, "PATCH", "dlq", "success:remediated"),
    (429, "PATCH", "dlq", "success:remediated"),
    (500, "PATCH", "dlq", "success:remediated"),
]


@pytest.mark.parametrize(("status", "method", "expected", "after_retry"), CASES)
def test_kubernetes_status_ends_where_the_error_contract_says(  # noqa: PLR0917
    sandbox: Sandbox,
    fg: Frontguard,
    record: Record,
    status: int,
    method: str,
    expected: str,
    after_retry: str | None,
):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    before = web.object["metadata"]["annotations"]
    prod.kube.inject(kube_fault(status, method=method))

    first = deliver(fg, web.event)
    half = half_applied(sandbox)
    observed = first.observed
    prod.kube.clear_faults()
    if after_retry is not None:
        retry = deliver(fg, web.event)
        observed += f" → {retry.observed}"
        half += half_applied(sandbox, claimed_success=True)

    record(
        AREA,
        f"HTTP {status} on every {method}" + (", then Lambda's retry" if after_retry else ""),
        expected + (f" → {after_retry}" if after_retry else ""),
        observed,
        faults=1,
        half_applied=half,
        lost=int(first.lost),
    )
    assert first.observed == expected
    if after_retry is None:
        assert web.object["metadata"]["annotations"] == before  # nothing patched
    else:
        assert observed.endswith(after_retry)
        assert web.object["metadata"]["annotations"][SG] == frontguard_groups(sandbox)[0]["GroupId"]
    assert half == []


def test_cluster_endpoint_refusing_connections_takes_the_dlq_path(sandbox, fg, record):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    set_cluster_endpoint("prod", f"https://127.0.0.1:{port}", sandbox.ca.ca_data)

    first = deliver(fg, web.event)
    set_cluster_endpoint("prod", prod.endpoint, sandbox.ca.ca_data)
    retry = deliver(wire_again(sandbox), web.event)  # a new container after the outage

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "cluster endpoint refuses connections, then a retry after the outage",
        "dlq → success:remediated",
        f"{first.observed} → {retry.observed}",
        faults=1,
        half_applied=half,
    )
    assert first.observed == "dlq"
    assert retry.observed == "success:remediated"
    assert half == []


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that accepts TCP connections and never answers (a black-holed endpoint)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"


def test_cluster_endpoint_that_never_answers_times_out_into_the_dlq_path(
    sandbox, fg, record, silent_endpoint
):
    prod = sandbox.cluster("prod")
    web = prod.ingress("shop/web", ports=[443])
    endpoint = describe_cluster(sandbox.client("eks"), "prod")
    hanging = KubeClient(
        endpoint.__class__(endpoint.name, silent_endpoint, endpoint.ca_pem, endpoint.vpc_id),
        lambda: SANDBOX_TOKEN,
        timeout=(0.5, 0.5),
    )
    fg.runtime.engine.kube = lambda cluster: hanging

    first = deliver(fg, web.event)

    half = half_applied(sandbox)
    record(
        AREA,
        "cluster endpoint accepts connections and never answers",
        "dlq",
        first,
        faults=1,
        half_applied=half,
    )
    assert first.observed == "dlq"
    assert "timed out" in str(first.error).lower() or "timeout" in str(first.error).lower()
    assert half == []
    assert all(0 < limit <= 30 for limit in REQUEST_TIMEOUT)  # production never hangs either


class FakeClock:
    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _expiring_tokens(prod, clock: FakeClock, lifetime: float) -> tuple[list[str], object]:
    """A token provider stamping each token's issue time, and an emulator fault rejecting
    tokens older than ``lifetime`` (EKS: 15 minutes)."""
    issued: dict[str, float] = {}
    tokens: list[str] = []

    def provide() -> str:
        token = f"{SANDBOX_TOKEN}-{len(tokens)}"
        tokens.append(token)
        issued[token] = clock.now
        return token

    def expired(method: str, path: str, headers) -> int | None:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        return 401 if clock.now > issued.get(token, clock.now) + lifetime else None

    prod.kube.inject(expired)
    return tokens, provide


def test_token_expiring_mid_run_is_refreshed_before_the_server_rejects_it(sandbox, fg, record):
    prod = sandbox.cluster("prod")
    first_lb = prod.ingress("shop/one", ports=[443])
    second_lb = prod.ingress("shop/two", ports=[443])
    clock = FakeClock(step=4 * 60)  # every request happens four minutes after the last
    tokens, provide = _expiring_tokens(prod, clock, lifetime=15 * 60)
    endpoint = describe_cluster(sandbox.client("eks"), "prod")
    client = KubeClient(endpoint, provide, clock=clock)  # type: ignore[arg-type]
    fg.runtime.engine.kube = lambda cluster: client

    first = deliver(fg, first_lb.event)
    second = deliver(fg, second_lb.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "EKS token expires during a run (clock moves 4 min per request)",
        "success:remediated ×2",
        f"{first.observed}, {second.observed}",
        faults=len(tokens) - 1,
        half_applied=half,
    )
    assert (first.observed, second.observed) == ("success:remediated", "success:remediated")
    assert len(tokens) >= 2  # refreshed at TOKEN_LIFETIME, before the server's 15 minutes
    assert TOKEN_LIFETIME < 15 * 60
    assert half == []


def test_token_rejected_early_after_a_frozen_container_is_refreshed_once(sandbox, fg, record):
    prod = sandbox.cluster("prod")
    first_lb = prod.ingress("shop/one", ports=[443])
    second_lb = prod.ingress("shop/two", ports=[443])
    clock = FakeClock()  # the client's clock stands still, as in a frozen container
    tokens, provide = _expiring_tokens(prod, clock, lifetime=15 * 60)
    endpoint = describe_cluster(sandbox.client("eks"), "prod")
    client = KubeClient(endpoint, provide, clock=clock)  # type: ignore[arg-type]
    fg.runtime.engine.kube = lambda cluster: client
    first = deliver(fg, first_lb.event)
    clock.now += 20 * 60  # the server's time moves on; the client believes its token fresh
    client._token_expires = clock.now + 60

    second = deliver(fg, second_lb.event)

    half = half_applied(sandbox, claimed_success=True)
    record(
        AREA,
        "EKS token rejected (401) before the client thinks it expired",
        "success:remediated (one refresh)",
        second,
        faults=1,
        half_applied=half,
    )
    assert first.observed == second.observed == "success:remediated"
    assert len(tokens) == 2
    assert half == []


def wire_again(sandbox: Sandbox) -> Frontguard:
    from sandbox.wiring import ENFORCE, wire

    return wire(sandbox, ENFORCE)
