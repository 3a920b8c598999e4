"""botocore's service models are parsed once while the sandbox runs, and only they are shared:
each session keeps its own handlers and clients (a new Lambda container's)."""

from __future__ import annotations

import boto3

from sandbox import Sandbox
from sandbox.models import shared_service_models


def _loader(session: boto3.Session) -> object:
    return session._session.get_component("data_loader")


def test_sessions_share_the_parsed_models_and_nothing_else(sandbox: Sandbox):
    first, second = boto3.Session(), boto3.Session()
    seen: list[str] = []
    first._session.register("before-call", lambda **_: seen.append("first"))

    assert _loader(first) is _loader(second)
    assert first.client("ec2") is not second.client("ec2")
    second.client("ec2").describe_vpcs()
    assert seen == []  # the first session's handler is not the second's
    paths = _loader(first).search_paths  # type: ignore[attr-defined]
    assert len(paths) == len(set(paths))  # boto3's data directory once, however many sessions


def test_the_block_gives_back_what_was_there_before():
    with shared_service_models() as inner:
        assert _loader(boto3.Session()) is inner
    assert _loader(boto3.Session()) is not inner
