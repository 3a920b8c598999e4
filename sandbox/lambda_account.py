"""Lambda's ``GetAccountSettings``, which moto 5.2.5 lacks, in front of the moto server.

``GET /2016-08-19/account-settings/`` answers the account's limits and usage
(https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html). The sandbox
account has the default quota of 1,000 concurrent executions unless a test lowers it with
:meth:`LambdaAccount.set_concurrency` (new accounts start lower:
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

DEFAULT_CONCURRENCY = 1000
PATH = "/2016-08-19/account-settings/"


class LambdaAccount:
    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self.concurrency = DEFAULT_CONCURRENCY

    def reset(self) -> None:
        self.concurrency = DEFAULT_CONCURRENCY

    def set_concurrency(self, limit: int) -> None:
        self.concurrency = limit

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if "/lambda/aws4_request" not in environ.get("HTTP_AUTHORIZATION", "") or environ.get(
            "PATH_INFO", ""
        ).rstrip("/") != PATH.rstrip("/"):
            return self._app(environ, start_response)
        body = json.dumps(
            {
                "AccountLimit": {
                    "TotalCodeSize": 80530636800,
                    "CodeSizeUnzipped": 262144000,
                    "CodeSizeZipped": 52428800,
                    "ConcurrentExecutions": self.concurrency,
                    "UnreservedConcurrentExecutions": self.concurrency,
                },
                "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
            }
        ).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
