"""The rendered admission policies run on a sample object, as the API server would run them,
with cel-python (no admission runs in the sandbox's Kubernetes emulator).

cel-python 0.5.0 has neither Kubernetes' CIDR library nor cel-go's string extensions, so the
functions the rendered CEL calls are registered here, an independent implementation with
Python's ``ipaddress`` following the documented semantics
(https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-cidr-library;
k8s.io/apiserver pkg/cel/library/cidr.go, which parses with Go's netip.ParsePrefix):
``isCIDR(s)`` — an IPv4 or IPv6 prefix ``address/length``, no zone, no IPv4-mapped IPv6, no
leading zeros in IPv4 octets; ``cidr(s)`` — the prefix, an error when ``s`` is none;
``c.containsCIDR(other)`` — ``other`` (string or cidr) is of the same family, at least as long,
and its address lies in ``c``; ``split`` / ``trim`` as cel-go's ext.Strings.

Evaluated: every matchCondition, the variables in order, and each JSONPatch mutation
expression; ``JSONPatch{...}`` is bound to a plain message constructor (cel-python has no
Kubernetes type provider), and the operations it yields are applied with the ``jsonpatch``
library (RFC 6902). Not evaluated: ``matchConstraints``, the API server's compile-time type
check, and reinvocation order against webhooks.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import celpy
import jsonpatch
from celpy import celtypes
from celpy.adapter import CELJSONEncoder, json_to_cel

ENV = celpy.Environment(annotations={"JSONPatch": celtypes.MessageType})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CIDR(celtypes.StringType):
    """A value of CEL's ``net.CIDR`` type (a string underneath, for cel-python)."""


def _network(text: str) -> Network | None:
    address, slash, length = text.partition("/")
    if not slash or "%" in address or not length.isdigit():
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        return None
    return network


def _is_cidr(text: celtypes.StringType) -> celtypes.BoolType:
    return celtypes.BoolType(_network(str(text)) is not None)


def _cidr(text: celtypes.StringType) -> CIDR:
    if _network(str(text)) is None:
        raise ValueError(f"network address parse error during conversion from string: {text}")
    return CIDR(str(text))


def _contains_cidr(outer: CIDR, inner: celtypes.StringType) -> celtypes.BoolType:
    big, small = _network(str(outer)), _network(str(inner))
    if big is None or small is None:
        raise ValueError(f"not a CIDR: {inner}")
    if big.version != small.version:
        return celtypes.BoolType(False)
    return celtypes.BoolType(small.subnet_of(big))  # type: ignore[arg-type]


def _split(text: celtypes.StringType, separator: celtypes.StringType) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(p) for p in str(text).split(str(separator))])


def _trim(text: celtypes.StringType) -> celtypes.StringType:
    return celtypes.StringType(str(text).strip())


FUNCTIONS: dict[str, Any] = {
    "isCIDR": _is_cidr,
    "cidr": _cidr,
    "containsCIDR": _contains_cidr,
    "split": _split,
    "trim": _trim,
}


def evaluate(expression: str, activation: dict[str, Any]) -> Any:
    return ENV.program(ENV.compile(expression), functions=FUNCTIONS).evaluate(activation)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=CELJSONEncoder))


def admit(
    policy: dict[str, Any], obj: dict[str, Any], operation: str = "CREATE"
) -> dict[str, Any] | None:
    """``obj`` after the MutatingAdmissionPolicy ``policy``; ``None`` when a matchCondition
    skips it. matchConditions cannot see variables, so they get none."""
    spec = policy["spec"]
    request = {
        "namespace": obj["metadata"].get("namespace", ""),
        "name": obj["metadata"].get("name", ""),
        "operation": operation,
        "kind": {"group": "", "version": "v1", "kind": obj["kind"]},
        "userInfo": {"username": "dev", "groups": ["devs"]},
    }
    activation = {"object": json_to_cel(obj), "request": json_to_cel(request)}
    if not all(bool(evaluate(c["expression"], activation)) for c in spec["matchConditions"]):
        return None
    variables: dict[str, Any] = {}
    for variable in spec.get("variables", []):
        scope = {**activation, "variables": json_to_cel(variables)}
        variables[variable["name"]] = _plain(evaluate(variable["expression"], scope))
    scope = {**activation, "variables": json_to_cel(variables)}
    mutated = copy.deepcopy(obj)
    for mutation in spec["mutations"]:
        assert mutation["patchType"] == "JSONPatch"
        operations = _plain(evaluate(mutation["jsonPatch"]["expression"], scope))
        mutated = jsonpatch.apply_patch(mutated, operations)
    return mutated


def refusals(
    policy: dict[str, Any], obj: dict[str, Any], groups: tuple[str, ...] = ("devs",)
) -> list[str]:
    """The messages of the ValidatingAdmissionPolicy ``policy``'s failed validations for
    ``obj`` (none when a matchCondition skips it): matchConditions, variables in order, then
    every validation."""
    spec = policy["spec"]
    request = {
        "namespace": obj["metadata"].get("namespace", ""),
        "name": obj["metadata"].get("name", ""),
        "kind": {"kind": obj["kind"]},
        "userInfo": {"groups": list(groups)},
    }
    activation = {"object": json_to_cel(obj), "request": json_to_cel(request)}
    if not all(bool(evaluate(c["expression"], activation)) for c in spec["matchConditions"]):
        return []
    variables: dict[str, Any] = {}
    for variable in spec.get("variables", []):
        scope = {**activation, "variables": json_to_cel(variables)}
        variables[variable["name"]] = _plain(evaluate(variable["expression"], scope))
    scope = {**activation, "variables": json_to_cel(variables)}
    return [v["message"] for v in spec["validations"] if not bool(evaluate(v["expression"], scope))]
