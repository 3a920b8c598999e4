"""A small, strict reading of IAM policy evaluation, for asserting what a synthesized resource
policy or the documented SCP decides for one request.

It follows the IAM reference, not frontguard's code:
- an explicit Deny wins; otherwise an Allow in the resource policy, or (same account, IAM
  principal) the principal's identity policy, which these tests assume grants everything;
  a service principal has no identity policy: only the resource policy can allow it
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html);
- condition operators: the String*/Arn*/Bool families, ``...IfExists``, ``Null``, and the
  ``ForAnyValue:``/``ForAllValues:`` set operators; a negated operator is true when the key is
  absent, a positive one false unless ``IfExists``
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html);
- ``Arn*`` operators match each of the six colon-separated parts on its own.
Keys are case-insensitive, values case-sensitive. Values CDK leaves unresolved (``Ref``,
``Fn::GetAtt``) compare by equality, so a test passes the same token as the request's value.
Resources are matched (``ArnLike``) only when the request names one; otherwise the caller
hands in the statements of the one resource in question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

Value = Any  # a string, or an unresolved CloudFormation token (dict)


@dataclass(frozen=True)
class Request:
    action: str
    # An IAM principal's ARN (a role's ARN for its sessions), or None for a service principal.
    principal_arn: str | None = None
    service: str | None = None  # e.g. "events.amazonaws.com"
    same_account: bool = True
    # Matched against the statement's Resource when given (an SCP's statements name several).
    resource: str | None = None
    context: Mapping[str, Value | Sequence[Value]] = field(default_factory=dict)

    def keys(self) -> dict[str, Value | Sequence[Value]]:
        keys: dict[str, Value | Sequence[Value]] = {"aws:securetransport": "true"}
        if self.principal_arn is not None:
            keys["aws:principalarn"] = self.principal_arn
            keys["aws:principalisawsservice"] = "false"
        else:
            keys["aws:principalisawsservice"] = "true"
        keys.update({k.lower(): v for k, v in self.context.items()})
        return keys


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _arn_like(value: Value, pattern: Value) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return bool(value == pattern)
    parts, patterns = value.split(":", 5), pattern.split(":", 5)
    return len(parts) == len(patterns) == 6 and all(
        fnmatchcase(p, q) for p, q in zip(parts, patterns, strict=True)
    )


def _like(value: Value, pattern: Value) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return bool(value == pattern)
    return fnmatchcase(value, pattern)


def _equals(value: Value, pattern: Value) -> bool:
    return bool(value == pattern)


_BASE = {
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_equals, False),
}


def _condition(operator: str, key: str, patterns: Any, keys: Mapping[str, Any]) -> bool:
    present = key.lower() in keys
    value = keys.get(key.lower())
    if operator == "Null":
        return (not present) == (str(patterns).lower() == "true")
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name not in _BASE:
        raise AssertionError(f"operator {operator} is not understood by this evaluator")
    match, negated = _BASE[name]
    wanted = _as_list(patterns)
    if not present:
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True
        return negated and qualifier != "ForAnyValue"
    values = _as_list(value)
    if qualifier == "ForAnyValue":
        hits = [any(match(v, p) for p in wanted) for v in values]
        return any(not h for h in hits) if negated else any(hits)
    if qualifier == "ForAllValues":
        hits = [any(match(v, p) for p in wanted) for v in values]
        return all(not h for h in hits) if negated else all(hits)
    assert len(values) == 1, f"{key} is multivalued: use ForAnyValue/ForAllValues"
    hit = any(match(values[0], p) for p in wanted)
    return not hit if negated else hit


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal is None or principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if request.service is not None:
        return request.service in _as_list(principal.get("Service", []))
    aws = _as_list(principal.get("AWS", []))
    return "*" in aws or request.principal_arn in aws


def _action_matches(actions: Any, action: str) -> bool:
    return any(fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(actions))


def applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether ``statement`` (of the resource in question) applies to ``request``."""
    if "NotAction" in statement or "NotPrincipal" in statement:
        raise AssertionError("NotAction/NotPrincipal are not used by frontguard's policies")
    if not _action_matches(statement["Action"], request.action):
        return False
    if "Principal" in statement and not _principal_matches(statement["Principal"], request):
        return False
    if request.resource is not None and not any(
        r == "*" or _arn_like(request.resource, r) for r in _as_list(statement["Resource"])
    ):
        return False
    keys = request.keys()
    return all(
        _condition(operator, key, patterns, keys)
        for operator, by_key in statement.get("Condition", {}).items()
        for key, patterns in by_key.items()
    )


def denies(statements: Sequence[Mapping[str, Any]], request: Request) -> bool:
    return any(s["Effect"] == "Deny" and applies(s, request) for s in statements)


def allowed(statements: Sequence[Mapping[str, Any]], request: Request) -> bool:
    """The resource policy's decision for ``request``, with an identity policy that grants
    everything to a same-account IAM principal (the worst case)."""
    if denies(statements, request):
        return False
    if any(s["Effect"] == "Allow" and applies(s, request) for s in statements):
        return True
    return request.principal_arn is not None and request.same_account
