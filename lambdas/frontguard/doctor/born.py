"""Born-protected clusters: are the objects `frontguard render born-protected` prints for the
cluster present, as rendered, and naming only prefix lists frontguard owns? (issue 17;
docs/born-protected.md, "Checking it: frontguard doctor").

The expected objects are handed in (:class:`Expected`): the command line renders them with
``frontguard.render.born_protected``, exactly what ``render`` prints. The doctor never imports
the rendering itself, which plans from the engine's prefix lists (.importlinter,
``doctor-checks-deployments``). Objects are compared generically by (API group, kind,
namespace, name), so objects the rendering gains later are checked without changes here.

Drift is a *subset* comparison: only the paths the rendered object sets are compared, because
the live object also carries what the API server adds (``status``, ``metadata.managedFields``,
``uid``, defaulted spec fields such as a policy's ``matchPolicy``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from frontguard.adapters.kube import KubeClient
from frontguard.doctor.report import Check, failed, passed
from frontguard.errors import FrontguardError, NotFoundError
from frontguard.policy import Policy

JSON = dict[str, Any]

# Fields whose value is the operator's choice, with the values accepted. A binding's
# validationActions: Warn during the roll-out, Deny after it (`render --deny`); Audit may be
# added to either (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/#validation-actions).
OPERATOR_CHOICES: Final[Mapping[tuple[str, str], Mapping[tuple[str, ...], tuple[str, ...]]]] = {
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): {
        ("spec", "validationActions"): ("Warn", "Deny"),
    },
}


@dataclass(frozen=True)
class Expected:
    """What a born-protected cluster should hold."""

    objects: Sequence[JSON]  # what `frontguard render born-protected --cluster NAME` prints
    owned_prefix_lists: frozenset[str]  # IDs of the prefix lists frontguard owns
    # (API group, kind) → the spec field naming prefix lists
    # (frontguard.controller.class_fields.PREFIX_LIST_FIELDS).
    prefix_list_fields: Mapping[tuple[str, str], str] = field(default_factory=dict)


# --- the subset comparison (pure) ------------------------------------------------------------


def _path(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(object)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def differences(rendered: Any, live: Any, at: Sequence[str | int] = ()) -> list[str]:
    """Each path the rendered value sets whose live value differs, with both values.

    Mappings: only the rendered keys are compared (the live side may hold more). Lists of
    mappings of the same length: item by item, with the same subset rule (the API server
    defaults fields inside items too, e.g. a resource rule's ``scope``); lists of other
    lengths, or of scalars: as a whole. Scalars: equal.
    """
    if isinstance(rendered, Mapping):
        if not isinstance(live, Mapping):
            return [f"{_path(at)}: {_short(live)}, rendered a mapping"]
        found: list[str] = []
        for key, value in rendered.items():
            if key not in live:
                found.append(f"{_path([*at, key])}: absent, rendered {_short(value)}")
            else:
                found += differences(value, live[key], [*at, key])
        return found
    if isinstance(rendered, list):
        if not isinstance(live, list):
            return [f"{_path(at)}: {_short(live)}, rendered a list"]
        if len(rendered) == len(live) and all(isinstance(item, Mapping) for item in rendered):
            found = []
            for index, (mine, theirs) in enumerate(zip(rendered, live, strict=True)):
                found += differences(mine, theirs, [*at, index])
            return found
        if len(rendered) != len(live) and all(isinstance(i, Mapping) for i in rendered):
            unmatched = [
                i for i, mine in enumerate(rendered) if all(differences(mine, t) for t in live)
            ]
            missing = f"; rendered items {unmatched} are not there" if unmatched else ""
            return [f"{_path(at)}: {len(live)} items, rendered {len(rendered)}{missing}"]
        if rendered != live:
            return [f"{_path(at)}: {_short(live)}, rendered {_short(rendered)}"]
        return []
    if rendered != live:
        return [f"{_path(at)}: {_short(live)}, rendered {_short(rendered)}"]
    return []


def _get(obj: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = obj
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def accept_choices(rendered: JSON, live: Mapping[str, Any]) -> tuple[JSON, list[str]]:
    """``rendered`` with each operator choice replaced by the live value when that value is
    acceptable, and a note per choice (``validationActions ['Deny']``)."""
    choices = OPERATOR_CHOICES.get((group_of(rendered), rendered.get("kind", "")), {})
    if not choices:
        return rendered, []
    adjusted = copy.deepcopy(rendered)
    notes = []
    for path, accepted in choices.items():
        value = _get(live, path)
        if isinstance(value, list) and any(v in accepted for v in value):
            parent = _get(adjusted, path[:-1])
            if isinstance(parent, dict):
                parent[path[-1]] = value
                notes.append(f"{path[-1]} {value}")
    return adjusted, notes


def group_of(obj: Mapping[str, Any]) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rpartition("/")[0]  # "" for the core group ("v1")


def describe(obj: Mapping[str, Any]) -> str:
    """``Kind/name`` or ``Kind/namespace/name``."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return "/".join([str(obj.get("kind")), *([namespace] if namespace else []), metadata["name"]])


# --- reading the cluster ---------------------------------------------------------------------


class Resources:
    """Where each (apiVersion, kind) lives, from the API server's discovery documents
    (``/api/v1``, ``/apis/<group>/<version>``), one request per group version: generic, and
    it tells a kind the cluster does not serve (a CRD not installed, a Kubernetes too old)
    from a missing object.
    https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api"""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._served: dict[str, dict[str, tuple[str, bool]] | None] = {}

    def url(self, obj: Mapping[str, Any]) -> str | None:
        """The object's URL, or ``None`` when the cluster does not serve its kind."""
        api_version = str(obj["apiVersion"])
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        if api_version not in self._served:
            try:
                listed = self._kube.call("GET", base).get("resources", [])
            except NotFoundError:
                self._served[api_version] = None
            else:
                self._served[api_version] = {
                    r["kind"]: (r["name"], bool(r.get("namespaced")))
                    for r in listed
                    if "/" not in r.get("name", "")  # subresources (status, scale)
                }
        served = self._served[api_version]
        if served is None or obj["kind"] not in served:
            return None
        plural, namespaced = served[obj["kind"]]
        metadata = obj["metadata"]
        scope = f"/namespaces/{quote(metadata['namespace'])}" if namespaced else ""
        return f"{base}{scope}/{plural}/{quote(metadata['name'])}"


def check_born_protected(
    connect: Callable[[str], KubeClient],
    expect: Callable[[Policy, str], Expected],
    policy: Policy,
    cluster: str,
) -> list[Check]:
    """One check per rendered object (present, not drifted) and one per object that names
    prefix lists (only frontguard's). Nothing for a cluster the policy does not opt in."""
    if not policy.born_protected_cluster(cluster):
        return []
    area = f"cluster {cluster}"
    apply = (
        f"`frontguard render born-protected --cluster {cluster} --policy <the deployed "
        "policy>` and apply it with your GitOps (`... | kubectl apply -f -`); frontguard "
        "never writes these objects"
    )
    try:
        expected = expect(policy, cluster)
        kube = connect(cluster)
    except FrontguardError as error:
        return [failed(area, "born-protected", str(error), apply)]
    resources = Resources(kube)
    checks: list[Check] = []
    for rendered in expected.objects:
        label = f"born-protected {describe(rendered)}"
        try:
            url = resources.url(rendered)
            live = kube.call("GET", url) if url else None
        except NotFoundError:
            live = None
        except FrontguardError as error:
            checks.append(failed(area, label, f"cannot read it: {error}", apply))
            continue
        if live is None:
            served = "" if url else f" (the cluster does not serve {rendered['apiVersion']})"
            checks.append(failed(area, label, f"missing{served}", apply))
            continue
        wanted, notes = accept_choices(rendered, live)
        drift = differences(wanted, live)
        if drift:
            checks.append(
                failed(area, label, "drifted from the rendered object: " + "; ".join(drift), apply)
            )
        else:
            checks.append(passed(area, label, "; ".join(["present, as rendered", *notes])))
        checks += _prefix_lists(area, label, rendered, live, expected)
    return checks


def _prefix_lists(
    area: str, label: str, rendered: JSON, live: Mapping[str, Any], expected: Expected
) -> list[Check]:
    """The prefix lists the live object names: frontguard's own, or ones the policy itself
    names (the rendered object names those too). Any other list is not kept equal to the
    policy, and every load balancer of the class would admit what it holds."""
    name = expected.prefix_list_fields.get((group_of(rendered), str(rendered.get("kind"))))
    if name is None:
        return []
    named = _get(live, ("spec", name)) or []
    allowed = expected.owned_prefix_lists | set(_get(rendered, ("spec", name)) or [])
    unknown = sorted(str(i) for i in named if i not in allowed)
    label = label.replace("born-protected", "born-protected prefix lists", 1)
    if unknown:
        return [
            failed(
                area,
                label,
                f"spec.{name} names {', '.join(unknown)}, not a list frontguard owns: it is not "
                "kept equal to the policy",
                "point it back at frontguard's lists: re-apply the rendered objects with your "
                "GitOps",
            )
        ]
    return [passed(area, label, f"spec.{name}: only frontguard's lists ({len(named)})")]
