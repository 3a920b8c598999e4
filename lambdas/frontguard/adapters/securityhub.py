"""Findings in AWS Security Hub: one ASFF finding per load balancer and check.

Security teams already look at Security Hub, and it already aggregates across accounts
(delegated administrator) and regions (cross-region aggregation), so frontguard writes its
findings there instead of building its own fleet view. Off unless ``FRONTGUARD_SECURITY_HUB``
is set (the deployment switch ``security_hub``).

The life of a finding (``Id`` = ``<LB ARN>/frontguard/<check>``, stable across runs):

- an open outcome (audit finding, verification failed, needs recreation, GitOps pending,
  conflict) imports it ``ACTIVE`` with ``Compliance.Status = FAILED``; Security Hub sets the
  workflow to ``NEW`` on creation, and back to ``NEW`` when the compliance of a resolved
  finding turns from ``PASSED`` to ``FAILED``
  (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_Workflow.html);
- a fixed or verified load balancer (remediated, verified, compliant, drift repaired)
  re-imports it with ``PASSED`` and sets ``Workflow.Status = RESOLVED`` through
  ``BatchUpdateFindings``: ``BatchImportFindings`` cannot change a finding's workflow once it
  exists (https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html);
- an exempted load balancer's finding is set ``SUPPRESSED`` (reviewed, no action needed);
- a load balancer that no longer exists gets its finding re-imported with
  ``RecordState = ARCHIVED``.

Nothing is written for a load balancer that never had a finding and is fine: a finding per
compliant LB per scan would cost an import each time for nothing to look at. Still-open
findings are re-imported once a day, because Security Hub deletes findings that have not
been updated for 90 days (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings.html).

The scheduled scan defers the per-LB writes (:meth:`SecurityHubFindings.deferred`) and
reconciles the whole region in :meth:`SecurityHubFindings.sync`: one paged read of
frontguard's active findings, then imports and workflow updates in batches of 100 (the API's
limit for both calls).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from frontguard.adapters.aws_errors import translate
from frontguard.alerts import WHY, Alert
from frontguard.errors import PermanentError
from frontguard.model import Outcome
from frontguard.permissions import partition_of

if TYPE_CHECKING:
    from mypy_boto3_securityhub import SecurityHubClient

logger = logging.getLogger(__name__)

CHECK: Final = "frontend-security-group"
GENERATOR_ID: Final = f"frontguard/{CHECK}"
SCHEMA_VERSION: Final = "2018-10-08"
# Both BatchImportFindings and BatchUpdateFindings take at most 100 findings per request
# (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
BATCH: Final = 100
REFRESH_SECONDS: Final = 24 * 3600
# ASFF "Software and Configuration Checks" namespace
# (https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html#Types).
FINDING_TYPE: Final = (
    "Software and Configuration Checks/AWS Security Best Practices/Network Reachability"
)
# ASFF length limits: Title 256, Description 1024, Remediation.Recommendation.Text 512.
TITLE_LIMIT, DESCRIPTION_LIMIT, RECOMMENDATION_LIMIT = 256, 1024, 512


class Compliance(StrEnum):
    FAILED = "FAILED"
    PASSED = "PASSED"
    NOT_AVAILABLE = "NOT_AVAILABLE"


class Verdict(StrEnum):
    """What an outcome means for the load balancer's finding."""

    OPEN = "open"  # import FAILED
    UNKNOWN = "unknown"  # frontguard could not tell: NOT_AVAILABLE, only if no finding exists
    RESOLVED = "resolved"  # PASSED + workflow RESOLVED, only if a finding exists
    SUPPRESSED = "suppressed"  # workflow SUPPRESSED, only if a finding exists


VERDICTS: Final[Mapping[Outcome, Verdict]] = {
    Outcome.AUDIT_FINDING: Verdict.OPEN,
    Outcome.VERIFICATION_FAILED: Verdict.OPEN,
    Outcome.NEEDS_RECREATION: Verdict.OPEN,
    Outcome.GITOPS_PENDING: Verdict.OPEN,
    Outcome.CONFLICT: Verdict.OPEN,
    Outcome.ERROR: Verdict.UNKNOWN,
    Outcome.REMEDIATED: Verdict.RESOLVED,
    Outcome.VERIFIED: Verdict.RESOLVED,
    Outcome.COMPLIANT: Verdict.RESOLVED,
    Outcome.DRIFT: Verdict.RESOLVED,  # drift is reported once repaired (enforce mode)
    Outcome.EXEMPT: Verdict.SUPPRESSED,
}
SEVERITY: Final[Mapping[Outcome, str]] = {
    Outcome.NEEDS_RECREATION: "HIGH",
    Outcome.VERIFICATION_FAILED: "HIGH",
    Outcome.CONFLICT: "HIGH",
    Outcome.AUDIT_FINDING: "MEDIUM",
    Outcome.GITOPS_PENDING: "MEDIUM",
    Outcome.ERROR: "LOW",
}
DEFAULT_FIX: Final[Mapping[Outcome, str]] = {
    Outcome.AUDIT_FINDING: "Run frontguard in enforce mode for this cluster, or give the "
    "Kubernetes object a security group that follows the policy.",
    Outcome.ERROR: "Check frontguard's permissions (IAM role, EKS access entry, RBAC) and the "
    "cluster's reachability; the next scheduled scan retries.",
}


