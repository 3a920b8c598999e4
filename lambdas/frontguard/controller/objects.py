"""Kubernetes objects as the API server returns them (plain JSON dicts), and their annotations
parsed the way the controller parses them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KubeObject = Mapping[str, Any]

# strconv.ParseBool, which the controller's annotation parser uses for every boolean
# (LBC:pkg/annotations/parser.go ParseBoolAnnotation).
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class AnnotationError(ValueError):
    """An annotation value the controller itself refuses: it fails to build the model."""


def annotations_of(obj: KubeObject) -> Mapping[str, str]:
    annotations: Mapping[str, str] = obj.get("metadata", {}).get("annotations") or {}
    return annotations


def labels_of(obj: KubeObject) -> Mapping[str, str]:
    labels: Mapping[str, str] = obj.get("metadata", {}).get("labels") or {}
    return labels


def namespace_of(obj: KubeObject) -> str:
    return str(obj.get("metadata", {}).get("namespace") or "")


def name_of(obj: KubeObject) -> str:
    return str(obj.get("metadata", {}).get("name") or "")


def object_id(obj: KubeObject) -> str:
    return f"{namespace_of(obj)}/{name_of(obj)}"


def being_deleted(obj: KubeObject) -> bool:
    """The controller drops objects with a deletion timestamp from its model
    (LBC:pkg/ingress/group_loader.go loadGroupIDIfAnyHelper; LBC:pkg/service/service_utils.go
    IsServiceSupported)."""
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def split_list(value: str | None) -> list[str]:
    """A comma-separated annotation: split on ``,``, each item trimmed, empty items dropped,
    order kept (LBC:pkg/annotations/parser.go splitCommaSeparatedString)."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_bool(key: str, value: str) -> bool:
    """A boolean annotation as Go's strconv.ParseBool reads it; anything else is the
    controller's model-build error (LBC:pkg/annotations/parser.go ParseBoolAnnotation)."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise AnnotationError(f"failed to parse bool annotation, {key}: {value}")


def bool_annotation(obj: KubeObject, key: str) -> bool | None:
    """``None`` when the annotation is absent, else its parsed value (AnnotationError)."""
    value = annotations_of(obj).get(key)
    return None if value is None else parse_bool(key, value)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions) against a label set; a nil
    selector matches everything (LBC:pkg/ingress/class_loader.go
    validateIngressClassParamsNamespaceRestriction)."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key", "")
        operator = expression.get("operator")
        values = set(expression.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
