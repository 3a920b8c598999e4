"""Services born at policy width: the MutatingAdmissionPolicy of `frontguard render
born-protected` (Kubernetes ≥ 1.36), for a platform team to apply with its own GitOps.

Services have no class-level knob (``loadBalancerClass`` takes no parameters,
LBC:pkg/service/model_build_managed_sg.go), so the policy writes the prefix-list annotation
``service.beta.kubernetes.io/aws-load-balancer-security-group-prefix-lists`` (a
comma-separated list, LBC:pkg/annotations/parser.go ParseStringSliceAnnotation). With prefix
lists and no CIDR sources the controller's managed SG drops its 0.0.0.0/0 default
(LBC:pkg/service/model_build_managed_sg.go buildCIDRsFromSourceRanges).

What it matches: Services of type LoadBalancer whose ``loadBalancerClass`` is the controller's
or absent (the controller's own Service webhook, on by default, sets its class on new
Services: LBC:webhooks/core/service_mutator.go; admission policies run before webhooks,
KEP-3962 "Reinvocation"), and only when the owner chose no sources: no
``spec.loadBalancerSourceRanges``, no source-ranges, prefix-list or security-groups
annotation. Services the policy exempts (``exempt_namespaces``, ``exemptions`` of kind
``service``) are left alone.

Which lists: the policy's first matching rule, as :func:`frontguard.render._rules_for` sees
it for the cluster, compiled into one CEL conditional (``variables.prefixLists``) in rule
order, on the request's namespace (exact names, globs as anchored RE2) and the Service's
scheme (controller.service.SCHEME_ANNOTATION). One policy, because the first match wins: several
policies with overlapping namespace selectors run in no defined order (KEP-3962), and a
selector cannot express the scheme. No params object: the list IDs stay the same when the
policy's entries change (one ModifyManagedPrefixList), so there is nothing to keep in sync.

The mutation is a JSONPatch (``patchType: JSONPatch``): ``add`` the annotation (or the whole
annotations map when there is none).

API: admissionregistration.k8s.io/v1, GA in Kubernetes 1.36 (KEP-3962 kep.yaml ``stable:
v1.36``; https://kubernetes.io/docs/reference/access-authn-authz/mutating-admission-policy/);
EKS supports GA APIs only, and offers 1.36
(https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from frontguard import tags as t
from frontguard.controller import service as svc
from frontguard.errors import ConfigurationError
from frontguard.policy import Policy, is_glob

if TYPE_CHECKING:
    from frontguard.render import RuleView

JSON = dict[str, Any]
MAP_MIN_VERSION = (1, 36)
MAP_API = "admissionregistration.k8s.io/v1"
MUTATING_POLICY_NAME = "frontguard-born-protected-services"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)$")
_PLAIN = re.compile(r"[A-Za-z0-9_-]")


def parse_kubernetes_version(text: str) -> tuple[int, int]:
    """``"1.36"`` → ``(1, 36)``: the form of EKS DescribeCluster's ``version``."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise ConfigurationError(f"Kubernetes version {text!r} is not of the form X.Y (e.g. 1.36)")
    return int(match.group(1)), int(match.group(2))


def mutating_policy_supported(version: tuple[int, int]) -> bool:
    return version >= MAP_MIN_VERSION


def version_note(version: tuple[int, int], source: str) -> str:
    """One comment line for the rendered output: whether the Service policy is in it, and why."""
    shown = f"Kubernetes {version[0]}.{version[1]} ({source})"
    if mutating_policy_supported(version):
        return (
            f"{shown}: includes the MutatingAdmissionPolicy that gives Services without "
            "sources frontguard's prefix lists (admissionregistration.k8s.io/v1, GA in 1.36)"
        )
    return (
        f"{shown}: no MutatingAdmissionPolicy (admissionregistration.k8s.io/v1 needs 1.36); "
        "Services rely on the ValidatingAdmissionPolicy (Warn/Deny) and frontguard's "
        "post-hoc remediation"
    )


def _cel_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(char: str) -> str:
    """One glob character as RE2 (and Python re) reads it: letters, digits, ``_`` and ``-``
    as themselves, other ASCII as ``\\xHH`` (no regex metacharacter survives)."""
    if _PLAIN.fullmatch(char) or ord(char) > 0x7F:
        return char
    return f"\\x{ord(char):02x}"


def glob_regex(glob: str) -> str:
    """An fnmatch glob (how the policy matches namespaces) as an anchored RE2 pattern."""
    out = ["^"]
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            j = i + 1 if i < n and glob[i] == "!" else i
            j = j + 1 if j < n and glob[j] == "]" else j
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append(_literal("["))
                continue
            body = glob[i:j]
            i = j + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            inner = "".join(c if c == "-" else _literal(c) for c in body)
            out.append(f"[{'^' if negate else ''}{inner}]")
        else:
            out.append(_literal(char))
    out.append("$")
    return "".join(out)


def namespace_condition(glob: str) -> str:
    if glob == "*":
        return "true"
    if is_glob(glob):
        return f"request.namespace.matches({_cel_string(glob_regex(glob))})"
    return f"request.namespace == {_cel_string(glob)}"