@dataclass(frozen=True)
class Observation:
    """What frontguard concluded about one load balancer, as a finding needs it."""

    load_balancer_arn: str
    outcome: Outcome
    cluster: str | None
    owner: str | None
    detail: str
    fix: str | None = None
    security_group_id: str | None = None
    # The alert's provenance, as in the alert: who made the change, and what detected it.
    actor: str | None = None
    detected_by: str | None = None
    was_open: tuple[str, ...] = ()  # what the change frontguard undid admitted (accounting.py)

    @classmethod
    def from_alert(cls, alert: Alert) -> Observation:
        sg = alert.data.get("security_group_id")
        actor, detected_by = alert.data.get("actor"), alert.data.get("detected_by")
        return cls(
            alert.load_balancer_arn,
            alert.outcome,
            alert.cluster,
            alert.owner.describe() if alert.owner else None,
            alert.detail,
            alert.fix,
            str(sg) if sg else None,
            str(actor) if actor else None,
            str(detected_by) if detected_by else None,
            _strings(alert.data.get("was_open")),
        )


def _provenance(observation: Observation) -> dict[str, str]:
    """What the change frontguard undid admitted, who made it and what found it."""
    fields = {
        "frontguard/actor": _clip(observation.actor or "", 1024),
        "frontguard/detected-by": observation.detected_by or "",
        "frontguard/was-open": _clip("; ".join(observation.was_open), 1024),
    }
    return {key: value for key, value in fields.items() if value}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def finding_id(load_balancer_arn: str, check: str = CHECK) -> str:
    return f"{load_balancer_arn}/frontguard/{check}"


def load_balancer_of(finding: Mapping[str, Any]) -> str:
    return str(finding["Id"]).rsplit("/frontguard/", 1)[0]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Changes:
    """The writes that bring Security Hub in line: imports, then workflow updates."""

    imports: list[dict[str, Any]] = field(default_factory=list)
    workflow: dict[str, list[str]] = field(default_factory=dict)  # status -> finding Ids

    def __bool__(self) -> bool:
        return bool(self.imports or self.workflow)


