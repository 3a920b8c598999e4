"""botocore's service models, parsed once per process while the sandbox runs.

Every boto3 session makes its own loader, which parses the models of the services it creates
clients for again (EC2's alone is megabytes of JSON): with a wiring per test, a CLI run per
command and a runtime per handler test, that parsing was the largest fixed cost of the suite
and of the demo. While the sandbox runs, new botocore sessions share one loader instead. The
models are read-only data shipped with botocore; each session still has its own credentials,
handlers, clients and caches, as a new Lambda container or CLI process does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.loaders
import botocore.session


class _SearchPaths(list[str]):
    """boto3 appends its own data directory to the loader of every session it makes
    (boto3/session.py ``_setup_loader``): once is enough for a shared loader."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@contextmanager
def shared_service_models() -> Iterator[botocore.loaders.Loader]:
    """Within the block, every new botocore session uses one loader (botocore/session.py
    ``_register_data_loader`` registers a fresh one per session otherwise)."""
    loader = botocore.loaders.create_loader()
    # botocore's stubs do not declare the private names used here.
    shared: Any = loader
    shared._search_paths = _SearchPaths(loader.search_paths)
    sessions: Any = botocore.session.Session
    original = sessions._register_data_loader

    def register(session: Any) -> None:
        session._components.register_component("data_loader", loader)

    sessions._register_data_loader = register
    try:
        yield loader
    finally:
        sessions._register_data_loader = original
