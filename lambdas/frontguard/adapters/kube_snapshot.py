"""One cluster as the scan listed it: reads of already-listed objects served from memory.

The scan lists each cluster's Services and Ingresses once. The engine, which resolves an
owner with ordinary reads (``get`` of the object, ``list`` of IngressClasses, ``get`` of
IngressClassParams, the whole Ingress list for an IngressGroup), is handed a
:class:`ListedKube` for that cluster instead of the live client, so that deciding and planning
a non-compliant load balancer re-reads nothing:

- a GET or LIST of a Service or Ingress is answered from the scan's lists;
- IngressClasses are listed once per cluster, on first need;
- IngressClassParams are listed once per cluster and API group, on first need, and each
  ``get`` by name is answered from that list (404 when it is not in it, as the server would);
- everything else (Gateways and their configurations, Events, writes) goes to the live
  client; a write's answer replaces the cached copy of the object, so later reads see it.

Whatever read methods the engine uses, they all end in ``_request``, which is where this
class decides: the engine needs no second code path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from frontguard.adapters.kube import CORE, NETWORKING, KubeClient, KubeObject
from frontguard.errors import NotFoundError

SERVICES = f"{CORE}/services"
INGRESSES = f"{NETWORKING}/ingresses"
INGRESS_CLASSES = f"{NETWORKING}/ingressclasses"
PARAMS = "ingressclassparams"


def _key(obj: KubeObject) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


class ListedKube(KubeClient):
    """A :class:`KubeClient` whose reads of listed objects cost no request."""

    def __init__(  # the live client does the talking: no configuration of our own
        self,
        live: KubeClient,
        *,
        services: Iterable[KubeObject],
        ingresses: Iterable[KubeObject],
    ) -> None:
        self.live = live
        self.cluster = live.cluster
        self.calls = live.calls  # requests are counted once, by the live client
        self._objects: dict[str, dict[tuple[str, str], KubeObject]] = {
            SERVICES: {_key(s): s for s in services},
            INGRESSES: {_key(i): i for i in ingresses},
        }
        self._classes: list[KubeObject] | None = None
        self._params: dict[str, dict[str, KubeObject]] = {}  # by API prefix, then name

    # --- what the scan listed -------------------------------------------------------------

    @property
    def services(self) -> Mapping[tuple[str, str], KubeObject]:
        return self._objects[SERVICES]

    @property
    def ingresses(self) -> Mapping[tuple[str, str], KubeObject]:
        return self._objects[INGRESSES]

    # --- the one place every read and write goes through -----------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> KubeObject:
        if method == "GET":
            served = self._serve(path)
            if served is not None:
                return served
        answer = self.live._request(  # the same client, one level down
            method, path, query=query, body=body, content_type=content_type
        )
        if method == "PATCH":
            self._remember(path, answer)
        return answer

    def _serve(self, path: str) -> KubeObject | None:
        """The answer from memory, or ``None`` when this read must go to the server."""
        if path in self._objects:
            return {"items": list(self._objects[path].values()), "metadata": {}}
        if path == INGRESS_CLASSES:
            if self._classes is None:
                self._classes = self.live.list_items(INGRESS_CLASSES)
            return {"items": list(self._classes), "metadata": {}}
        collection, name = _named(path)
        if collection in self._objects and name is not None:
            found = self._objects[collection].get(name)
            if found is None:
                raise NotFoundError(f"GET {path} on {self.cluster}: not found (listed)")
            return found
        api, _, rest = path.partition(f"/{PARAMS}/")
        if rest and "/" not in rest:
            params = self._params.get(api)
            if params is None:
                params = self._params[api] = self._list_params(api)
            found = params.get(unquote(rest))
            if found is None:
                raise NotFoundError(f"GET {path} on {self.cluster}: not found (listed)")
            return found
        return None

    def _list_params(self, api: str) -> dict[str, KubeObject]:
        try:
            items = self.live.list_items(f"{api}/{PARAMS}")
        except NotFoundError:  # the CRD is not installed: no IngressClassParams exist
            return {}
        return {str(p.get("metadata", {}).get("name", "")): p for p in items}

    def _remember(self, path: str, answer: KubeObject) -> None:
        collection, name = _named(path)
        if collection in self._objects and name is not None and answer.get("metadata"):
            self._objects[collection][name] = answer


def _named(path: str) -> tuple[str, tuple[str, str] | None]:
    """``/api/v1/namespaces/ns/services/x`` -> (``/api/v1/services``, (ns, x))."""
    base, marker, rest = path.partition("/namespaces/")
    if not marker:
        return path, None
    parts = rest.split("/")
    if len(parts) != 3:
        return path, None
    namespace, plural, name = parts
    return f"{base}/{plural}", (unquote(namespace), unquote(name))