class SecurityHubFindings:
    """frontguard's findings in this account and region (an :class:`AlertSink` too)."""

    def __init__(
        self,
        client: SecurityHubClient,
        *,
        account: str,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.account = account
        self.region = region
        self.partition = partition_of(region)
        self._clock = clock
        self._deferred: dict[str, Observation] | None = None
        # The custom-integration product every account has
        # (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-custom-providers.html).
        self.product_arn = (
            f"arn:{self.partition}:securityhub:{region}:{account}:product/{account}/default"
        )

    # -- the alert path --------------------------------------------------------------------

    def publish(self, alert: Alert) -> None:
        """Record one outcome: at once, or at :meth:`sync` while deferred."""
        if alert.outcome not in VERDICTS:
            return
        observation = Observation.from_alert(alert)
        if self._deferred is not None:
            self._deferred[alert.load_balancer_arn] = observation
            return
        existing = self._get([finding_id(alert.load_balancer_arn)])
        self._apply(self.plan([observation], existing, present=None))

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Collect outcomes instead of writing each; :meth:`sync` writes them in batches."""
        self._deferred = {}
        try:
            yield
        except BaseException:
            self._deferred = None  # a failed scan drops them: the next scan sees them again
            raise

    def sync(self, scanned: Iterable[Observation], present: Collection[str]) -> Changes:
        """Reconcile the region's findings with a finished scan: ``scanned`` (one observation
        per load balancer, overridden by what was deferred, which carries the fix text) and
        ``present``, every load balancer ARN in the region."""
        observations = {o.load_balancer_arn: o for o in scanned}
        observations.update(self._deferred or {})
        self._deferred = None
        existing = self._list_active()
        changes = self.plan(observations.values(), existing, present=present)
        self._apply(changes)
        logger.info(
            "security hub synced",
            extra={
                "imported": len(changes.imports),
                "workflow_updates": {k: len(v) for k, v in changes.workflow.items()},
                "active_findings": len(existing),
            },
        )
        return changes

    # -- deciding (pure) -------------------------------------------------------------------

    def plan(
        self,
        observations: Iterable[Observation],
        existing: Mapping[str, Mapping[str, Any]],
        *,
        present: Collection[str] | None,
    ) -> Changes:
        """The writes for ``observations`` given the ``existing`` findings (by Id); with
        ``present`` (every LB ARN in the region), findings of vanished LBs are archived."""
        now = self._clock()
        changes = Changes()
        seen: set[str] = set()
        for observation in observations:
            fid = finding_id(observation.load_balancer_arn)
            seen.add(fid)
            self._plan_one(observation, existing.get(fid), now, changes)
        if present is not None:
            for fid, finding in existing.items():
                if fid in seen:
                    continue
                if load_balancer_of(finding) not in present:
                    changes.imports.append(self._archived(finding, now))
        return changes

    def _plan_one(
        self,
        observation: Observation,
        existing: Mapping[str, Any] | None,
        now: float,
        changes: Changes,
    ) -> None:
        verdict = VERDICTS.get(observation.outcome)
        fid = finding_id(observation.load_balancer_arn)
        if verdict is None:
            return
        compliance = (existing or {}).get("Compliance", {}).get("Status")
        workflow = (existing or {}).get("Workflow", {}).get("Status")
        if verdict is Verdict.OPEN:
            fresh = self._finding(observation, Compliance.FAILED, existing, now)
            if existing is None or _stale(existing, fresh, now):
                changes.imports.append(fresh)
        elif verdict is Verdict.UNKNOWN:
            if existing is None:
                changes.imports.append(
                    self._finding(observation, Compliance.NOT_AVAILABLE, None, now)
                )
        elif existing is None:
            return
        elif verdict is Verdict.RESOLVED:
            if compliance != Compliance.PASSED:
                changes.imports.append(self._finding(observation, Compliance.PASSED, existing, now))
            if workflow not in ("RESOLVED", "SUPPRESSED"):
                changes.workflow.setdefault("RESOLVED", []).append(fid)
        elif verdict is Verdict.SUPPRESSED and workflow != "SUPPRESSED":
            changes.workflow.setdefault("SUPPRESSED", []).append(fid)

    def _finding(
        self,
        observation: Observation,
        compliance: Compliance,
        existing: Mapping[str, Any] | None,
        now: float,
    ) -> dict[str, Any]:
        stamp = (
            datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        created = str(existing["CreatedAt"]) if existing and existing.get("CreatedAt") else stamp
        first_seen = str((existing or {}).get("FirstObservedAt") or stamp)
        severity = SEVERITY.get(observation.outcome) or (
            (existing or {}).get("Severity", {}).get("Label") or "INFORMATIONAL"
        )
        name = (
            observation.load_balancer_arn.split("/")[-2]
            if "/" in observation.load_balancer_arn
            else observation.load_balancer_arn
        )
        owner = observation.owner or "an unknown Kubernetes object"
        if compliance is Compliance.PASSED:
            title = f"Load balancer {name} is behind the policy security group"
        else:
            title = f"Load balancer {name} ({owner}) is not behind the policy security group"
        why = WHY.get(observation.outcome, "")
        fix = observation.fix or DEFAULT_FIX.get(observation.outcome) or why or "Nothing to do."
        finding: dict[str, Any] = {
            "SchemaVersion": SCHEMA_VERSION,
            "Id": finding_id(observation.load_balancer_arn),
            "ProductArn": self.product_arn,
            "GeneratorId": GENERATOR_ID,
            "AwsAccountId": self.account,
            "Region": self.region,
            "Types": [FINDING_TYPE],
            "CreatedAt": created,
            "UpdatedAt": stamp,
            "FirstObservedAt": first_seen,
            "LastObservedAt": stamp,
            "Severity": {"Label": severity},
            "FindingProviderFields": {"Severity": {"Label": severity}, "Types": [FINDING_TYPE]},
            "Title": _clip(title, TITLE_LIMIT),
            "Description": _clip(
                f"{observation.outcome.value}: {observation.detail} {why}".strip(),
                DESCRIPTION_LIMIT,
            ),
            "Remediation": {"Recommendation": {"Text": _clip(fix, RECOMMENDATION_LIMIT)}},
            "Compliance": {"Status": compliance.value},
            "RecordState": "ACTIVE",
            "ProductFields": {
                "frontguard/outcome": observation.outcome.value,
                "frontguard/cluster": observation.cluster or "",
                "frontguard/owner": observation.owner or "",
            },
            "Resources": self._resources(observation),
        }
        finding["ProductFields"].update(_provenance(observation))
        return finding

    def _resources(self, observation: Observation) -> list[dict[str, Any]]:
        base = {"Partition": self.partition, "Region": self.region}
        resources: list[dict[str, Any]] = [
            {**base, "Type": "AwsElbv2LoadBalancer", "Id": observation.load_balancer_arn}
        ]
        if observation.security_group_id:
            resources.append(
                {
                    **base,
                    "Type": "AwsEc2SecurityGroup",
                    "Id": f"arn:{self.partition}:ec2:{self.region}:{self.account}:"
                    f"security-group/{observation.security_group_id}",
                }
            )
        if observation.cluster:
            resources.append(
                {
                    **base,
                    "Type": "AwsEksCluster",
                    "Id": f"arn:{self.partition}:eks:{self.region}:{self.account}:"
                    f"cluster/{observation.cluster}",
                }
            )
            if observation.owner:
                resources.append(
                    {
                        **base,
                        "Type": "Other",
                        "Id": f"kubernetes://{observation.cluster}/{observation.owner}",
                        "Details": {
                            "Other": {"cluster": observation.cluster, "owner": observation.owner}
                        },
                    }
                )
        return resources

    def _archived(self, finding: Mapping[str, Any], now: float) -> dict[str, Any]:
        stamp = (
            datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        keys = (
            "SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Region",
            "Types", "CreatedAt", "FirstObservedAt", "Severity", "FindingProviderFields",
            "Title", "Description", "Remediation", "Compliance", "ProductFields", "Resources",
        )  # fmt: skip
        archived = {key: finding[key] for key in keys if key in finding}
        archived["Description"] = _clip(
            f"The load balancer no longer exists. {finding.get('Description', '')}",
            DESCRIPTION_LIMIT,
        )
        archived.update({"UpdatedAt": stamp, "RecordState": "ARCHIVED"})
        return archived

    # -- reading and writing ---------------------------------------------------------------

    def _filters(self) -> dict[str, Any]:
        return {
            "ProductArn": [{"Value": self.product_arn, "Comparison": "EQUALS"}],
            "GeneratorId": [{"Value": GENERATOR_ID, "Comparison": "EQUALS"}],
            "AwsAccountId": [{"Value": self.account, "Comparison": "EQUALS"}],
            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        }

    def _get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        filters = {**self._filters(), "Id": [{"Value": i, "Comparison": "EQUALS"} for i in ids]}
        return self._read(filters, "read finding")

    def _list_active(self) -> dict[str, dict[str, Any]]:
        return self._read(self._filters(), "list active findings")

    def _read(self, filters: Mapping[str, Any], what: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        try:
            for page in self._client.get_paginator("get_findings").paginate(
                Filters=filters,  # type: ignore[arg-type]
                PaginationConfig={"PageSize": BATCH},
            ):
                for finding in page["Findings"]:
                    found[finding["Id"]] = dict(finding)
        except ClientError as error:
            raise translate(error, f"Security Hub: {what}") from error
        return found

    def _apply(self, changes: Changes) -> None:
        for start in range(0, len(changes.imports), BATCH):
            batch = changes.imports[start : start + BATCH]
            try:
                response = self._client.batch_import_findings(Findings=batch)  # type: ignore[arg-type]
            except ClientError as error:
                raise translate(error, "Security Hub: import findings") from error
            if response.get("FailedCount"):
                raise PermanentError(
                    "Security Hub refused findings: "
                    + "; ".join(
                        f"{f.get('Id')}: {f.get('ErrorCode')} {f.get('ErrorMessage')}"
                        for f in response.get("FailedFindings", [])
                    )
                )
        for status, ids in sorted(changes.workflow.items()):
            for start in range(0, len(ids), BATCH):
                identifiers: list[Any] = [
                    {"Id": fid, "ProductArn": self.product_arn}
                    for fid in ids[start : start + BATCH]
                ]
                try:
                    updated = self._client.batch_update_findings(
                        FindingIdentifiers=identifiers,
                        Workflow={"Status": status},  # type: ignore[typeddict-item]
                    )
                except ClientError as error:
                    raise translate(error, "Security Hub: update workflow") from error
                unprocessed = updated.get("UnprocessedFindings") or []
                if unprocessed:
                    raise PermanentError(
                        "Security Hub did not update findings: "
                        + "; ".join(
                            f"{u['FindingIdentifier']['Id']}: {u.get('ErrorCode')}"
                            for u in unprocessed
                        )
                    )


def _stale(existing: Mapping[str, Any], fresh: Mapping[str, Any], now: float) -> bool:
    """Re-import an open finding when what it says changed, or once a day."""
    for key in ("Compliance", "Title", "Description", "Remediation", "RecordState"):
        if existing.get(key) != fresh.get(key):
            return True
    updated = str(existing.get("UpdatedAt") or "")
    try:
        stamp = datetime.fromisoformat(updated.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return True
    return now - stamp >= REFRESH_SECONDS