def _and(*parts: str) -> str:
    kept = [p for p in parts if p != "true"]
    return " && ".join(kept) if kept else "true"


def prefix_lists_expression(views: Sequence[RuleView]) -> str:
    """First matching rule wins: ``cond0 ? 'lists0' : (cond1 ? 'lists1' : ... '')``. A rule
    without lists (SG sources only) yields ``''``: no mutation."""
    expression = "''"
    for view in reversed([v for v in views if v.kind in ("service", "*")]):
        scheme = "true" if view.scheme == "*" else f"variables.scheme == {_cel_string(view.scheme)}"
        condition = _and(namespace_condition(view.namespace), scheme)
        value = _cel_string(",".join(view.prefix_lists))
        expression = value if condition == "true" else f"{condition} ? {value} : ({expression})"
    return expression


def _annotation_present(key: str) -> str:
    return f"has(object.metadata.annotations) && {_cel_string(key)} in object.metadata.annotations"


SCHEME_EXPRESSION = (
    f"({_annotation_present(svc.SCHEME_ANNOTATION)}) ? "
    f"object.metadata.annotations[{_cel_string(svc.SCHEME_ANNOTATION)}] : "
    f"(({_annotation_present(svc.LEGACY_INTERNAL_ANNOTATION)}) ? "
    f"(object.metadata.annotations[{_cel_string(svc.LEGACY_INTERNAL_ANNOTATION)}] in "
    f"[{', '.join(_cel_string(v) for v in svc.PARSE_BOOL_FALSE)}] ? 'internet-facing' : "
    f"'internal') : {_cel_string(svc.DEFAULT_SCHEME)})"
)


def _exempt_expression(policy: Policy, cluster: str, today: date) -> str | None:
    parts = []
    if policy.exempt_namespaces:
        names = ", ".join(_cel_string(n) for n in sorted(policy.exempt_namespaces))
        parts.append(f"request.namespace in [{names}]")
    for entry in policy.exemptions:
        if (
            entry.kind == "service"
            and fnmatchcase(cluster, entry.cluster)
            and entry.expires >= today
        ):
            name = f"request.name == {_cel_string(entry.name)}"
            parts.append(f"({_and(namespace_condition(entry.namespace), name)})")
    return " || ".join(parts) if parts else None


def _patch_path(key: str) -> str:
    """RFC 6901: ``~`` → ``~0``, ``/`` → ``~1`` (what CEL's jsonpatch.escapeKey does)."""
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


MUTATION_EXPRESSION = (
    "variables.prefixLists == '' ? [] : (has(object.metadata.annotations) ? "
    f"[JSONPatch{{op: 'add', path: {_cel_string(_patch_path(t.SERVICE_PREFIX_LISTS))}, "
    "value: variables.prefixLists}] : "
    "[JSONPatch{op: 'add', path: '/metadata/annotations', "
    f"value: {{{_cel_string(t.SERVICE_PREFIX_LISTS)}: variables.prefixLists}}}}])"
)


def service_objects(
    views: Sequence[RuleView], policy: Policy, cluster: str, *, today: date | None = None
) -> list[JSON]:
    """The MutatingAdmissionPolicy and its binding; none when no rule for Services has lists."""
    lists = prefix_lists_expression(views)
    if not any(v.prefix_lists for v in views if v.kind in ("service", "*")):
        return []
    flags = policy.controller_flags(cluster)
    owner_keys = ", ".join(_cel_string(k) for k in svc.OWNER_SOURCE_ANNOTATIONS)
    conditions = [
        {
            "name": "controller-load-balancer-service",
            "expression": "has(object.spec.type) && object.spec.type == 'LoadBalancer' && "
            "(!has(object.spec.loadBalancerClass) || object.spec.loadBalancerClass == "
            f"{_cel_string(flags.load_balancer_class)})",
        },
        {
            "name": "owner-set-no-sources",
            "expression": "(!has(object.spec.loadBalancerSourceRanges) || "
            "size(object.spec.loadBalancerSourceRanges) == 0) && "
            f"!(has(object.metadata.annotations) && [{owner_keys}].exists(k, k in "
            "object.metadata.annotations))",
        },
    ]
    exempt = _exempt_expression(policy, cluster, today or datetime.now(UTC).date())
    if exempt is not None:
        conditions.append({"name": "not-exempt-by-policy", "expression": f"!({exempt})"})
    mutating_policy: JSON = {
        "apiVersion": MAP_API,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": MUTATING_POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "IfNeeded",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["services"],
                    }
                ]
            },
            "matchConditions": conditions,
            "variables": [
                {"name": "scheme", "expression": SCHEME_EXPRESSION},
                {"name": "prefixLists", "expression": lists},
            ],
            "mutations": [
                {"patchType": "JSONPatch", "jsonPatch": {"expression": MUTATION_EXPRESSION}}
            ],
        },
    }
    binding: JSON = {
        "apiVersion": MAP_API,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": MUTATING_POLICY_NAME},
        "spec": {"policyName": MUTATING_POLICY_NAME},
    }
    return [mutating_policy, binding]
