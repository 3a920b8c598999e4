"""A Kubernetes API server per sandbox cluster: kmock's emulator, over TLS, in its own thread.

`KubeEmulator` extends kmock's `KubernetesEmulator` (an in-memory object store behind the
Kubernetes REST URL layout) with what frontguard needs from a real EKS API server:

Gaps closed here (kmock 0.8):

- **Authentication**: every request must carry ``Authorization: Bearer k8s-aws-v1.<token>``
  (the shape of an EKS token); anything else gets a Kubernetes ``Status`` 401 *before* kmock
  applies the mutation (kmock changes state before any reaction runs, so the check lives in
  ``_handle``).
- **Selectors**: ``labelSelector`` (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``,
  ``k in (a,b)``, ``k notin (a,b)``) and ``fieldSelector`` (``path=v``, ``path==v``,
  ``path!=v`` on dotted paths such as ``involvedObject.name``) filter lists; kmock ignores both.
- **Server-set metadata**: created objects get ``uid``, ``creationTimestamp``,
  ``resourceVersion`` and their ``namespace``; each merge patch bumps ``resourceVersion``.
- **Field management** (``metadata.managedFields``) for merge patches, as Kubernetes
  documents it (https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management;
  for PUT/PATCH the managed fields are deduced from what changes, and a field a manager starts
  managing is taken from every other: kubernetes-sigs/structured-merge-diff README):
  the writer is the ``fieldManager`` query parameter, or the User-Agent's product when there
  is none; an update that changes the object gives its manager the fields it set and the
  time of the write (``operation: Update``), takes the fields it removed away from every
  manager, and drops a manager left owning nothing. Only ``metadata.annotations`` and
  ``metadata.labels`` are tracked key by key; anything else a patch sets counts as one field
  per top-level key (``f:spec``). ``Apply`` (server-side apply) is not emulated.
- **Discovery**: the resources frontguard uses are declared with their kinds and scopes
  (Services, Events, Ingresses, IngressClasses, IngressClassParams, the Gateway API and
  admission-policy kinds; see ``_RESOURCES``).
- **Authorization checks**: ``SubjectAccessReview`` (``POST /apis/authorization.k8s.io/v1/
  subjectaccessreviews``) is answered from the stored ClusterRoles and ClusterRoleBindings as
  Kubernetes RBAC documents it (https://kubernetes.io/docs/reference/access-authn-authz/rbac/):
  allowed when a binding names the user or one of its groups and its ClusterRole has a rule
  whose apiGroups, resources and verbs each contain the asked value or ``*``. Namespaced
  RoleBindings, aggregated roles and resourceNames are not evaluated. Requests themselves are
  still not authorized (see below).
- **Workloads**: Deployments (``apps/v1``) are stored, so a test can install the controller's
  Deployment with the flags it runs with.
- **Thread-safe synchronous accessors** for tests (`KubeServer.get_object` and friends) and a
  per ``(method, path)`` request counter for API-budget assertions.
- **Serving**: kmock's own ``Server`` patches aiohttp's resolver globally and must be exited
  in LIFO order, which does not hold for several emulators in several threads; `KubeServer`
  serves the handler with a plain aiohttp ``ServerRunner``/``TCPSite`` over TLS instead.

Semantics already right in kmock and relied upon: a JSON merge patch (``application/
merge-patch+json``, any dict body) merges recursively and ``null`` deletes the key (RFC 7386);
a JSON patch (a list body) is applied with ``jsonpatch``; query parameters such as
``fieldManager`` are accepted and ignored.

Remaining gaps (tests must not rely on them):

- a strategic merge patch is applied as a JSON merge patch (identical for maps such as
  annotations and labels; lists are replaced, never merged by key);
- no ``resourceVersion`` preconditions (no 409 on a stale update), no admission, no RBAC: any
  ``k8s-aws-v1.`` token is accepted with full rights;
- ``PUT`` (replace) answers 404; watches do not honour selectors.

**Fault injection** (reliability tests): `KubeServer.inject` registers a function called with
each request's ``(method, path, headers)`` *before* authentication and before any state
change; when it returns an HTTP status, the request is answered with a Kubernetes ``Status``
of that code and nothing is applied. ``clear_faults()`` removes them all.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import itertools
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import aiohttp.web
import attrs
from kmock import KubernetesEmulator
from kmock import resource as kmock_resource
from kmock._internal import enums, rendering

JSON = dict[str, Any]
T = TypeVar("T")
#: ``(method, path, headers) -> status or None``: answer ``status`` instead of serving.
Fault = Callable[[str, str, Mapping[str, str]], int | None]
_REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}

# Resource keys as kmock spells them: "group/version/plural" ("v1/plural" for the core group).
SERVICES = "v1/services"
EVENTS = "v1/events"
INGRESSES = "networking.k8s.io/v1/ingresses"
INGRESS_CLASSES = "networking.k8s.io/v1/ingressclasses"
INGRESS_CLASS_PARAMS = "elbv2.k8s.aws/v1beta1/ingressclassparams"
# Gateway API and the controller's LoadBalancerConfiguration (v1 from LBC v3.5, v1beta1 before).
GATEWAYS = "gateway.networking.k8s.io/v1/gateways"
GATEWAY_CLASSES = "gateway.networking.k8s.io/v1/gatewayclasses"
HTTP_ROUTES = "gateway.networking.k8s.io/v1/httproutes"
NAMESPACES = "v1/namespaces"
LB_CONFIGURATIONS = "gateway.k8s.aws/v1/loadbalancerconfigurations"
LB_CONFIGURATIONS_V1BETA1 = "gateway.k8s.aws/v1beta1/loadbalancerconfigurations"
# EKS Auto Mode's own IngressClassParams.
AUTO_MODE_CLASS_PARAMS = "eks.amazonaws.com/v1/ingressclassparams"
CLUSTER_ROLES = "rbac.authorization.k8s.io/v1/clusterroles"
CLUSTER_ROLE_BINDINGS = "rbac.authorization.k8s.io/v1/clusterrolebindings"
ROLES = "rbac.authorization.k8s.io/v1/roles"
ROLE_BINDINGS = "rbac.authorization.k8s.io/v1/rolebindings"
DEPLOYMENTS = "apps/v1/deployments"
# Admission policies (admissionregistration.k8s.io/v1: validating from Kubernetes 1.30,
# mutating from 1.36), stored only: the emulator does not evaluate them.
VALIDATING_POLICIES = "admissionregistration.k8s.io/v1/validatingadmissionpolicies"
VALIDATING_POLICY_BINDINGS = "admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
MUTATING_POLICIES = "admissionregistration.k8s.io/v1/mutatingadmissionpolicies"  # 1.36+
MUTATING_POLICY_BINDINGS = "admissionregistration.k8s.io/v1/mutatingadmissionpolicybindings"
ACCESS_REVIEWS_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"

_RESOURCES: dict[str, tuple[str, str, bool]] = {
    SERVICES: ("Service", "service", True),
    EVENTS: ("Event", "event", True),
    INGRESSES: ("Ingress", "ingress", True),
    INGRESS_CLASSES: ("IngressClass", "ingressclass", False),
    INGRESS_CLASS_PARAMS: ("IngressClassParams", "ingressclassparams", False),
    GATEWAYS: ("Gateway", "gateway", True),
    GATEWAY_CLASSES: ("GatewayClass", "gatewayclass", False),
    HTTP_ROUTES: ("HTTPRoute", "httproute", True),
    NAMESPACES: ("Namespace", "namespace", False),
    LB_CONFIGURATIONS: ("LoadBalancerConfiguration", "loadbalancerconfiguration", True),
    LB_CONFIGURATIONS_V1BETA1: ("LoadBalancerConfiguration", "loadbalancerconfiguration", True),
    AUTO_MODE_CLASS_PARAMS: ("IngressClassParams", "ingressclassparams", False),
    CLUSTER_ROLES: ("ClusterRole", "clusterrole", False),
    CLUSTER_ROLE_BINDINGS: ("ClusterRoleBinding", "clusterrolebinding", False),
    ROLES: ("Role", "role", True),
    ROLE_BINDINGS: ("RoleBinding", "rolebinding", True),
    DEPLOYMENTS: ("Deployment", "deployment", True),
    VALIDATING_POLICIES: ("ValidatingAdmissionPolicy", "validatingadmissionpolicy", False),
    VALIDATING_POLICY_BINDINGS: (
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybinding",
        False,
    ),
    MUTATING_POLICIES: ("MutatingAdmissionPolicy", "mutatingadmissionpolicy", False),
    MUTATING_POLICY_BINDINGS: (
        "MutatingAdmissionPolicyBinding",
        "mutatingadmissionpolicybinding",
        False,
    ),
}
_API_VERSIONS = {key: key.rsplit("/", 1)[0] for key in _RESOURCES}


def resource_for(api_version: str, kind: str) -> str:
    """The resource key of ``kind`` in ``api_version`` (as ``kubectl apply`` resolves a
    document through discovery); ``KeyError`` when the emulator does not serve it."""
    for key, (known, _, _) in _RESOURCES.items():
        if known == kind and _API_VERSIONS[key] == api_version:
            return key
    raise KeyError(f"the emulator does not serve {kind} in {api_version}")


_TOKEN = re.compile(r"Bearer k8s-aws-v1\.\S+")
_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    """Split a selector on the commas that are not inside ``in (...)`` parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _matches_labels(labels: Mapping[str, str], selector: str) -> bool:
    for requirement in _split_selector(selector):
        if match := _SET_REQUIREMENT.match(requirement):
            key, operator, values = match.groups()
            allowed = {value.strip() for value in values.split(",")}
            if (operator == "in") != (labels.get(key) in allowed):
                return False
        elif "!=" in requirement:
            key, value = (side.strip() for side in requirement.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in requirement:
            key, value = (side.strip() for side in requirement.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif requirement.startswith("!"):
            if requirement[1:].strip() in labels:
                return False
        elif requirement not in labels:
            return False
    return True


def _field(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def _matches_fields(obj: Mapping[str, Any], selector: str) -> bool:
    for requirement in _split_selector(selector):
        if "!=" in requirement:
            path, value = requirement.split("!=", 1)
            if _field(obj, path.strip()) == value.strip():
                return False
        else:
            path, value = requirement.replace("==", "=").split("=", 1)
            if _field(obj, path.strip()) != value.strip():
                return False
    return True


def _rule_admits(rule: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    def has(field: str, value: str) -> bool:
        values = rule.get(field) or []
        return value in values or "*" in values

    return (
        has("apiGroups", str(attributes.get("group", "")))
        and has("resources", str(attributes.get("resource", "")))
        and has("verbs", str(attributes.get("verb", "")))
    )


def _status_response(code: int, message: str) -> aiohttp.web.Response:
    """A Kubernetes ``Status`` failure, as the API server answers errors."""
    return aiohttp.web.json_response(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": _REASONS.get(code, "Unknown"),
            "code": code,
        },
        status=code,
    )


def _patched_fields(patch: JSON) -> tuple[list[str], set[str]]:
    """The fields a merge patch sets and the ones it removes (``null``), as dotted paths."""
    set_fields: list[str] = []
    removed: set[str] = set()
    for key, value in patch.items():
        if key == "metadata" and isinstance(value, dict):
            for part in ("annotations", "labels"):
                for name, item in (value.get(part) or {}).items():
                    path = f"f:metadata\x00f:{part}\x00f:{name}"
                    (removed.add(path) if item is None else set_fields.append(path))
        elif key not in ("apiVersion", "kind"):
            (removed.add(f"f:{key}") if value is None else set_fields.append(f"f:{key}"))
    return set_fields, removed


def _changes(meta: JSON, patch: JSON) -> bool:
    """Whether a patch changes anything tracked (an unchanged write keeps its entries' times)."""
    patched = patch.get("metadata") or {}
    for part in ("annotations", "labels"):
        now = meta.get(part) or {}
        for name, value in (patched.get(part) or {}).items():
            if now.get(name) != value:
                return True
    return any(k not in ("metadata", "apiVersion", "kind") for k in patch)


def _flatten(fields: JSON, prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, child in fields.items():
        path = f"{prefix}\x00{key}" if prefix else key
        paths.extend(_flatten(child, path) if child else [path])
    return paths


def _unflatten(paths: set[str]) -> JSON:
    tree: JSON = {}
    for path in sorted(paths):
        node = tree
        for part in path.split("\x00"):
            node = node.setdefault(part, {})
    return tree


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


HISTORY_KEPT = 64


@attrs.define(kw_only=True)
class KubeEmulator(KubernetesEmulator):
    """kmock's emulator with EKS-style token checks, selectors and server-set metadata.

    Its state is touched only on its own event loop: use `KubeServer`'s accessors from other
    threads.
    """

    request_counts: collections.Counter[tuple[str, str]] = attrs.field(
        factory=collections.Counter, init=False
    )
    _versions: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    _routing: set[int] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, (kind, singular, namespaced) in _RESOURCES.items():
            self.resources[key] = {
                "kind": kind,
                "singular": singular,
                "namespaced": namespaced,
                "verbs": ["get", "list", "watch", "create", "patch", "delete"],
                "shortnames": [],
                "categories": [],
                "subresources": [],
            }

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        # Speed, not fidelity: kmock keeps every request it served and, to route a request,
        # scans that whole history once per reaction, so thousands of requests (one emulator
        # answering for a whole sandbox organization) turn quadratic. The sandbox counts
        # requests itself (request_counts) and never reads the history: keep only the recent
        # ones, and every request still being routed (kmock looks itself up in the history).
        self._routing.add(id(request))
        if len(self._requests) > 2 * HISTORY_KEPT:
            old, recent = self._requests[:-HISTORY_KEPT], self._requests[-HISTORY_KEPT:]
            self._requests[:] = [r for r in old if id(r) in self._routing] + recent
        try:
            return await self._route(request)
        finally:
            self._routing.discard(id(request))

    async def _route(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        self.request_counts[(request.method.value, request.url.path)] += 1
        for fault in list(self.faults):
            status = fault(request.method.value, request.url.path, dict(request.headers))
            if status is not None:
                return _status_response(status, f"injected fault: HTTP {status}")
        if not self._authenticated(request):
            return _status_response(401, "Unauthorized")
        if request.method.value == "POST" and request.url.path == ACCESS_REVIEWS_PATH:
            return aiohttp.web.json_response(await self._review(request.data), status=201)
        if isinstance(request.data, dict):
            if request.action == enums.action.CREATE:
                self._stamp_new(request.data, request.namespace)
            elif request.action == enums.action.UPDATE:
                await self._manage_fields(request)
                request.data.setdefault("metadata", {})["resourceVersion"] = self._next_version()
        response: aiohttp.web.StreamResponse = await super()._handle(request)
        return response

    async def _manage_fields(self, request: rendering.Request) -> None:
        """Write the patch's ``managedFields`` into the patch itself (the module docstring)."""
        patch = request.data
        if request.resource is None or request.name is None:
            return
        if "managedFields" in (patch.get("metadata") or {}):
            return
        async with self._lock:
            key = (request.resource, request.namespace, request.name)
            if key not in self._objects or self._objects[key].deleted:
                return
            current = dict(self._objects[key].raw)
        agent = next((v for k, v in request.headers.items() if k.lower() == "user-agent"), "")
        manager = request.params.get("fieldManager") or agent.split("/")[0] or "unknown"
        set_fields, removed = _patched_fields(patch)
        meta = current.get("metadata") or {}
        if not _changes(meta, patch):
            return
        entries = []
        mine: set[str] = set(set_fields)
        for entry in meta.get("managedFields") or []:
            fields = set(_flatten(entry.get("fieldsV1") or {})) - removed - set(set_fields)
            if entry.get("manager") == manager and entry.get("operation") == "Update":
                mine |= fields
                continue
            if fields:
                entries.append({**entry, "fieldsV1": _unflatten(fields)})
        if mine:
            entries.append(
                {
                    "manager": manager,
                    "operation": "Update",
                    "apiVersion": current.get("apiVersion", "v1"),
                    "time": _now(),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": _unflatten(mine),
                }
            )
        patch.setdefault("metadata", {})["managedFields"] = entries

    async def _review(self, review: Any) -> JSON:
        spec = (review or {}).get("spec") or {}
        attributes = spec.get("resourceAttributes") or {}
        subjects = {("User", spec.get("user"))} | {("Group", g) for g in spec.get("groups") or []}
        roles = {r["metadata"]["name"]: r for r in await self.select(CLUSTER_ROLES, None)}
        allowed = False
        for binding in await self.select(CLUSTER_ROLE_BINDINGS, None):
            named = {(s.get("kind"), s.get("name")) for s in binding.get("subjects") or []}
            role = roles.get((binding.get("roleRef") or {}).get("name", ""))
            if role is None or not named & subjects:
                continue
            if any(_rule_admits(rule, attributes) for rule in role.get("rules") or []):
                allowed = True
                break
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
            "status": {"allowed": allowed},
        }

    @staticmethod
    def _authenticated(request: rendering.Request) -> bool:
        for header, value in request.headers.items():
            if header.lower() == "authorization":
                return bool(_TOKEN.fullmatch(value))
        return False

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_list(request)
        assert isinstance(payload, dict)
        labels = request.params.get("labelSelector", "")
        fields = request.params.get("fieldSelector", "")
        payload["items"] = [
            item
            for item in payload["items"]
            if _matches_labels(item.get("metadata", {}).get("labels") or {}, labels)
            and _matches_fields(item, fields)
        ]
        return payload

    def _next_version(self) -> str:
        return str(next(self._versions))

    def _stamp_new(self, obj: JSON, namespace: str | None) -> None:
        metadata = obj.setdefault("metadata", {})
        if namespace is not None:
            metadata.setdefault("namespace", namespace)
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", _now())
        metadata["resourceVersion"] = self._next_version()

    # Direct state access; call only on the emulator's loop (KubeServer does).

    async def store(self, resource: str, obj: JSON) -> JSON:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", _API_VERSIONS.get(resource, "v1").removeprefix("core/"))
        obj.setdefault("kind", _RESOURCES[resource][0] if resource in _RESOURCES else "Unknown")
        metadata = obj.setdefault("metadata", {})
        namespace = metadata.get("namespace")
        self._stamp_new(obj, namespace)
        async with self._lock:
            self.objects[resource, namespace, metadata["name"]] = obj
        return copy.deepcopy(obj)

    async def fetch(self, resource: str, namespace: str | None, name: str) -> JSON | None:
        key = (kmock_resource(resource), namespace, name)
        async with self._lock:
            if key not in self.objects:
                return None
            obj = self.objects[key]
            return None if obj.deleted else copy.deepcopy(dict(obj.raw))

    async def merge(self, resource: str, namespace: str | None, name: str, patch: JSON) -> JSON:
        patch = copy.deepcopy(patch)
        patch.setdefault("metadata", {})["resourceVersion"] = self._next_version()
        async with self._lock:
            obj = self.objects[resource, namespace, name]
            obj.patch(patch)
            return copy.deepcopy(dict(obj.raw))

    async def remove(self, resource: str, namespace: str | None, name: str) -> None:
        async with self._lock:
            self.objects[resource, namespace, name].delete()

    async def select(self, resource: str, namespace: str | None) -> list[JSON]:
        wanted = kmock_resource(resource)
        async with self._lock:
            return [
                copy.deepcopy(dict(obj.raw))
                for (res, ns, _), obj in self.objects.items()
                if res == wanted and not obj.deleted and namespace in (None, ns)
            ]

    async def forget(self) -> None:
        async with self._lock:
            self.objects.clear()
            self._requests.clear()
            self.request_counts.clear()


class KubeServerError(RuntimeError):
    """The emulator could not be started."""


class KubeServer:
    """Serves one `KubeEmulator` over HTTPS on 127.0.0.1, on an event loop in its own thread.

    ``start()`` returns once the port is bound (or raises `KubeServerError` saying why);
    ``stop()`` closes the listener, the loop and joins the thread. The accessors are safe to
    call from any thread.
    """

    def __init__(self, name: str, ssl_context: ssl.SSLContext, port: int = 0) -> None:
        self.name = name
        self._ssl_context = ssl_context
        self._requested_port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._port: int | None = None
        self._emulator: KubeEmulator | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"Kubernetes emulator {self.name!r} is not running")
        return f"https://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError(f"Kubernetes emulator {self.name!r} already started")
        self._thread = threading.Thread(
            target=self._run, name=f"kube-emulator-{self.name}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise KubeServerError(
                f"Kubernetes emulator {self.name!r} did not start within {timeout}s"
            )
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise KubeServerError(
                f"Kubernetes emulator {self.name!r} failed to start on "
                f"127.0.0.1:{self._requested_port}: {self._startup_error!r}"
            ) from self._startup_error

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = None
        self._port = None

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        runner: aiohttp.web.ServerRunner | None = None
        try:
            emulator = KubeEmulator()
            async with emulator:
                server = aiohttp.web.Server(emulator)
                runner = aiohttp.web.ServerRunner(server, handle_signals=False)
                await runner.setup()
                site = aiohttp.web.TCPSite(
                    runner, "127.0.0.1", self._requested_port, ssl_context=self._ssl_context
                )
                await site.start()
                self._port = _bound_port(site)
                self._emulator = emulator
                self._ready.set()
                await self._stopping.wait()
        except Exception as error:  # noqa: BLE001 - reported to start()'s caller
            self._startup_error = error
        finally:
            if runner is not None:
                await runner.cleanup()
            self._emulator = None
            self._ready.set()

    def _call(self, make: Callable[[KubeEmulator], Coroutine[Any, Any, T]]) -> T:
        if self._loop is None or self._emulator is None:
            raise RuntimeError(f"Kubernetes emulator {self.name!r} is not running")
        return asyncio.run_coroutine_threadsafe(make(self._emulator), self._loop).result()

    def put_object(self, resource: str, obj: JSON) -> JSON:
        """Store ``obj`` as is (seeding), with server-set metadata added; returns the copy."""
        return self._call(lambda emulator: emulator.store(resource, obj))

    def get_object(self, resource: str, namespace: str | None, name: str) -> JSON | None:
        return self._call(lambda emulator: emulator.fetch(resource, namespace, name))

    def patch_object(self, resource: str, namespace: str | None, name: str, patch: JSON) -> JSON:
        """Apply a JSON merge patch directly (``None`` deletes a key)."""
        return self._call(lambda emulator: emulator.merge(resource, namespace, name, patch))

    def delete_object(self, resource: str, namespace: str | None, name: str) -> None:
        self._call(lambda emulator: emulator.remove(resource, namespace, name))

    def list_objects(self, resource: str, namespace: str | None = None) -> list[JSON]:
        """All objects of ``resource``, in ``namespace`` or in all namespaces for ``None``."""
        return self._call(lambda emulator: emulator.select(resource, namespace))

    def requests(self) -> dict[tuple[str, str], int]:
        """Requests served so far, by ``(HTTP method, path)``, rejected ones included."""

        async def snapshot(emulator: KubeEmulator) -> dict[tuple[str, str], int]:
            return dict(emulator.request_counts)

        return self._call(snapshot)

    def reset_requests(self) -> None:
        async def reset(emulator: KubeEmulator) -> None:
            emulator.request_counts.clear()

        self._call(reset)

    def inject(self, fault: Fault) -> None:
        """Answer requests for which ``fault`` returns a status with that error, before any
        state change (see the module docstring)."""

        async def add(emulator: KubeEmulator) -> None:
            emulator.faults.append(fault)

        self._call(add)

    def clear_faults(self) -> None:
        async def clear(emulator: KubeEmulator) -> None:
            emulator.faults.clear()

        self._call(clear)

    def clear(self) -> None:
        """Forget all objects and requests."""
        self._call(lambda emulator: emulator.forget())


def _bound_port(site: aiohttp.web.TCPSite) -> int:
    """The port a started site listens on (the one the OS chose for port 0)."""
    server = site._server  # aiohttp keeps its asyncio server private
    assert isinstance(server, asyncio.Server)
    port: int = server.sockets[0].getsockname()[1]
    return port
