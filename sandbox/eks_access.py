"""EKS access entries and authentication modes, which moto 5.2.5 lacks, in front of moto.

A WSGI layer over the moto server that answers the EKS REST calls for access entries and adds
``accessConfig.authenticationMode`` to ``DescribeCluster``, from the EKS API reference:

- ``CreateAccessEntry`` ``POST /clusters/{name}/access-entries``,
  ``ListAccessEntries`` ``GET /clusters/{name}/access-entries``,
  ``DescribeAccessEntry`` ``GET /clusters/{name}/access-entries/{principalArn}``,
  ``DeleteAccessEntry`` ``DELETE`` the same
  (https://docs.aws.amazon.com/eks/latest/APIReference/API_Operations.html);
- a cluster in ``CONFIG_MAP`` mode refuses access entries with ``InvalidRequestException``
  (https://docs.aws.amazon.com/eks/latest/userguide/grant-k8s-access.html#set-cam);
- an unknown cluster is ``ResourceNotFoundException``; a duplicate principal
  ``ResourceInUseException``.

New clusters start in ``API_AND_CONFIG_MAP`` (the console's default since 2024); tests change
it with :meth:`EksAccess.set_authentication_mode`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from moto.eks.models import eks_backends

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

DEFAULT_MODE = "API_AND_CONFIG_MAP"
_ENTRIES = re.compile(r"^/clusters/([^/]+)/access-entries(?:/(.+))?$")
_CLUSTER = re.compile(r"^/clusters/([^/]+)$")


class EksAccess:
    """The WSGI layer; its state is per process, like moto's, and cleared by :meth:`reset`."""

    def __init__(self, app: WsgiApp, account: str, region: str) -> None:
        self._app = app
        self._account = account
        self._region = region
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, dict[str, Any]]] = {}
        self.modes: dict[str, str] = {}

    def reset(self) -> None:
        with self._lock:
            self.entries.clear()
            self.modes.clear()

    def set_authentication_mode(self, cluster: str, mode: str) -> None:
        with self._lock:
            self.modes[cluster] = mode

    def create_entry(
        self, cluster: str, principal: str, groups: list[str], kind: str = "STANDARD"
    ) -> dict[str, Any]:
        status, body = self._create(
            cluster, {"principalArn": principal, "kubernetesGroups": groups, "type": kind}
        )
        if status != 200:
            raise ValueError(body)
        entry: dict[str, Any] = body["accessEntry"]
        return entry

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if "/eks/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return self._app(environ, start_response)
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if match := _ENTRIES.match(path):
            cluster, principal = unquote(match[1]), unquote(match[2]) if match[2] else None
            status, body = self._entries(environ, method, cluster, principal)
            return _respond(start_response, status, body)
        if (match := _CLUSTER.match(path)) and method == "GET":
            return self._describe_cluster(environ, start_response, unquote(match[1]))
        return self._app(environ, start_response)

    # --- access entries -------------------------------------------------------------------

    def _cluster_exists(self, cluster: str) -> bool:
        return cluster in eks_backends[self._account][self._region].clusters

    def _entries(
        self, environ: Environ, method: str, cluster: str, principal: str | None
    ) -> tuple[int, dict[str, Any]]:
        if not self._cluster_exists(cluster):
            return 404, _error(
                "ResourceNotFoundException", f"No cluster found for name: {cluster}."
            )
        with self._lock:
            entries = self.entries.setdefault(cluster, {})
            if principal is None and method == "GET":
                return 200, {"accessEntries": sorted(entries)}
            if principal is None and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                request = json.loads(environ["wsgi.input"].read(length) or b"{}")
                return self._create_locked(cluster, request)
            if principal is not None and principal in entries:
                if method == "GET":
                    return 200, {"accessEntry": entries[principal]}
                if method == "DELETE":
                    del entries[principal]
                    return 200, {}
        return 404, _error(
            "ResourceNotFoundException",
            f"The specified access entry resource is not found: {principal}",
        )

    def _create(self, cluster: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not self._cluster_exists(cluster):
            return 404, _error(
                "ResourceNotFoundException", f"No cluster found for name: {cluster}."
            )
        with self._lock:
            return self._create_locked(cluster, request)

    def _create_locked(self, cluster: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.modes.get(cluster, DEFAULT_MODE) == "CONFIG_MAP":
            return 400, _error(
                "InvalidRequestException",
                "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
                "to perform this operation.",
            )
        entries = self.entries.setdefault(cluster, {})
        principal = str(request.get("principalArn", ""))
        if principal in entries:
            return 409, _error(
                "ResourceInUseException",
                "The specified access entry resource is already in use on this cluster.",
            )
        entry = {
            "clusterName": cluster,
            "principalArn": principal,
            "kubernetesGroups": list(request.get("kubernetesGroups") or []),
            "type": request.get("type") or "STANDARD",
            "username": principal,
            "accessEntryArn": f"arn:aws:eks:{self._region}:{self._account}:access-entry/{cluster}/role/{principal.rsplit('/', 1)[-1]}",
        }
        entries[principal] = entry
        return 200, {"accessEntry": entry}

    # --- DescribeCluster ------------------------------------------------------------------

    def _describe_cluster(
        self, environ: Environ, start_response: StartResponse, cluster: str
    ) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _: None

        body = b"".join(self._app(environ, capture))
        if captured.get("status", "").startswith("200"):
            document = json.loads(body)
            with self._lock:
                mode = self.modes.get(cluster, DEFAULT_MODE)
            document["cluster"]["accessConfig"] = {"authenticationMode": mode}
            body = json.dumps(document).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "message": message}


def _respond(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if "__type" in body:
        headers.append(("x-amzn-ErrorType", str(body["__type"])))
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}
    start_response(f"{status} {reasons[status]}", headers)
    return [data]
