"""The Kubernetes adapter: the few reads and merge patches frontguard makes, as plain JSON.

It talks REST through the official client's ``ApiClient`` (TLS, auth, proxies) without the
generated models: objects stay the JSON the API server sent, which keeps both memory and
import time low. Each cluster gets its own explicit ``Configuration``; no kubeconfig, no
global state. The ``kubernetes`` package is imported only when a cluster is first contacted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from frontguard import tags as t
from frontguard.adapters.eks import TOKEN_LIFETIME, ClusterEndpoint
from frontguard.errors import NotFoundError, PermanentError, RetryableError

KubeObject = dict[str, Any]

CORE = "/api/v1"
NETWORKING = "/apis/networking.k8s.io/v1"
ELBV2 = "/apis/elbv2.k8s.aws/v1beta1"
MERGE_PATCH = "application/merge-patch+json"
RETRYABLE_STATUSES = frozenset({0, 408, 409, 429, 500, 502, 503, 504})
# (connect, read) seconds: an unreachable API server must fail the request, not hang the
# Lambda until its own timeout.
REQUEST_TIMEOUT = (5.0, 20.0)


class KubeApiError(PermanentError):
    """The API server refused a request and retrying will not change its mind (401/403/4xx)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ObjectPath:
    """Where one namespaced object lives in the API."""

    collection: str  # e.g. /api/v1 + "services"
    namespace: str
    name: str

    @property
    def url(self) -> str:
        base, _, plural = self.collection.rpartition("/")
        return f"{base}/namespaces/{quote(self.namespace)}/{plural}/{quote(self.name)}"


def service_path(namespace: str, name: str) -> ObjectPath:
    return ObjectPath(f"{CORE}/services", namespace, name)


def ingress_path(namespace: str, name: str) -> ObjectPath:
    return ObjectPath(f"{NETWORKING}/ingresses", namespace, name)


