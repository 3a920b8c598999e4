"""Security Hub as AWS runs it, on top of moto 5.2.5's partial implementation.

moto serves ``EnableSecurityHub``, ``BatchImportFindings`` and ``GetFindings`` but (measured):
``GetFindings`` ignores ``Filters``; ``BatchImportFindings`` accepts findings for an account
without Security Hub and for another account, overwrites every field of an existing finding
(``Workflow`` included) and sets no defaults; there is no ``BatchUpdateFindings`` at all.
`install` closes those gaps, each as AWS documents it:

- ``BatchImportFindings`` (https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html):
  refused with ``InvalidAccessException`` while Security Hub is not enabled; a finding whose
  ``AwsAccountId`` is not the caller's, or that lacks a required attribute, fails (counted in
  ``FailedFindings``); a new finding gets ``Workflow.Status = NEW`` and ``RecordState =
  ACTIVE``; an update never changes ``Workflow``, ``Note``, ``UserDefinedFields`` or
  ``VerificationState``.
- The workflow resets from ``NOTIFIED``/``RESOLVED`` to ``NEW`` when ``RecordState`` goes from
  ``ARCHIVED`` to ``ACTIVE`` or ``Compliance.Status`` from ``PASSED`` to ``FAILED``,
  ``WARNING`` or ``NOT_AVAILABLE`` (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_Workflow.html).
- ``GetFindings`` applies string filters (``EQUALS``/``PREFIX`` ORed within a field,
  ``NOT_EQUALS`` ANDed; fields ANDed) on the top-level attributes and on
  ``ComplianceStatus`` and ``WorkflowStatus``, and pages by ``MaxResults`` (at most 100).
- ``BatchUpdateFindings`` (``PATCH /findings/batchupdate``) sets ``Workflow.Status`` of up to
  100 findings, reporting unknown ones in ``UnprocessedFindings``.

Like every sandbox module it reads no frontguard code.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from moto.securityhub import urls as securityhub_urls
from moto.securityhub.exceptions import SecurityHubClientError
from moto.securityhub.models import Finding, SecurityHubBackend, securityhub_backends
from moto.securityhub.responses import SecurityHubResponse

REQUIRED = (
    "AwsAccountId",
    "CreatedAt",
    "Description",
    "GeneratorId",
    "Id",
    "ProductArn",
    "Resources",
    "SchemaVersion",
    "Severity",
    "Title",
    "Types",
    "UpdatedAt",
)
CUSTOMER_FIELDS = ("Workflow", "WorkflowState", "Note", "UserDefinedFields", "VerificationState")
WORKFLOW_STATUSES = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")
PAGE_LIMIT = 100

BATCH_UPDATE_PATH = "{0}/findings/batchupdate$"
_lock = threading.Lock()


def _value(finding: Mapping[str, Any], field: str) -> str | None:
    if field == "ComplianceStatus":
        return (finding.get("Compliance") or {}).get("Status")
    if field == "WorkflowStatus":
        return (finding.get("Workflow") or {}).get("Status")
    value = finding.get(field)
    return value if isinstance(value, str) else None


def _matches(finding: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    for field, conditions in (filters or {}).items():
        value = _value(finding, field)
        positive = [c for c in conditions if c.get("Comparison") in ("EQUALS", "PREFIX")]
        negative = [c for c in conditions if c.get("Comparison") in ("NOT_EQUALS",)]
        if positive and not any(
            value is not None
            and (
                value == c["Value"] if c["Comparison"] == "EQUALS" else value.startswith(c["Value"])
            )
            for c in positive
        ):
            return False
        if any(value == c["Value"] for c in negative):
            return False
    return True


def _backend(response: SecurityHubResponse) -> SecurityHubBackend:
    return securityhub_backends[response.current_account][response.region]


def _not_enabled() -> SecurityHubClientError:
    return SecurityHubClientError(
        "InvalidAccessException", "Account is not subscribed to AWS Security Hub"
    )


def _get_findings(self: SecurityHubResponse) -> str:
    backend = _backend(self)
    if not backend.enabled:
        raise _not_enabled()
    filters = self._get_param("Filters") or {}
    size = int(self._get_param("MaxResults") or PAGE_LIMIT)
    if not 1 <= size <= PAGE_LIMIT:
        raise SecurityHubClientError(
            "InvalidInputException", "MaxResults must be a number between 1 and 100"
        )
    start = int(self._get_param("NextToken") or 0)
    found = [f.as_dict() for f in backend.findings if _matches(f.as_dict(), filters)]
    page = found[start : start + size]
    body: dict[str, Any] = {"Findings": page}
    if start + size < len(found):
        body["NextToken"] = str(start + size)
    return json.dumps(body)


def _failure(finding: Mapping[str, Any], code: str, message: str) -> dict[str, str]:
    return {"Id": str(finding.get("Id", "")), "ErrorCode": code, "ErrorMessage": message}


def _batch_import_findings(self: SecurityHubResponse) -> str:
    backend = _backend(self)
    if not backend.enabled:
        raise _not_enabled()
    body = json.loads(self.body or "{}")
    failed: list[dict[str, str]] = []
    succeeded = 0
    by_id = {f.id: f for f in backend.findings}
    for data in body.get("Findings", []):
        missing = [key for key in REQUIRED if key not in data]
        if missing:
            failed.append(_failure(data, "InvalidInput", f"missing {', '.join(missing)}"))
            continue
        if data["AwsAccountId"] != backend.account_id:
            failed.append(
                _failure(data, "AccessDeniedException", "AwsAccountId is not the caller's account")
            )
            continue
        if not data["Resources"]:
            failed.append(_failure(data, "InvalidInput", "at least one resource is required"))
            continue
        incoming = {k: v for k, v in data.items() if k not in CUSTOMER_FIELDS}
        existing = by_id.get(data["Id"])
        if existing is None:
            record = {"RecordState": "ACTIVE", **incoming, "Workflow": {"Status": "NEW"}}
            record["WorkflowState"] = "NEW"
            finding = Finding(data["Id"], record)
            backend.findings.append(finding)
            by_id[finding.id] = finding
        else:
            old = existing.data
            before_record = old.get("RecordState")
            before_compliance = (old.get("Compliance") or {}).get("Status")
            old.update(incoming)
            workflow = (old.get("Workflow") or {}).get("Status")
            reopened = (before_record == "ARCHIVED" and old.get("RecordState") == "ACTIVE") or (
                before_compliance == "PASSED"
                and (old.get("Compliance") or {}).get("Status")
                in ("FAILED", "WARNING", "NOT_AVAILABLE")
            )
            if reopened and workflow in ("NOTIFIED", "RESOLVED"):
                old["Workflow"] = {"Status": "NEW"}
        succeeded += 1
    return json.dumps(
        {"FailedCount": len(failed), "SuccessCount": succeeded, "FailedFindings": failed}
    )


def _batch_update_findings(self: SecurityHubResponse) -> str:
    backend = _backend(self)
    if not backend.enabled:
        raise _not_enabled()
    body = json.loads(self.body or "{}")
    identifiers = body.get("FindingIdentifiers") or []
    if not 1 <= len(identifiers) <= PAGE_LIMIT:
        raise SecurityHubClientError(
            "InvalidInputException", "FindingIdentifiers must hold 1 to 100 findings"
        )
    status = (body.get("Workflow") or {}).get("Status")
    if status is not None and status not in WORKFLOW_STATUSES:
        raise SecurityHubClientError("InvalidInputException", f"bad Workflow.Status {status}")
    by_id = {f.id: f for f in backend.findings}
    processed, unprocessed = [], []
    for identifier in identifiers:
        finding = by_id.get(identifier.get("Id"))
        if finding is None or finding.data.get("ProductArn") != identifier.get("ProductArn"):
            unprocessed.append(
                {
                    "FindingIdentifier": identifier,
                    "ErrorCode": "FindingNotFound",
                    "ErrorMessage": "finding not found",
                }
            )
            continue
        if status is not None:
            finding.data["Workflow"] = {"Status": status}
        processed.append(identifier)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


_RESPONSES: dict[str, Callable[[SecurityHubResponse], str]] = {
    "get_findings": _get_findings,
    "batch_import_findings": _batch_import_findings,
    "batch_update_findings": _batch_update_findings,
}


def install() -> None:
    """Patch moto's Security Hub responses (once per process, before the server starts)."""
    with _lock:
        if BATCH_UPDATE_PATH in securityhub_urls.url_paths:
            return
        for name, method in _RESPONSES.items():
            setattr(SecurityHubResponse, name, functools.wraps(method)(method))
        securityhub_urls.url_paths[BATCH_UPDATE_PATH] = SecurityHubResponse.dispatch


def findings(account: str, region: str) -> list[dict[str, Any]]:
    """Every finding Security Hub holds for ``account`` in ``region`` (archived too)."""
    return [f.as_dict() for f in securityhub_backends[account][region].findings]
