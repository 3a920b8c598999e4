"""The rendered MutatingAdmissionPolicy run on a sample object, as the API server would run it,
with cel-python (no admission runs in the sandbox's Kubernetes emulator).

Evaluated: every matchCondition, the variables in order, and each JSONPatch mutation
expression; ``JSONPatch{...}`` is bound to a plain message constructor (cel-python has no
Kubernetes type provider), and the operations it yields are applied with the ``jsonpatch``
library (RFC 6902). Not evaluated: ``matchConstraints``, the API server's compile-time type
check, and reinvocation order against webhooks.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import celpy
import jsonpatch
from celpy import celtypes
from celpy.adapter import CELJSONEncoder, json_to_cel

ENV = celpy.Environment(annotations={"JSONPatch": celtypes.MessageType})


def evaluate(expression: str, activation: dict[str, Any]) -> Any:
    return ENV.program(ENV.compile(expression)).evaluate(activation)


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