class KubeClient:
    """One cluster's API, authenticated with an EKS token refreshed before it expires."""

    def __init__(
        self,
        endpoint: ClusterEndpoint,
        token_provider: Callable[[], str],
        *,
        clock: Callable[[], float] = time.time,
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> None:
        from kubernetes.client import ApiClient, Configuration

        self.cluster = endpoint.name
        self.vpc_id = endpoint.vpc_id  # the cluster's VPC, as DescribeCluster reports it
        self._token_provider = token_provider
        self._clock = clock  # wall clock: a frozen Lambda container's monotonic clock stops
        self._timeout = timeout
        self._token_expires = 0.0
        config = Configuration(host=endpoint.endpoint, ca_cert_data=endpoint.ca_pem.decode())
        config.api_key = {"BearerToken": ""}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        config.refresh_api_key_hook = self._refresh  # type: ignore[assignment]
        config.retries = False  # frontguard's own retry policy decides (RetryableError)
        self._api = ApiClient(config)
        self.calls: dict[str, int] = {}

    def _refresh(self, config: Any) -> None:
        now = self._clock()
        if now >= self._token_expires:
            config.api_key["BearerToken"] = self._token_provider()
            self._token_expires = now + TOKEN_LIFETIME

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> KubeObject:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        url = self._api.configuration.host + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            auth = self._api.configuration.auth_settings()["BearerToken"]
            headers[auth["key"]] = auth["value"]
            self.calls[method] = self.calls.get(method, 0) + 1
            try:
                response = self._api.call_api(
                    method, url, header_params=headers, body=body, _request_timeout=self._timeout
                )
                data = response.read()  # type: ignore[no-untyped-call]
            except ApiException as error:  # TLS failures arrive as status 0
                raise RetryableError(
                    f"{method} {path} on {self.cluster}: {error.reason}"
                ) from error
            except HTTPError as error:  # connection refused, timeouts
                raise RetryableError(f"{method} {path} on {self.cluster}: {error}") from error
            status = int(response.status)
            if status != 401 or attempt:
                break
            # The cached token was rejected before its time (a container thawed after a
            # freeze, clock skew): fetch a fresh one and try once more.
            self._token_expires = 0.0
        status = int(response.status)
        if status == 404:
            raise NotFoundError(f"{method} {path} on {self.cluster}: not found")
        if status in RETRYABLE_STATUSES:
            raise RetryableError(f"{method} {path} on {self.cluster}: HTTP {status}")
        if status >= 400:
            raise KubeApiError(
                f"{method} {path} on {self.cluster}: HTTP {status}: {_status_message(data)}",
                status,
            )
        result: KubeObject = json.loads(data) if data else {}
        return result

    # --- reads -----------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> KubeObject:
        """Any request by path (``frontguard doctor``: access reviews, the controller)."""
        return self._request(
            method, path, body=body, content_type="application/json" if body else None
        )

    def get(self, path: ObjectPath) -> KubeObject:
        return self._request("GET", path.url)

    def list_items(self, collection: str, **query: str) -> list[KubeObject]:
        items: list[KubeObject] = self._request("GET", collection, query=query or None).get(
            "items", []
        )
        return items

    def list_paged(self, collection: str, page_size: int = 500) -> Iterator[KubeObject]:
        """Every object of a collection, in pages (``continue`` tokens)."""
        token = ""
        while True:
            query = {"limit": str(page_size)}
            if token:
                query["continue"] = token
            page = self._request("GET", collection, query=query)
            yield from page.get("items", [])
            token = page.get("metadata", {}).get("continue") or ""
            if not token:
                return

    def ingress_classes(self) -> list[KubeObject]:
        return self.list_items(f"{NETWORKING}/ingressclasses")

    def ingress_class_params(self, name: str, api: str = ELBV2) -> KubeObject:
        return self._request("GET", f"{api}/ingressclassparams/{quote(name)}")

    def get_cluster_scoped(self, collection: str, name: str) -> KubeObject:
        """A cluster-scoped object, e.g. ``(GATEWAY_API + "/gatewayclasses", "alb")``."""
        return self._request("GET", f"{collection}/{quote(name)}")

    def events_for(self, namespace: str, name: str) -> list[KubeObject]:
        events = self.list_items(
            f"{CORE}/namespaces/{quote(namespace)}/events",
            fieldSelector=f"involvedObject.name={name}",
        )
        # Emulators may ignore field selectors: filter again.
        return [e for e in events if e.get("involvedObject", {}).get("name") == name]

    # --- writes ----------------------------------------------------------------------------

    def patch_annotations(self, path: ObjectPath, changes: dict[str, str | None]) -> KubeObject:
        """One JSON merge patch of ``metadata.annotations`` (``None`` deletes a key)."""
        return self._request(
            "PATCH",
            path.url,
            query={"fieldManager": t.FIELD_MANAGER},
            body={"metadata": {"annotations": changes}},
            content_type=MERGE_PATCH,
        )

    def merge_patch(self, path: ObjectPath, body: KubeObject) -> KubeObject:
        """One JSON merge patch of ``body`` (fields not named stay untouched; ``None`` deletes)."""
        return self._request(
            "PATCH",
            path.url,
            query={"fieldManager": t.FIELD_MANAGER},
            body=body,
            content_type=MERGE_PATCH,
        )

    def create(self, path: ObjectPath, body: KubeObject) -> KubeObject:
        """Create the namespaced object ``path`` names (``body``'s metadata gets its name)."""
        base, _, plural = path.collection.rpartition("/")
        metadata = {**body.get("metadata", {}), "name": path.name, "namespace": path.namespace}
        return self._request(
            "POST",
            f"{base}/namespaces/{quote(path.namespace)}/{plural}",
            query={"fieldManager": t.FIELD_MANAGER},
            body={**body, "metadata": metadata},
            content_type="application/json",
        )

    def delete(self, path: ObjectPath) -> None:
        """Delete the namespaced object ``path`` names (NotFoundError when already gone)."""
        self._request("DELETE", path.url)


def _status_message(data: bytes | None) -> str:
    try:
        return str(json.loads(data or b"{}").get("message", ""))
    except ValueError:
        return (data or b"")[:200].decode(errors="replace")


def preload() -> None:
    """Import the ``kubernetes`` package now, in this thread: its modules import each other
    circularly, and threads importing it for the first time at once see it half-initialised
    ("cannot import name 'ApiClient'")."""
    import kubernetes.client
    import kubernetes.client.exceptions  # noqa: F401
