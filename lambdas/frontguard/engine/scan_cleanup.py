"""After a scan: impostor SGs alerted, orphaned frontguard SGs deleted after their grace
period (pre-load-balancer SGs of fail-closed mode included; impostors never)."""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters import aws
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.engine.decision import Engine
from frontguard.engine.remediation_alerts import impostor_alert
from frontguard.engine.scan_bulk import Bulk
from frontguard.engine.scan_report import ScanReport
from frontguard.policy import Mode

logger = logging.getLogger(__name__)


def report_impostors(engine: Engine, bulk: Bulk, report: ScanReport) -> None:
    """SGs that carry frontguard's tags but are not frontguard's: never converged, attached or
    deleted; one ``conflict`` alert per load balancer ARN they name (deduplicated per period)."""
    for arn, found in sorted(bulk.impostors.items()):
        report.impostors.extend(group.id for group, _ in found)
        logger.warning(
            "SGs carry frontguard's tags but are not frontguard's",
            extra={"load_balancer_arn": arn, "security_group_ids": [g.id for g, _ in found]},
        )
        cluster = found[0][0].tags.get(t.FG_CLUSTER_TAG)
        engine.alerts.publish(impostor_alert(arn, cluster, None, found))


def clean_up(engine: Engine, bulk: Bulk, existing_arns: set[str], report: ScanReport) -> None:
    """Delete frontguard SGs whose load balancer is gone, after a grace period."""
    for arn, group in sorted(bulk.ours.items()):
        if arn in existing_arns:
            continue
        _delete_orphan(
            engine, group, {"security_group_id": group.id, "load_balancer_arn": arn}, report
        )


def clean_up_pre_lb(engine: Engine, bulk: Bulk, attached: set[str], report: ScanReport) -> None:
    """Delete frontguard's pre-load-balancer SGs (fail-closed mode) that no load balancer of
    the region lists (the scan read every LB's SecurityGroups already: no extra call), after
    the same grace period: the controller may still be about to create the LB with it, and
    its grace restarts nothing (first seen unattached). Only proven ones are in
    ``bulk.pre_lb``: impostors are never deleted."""
    for (cluster, marker), group in sorted(bulk.pre_lb.items()):
        if group.id in attached:
            continue
        _delete_orphan(
            engine,
            group,
            {"security_group_id": group.id, "cluster": cluster, "stack": marker},
            report,
        )


def _delete_orphan(
    engine: Engine, group: aws.SecurityGroup, context: dict[str, str], report: ScanReport
) -> None:
    grace = engine.policy.cleanup_grace_hours * 3600
    if engine.policy.mode is Mode.AUDIT or engine.state is None:
        report.kept_orphans.append(group.id)
        logger.info("orphaned frontguard SG kept (audit mode or no state)", extra=context)
        return
    first_seen = engine.state.first_seen(f"orphan#{group.id}")
    if engine.state.now() - first_seen < grace:
        report.kept_orphans.append(group.id)
        return
    try:
        engine.ec2.delete_security_group(GroupId=group.id)
    except ClientError as error:
        if error_code(error) in ("DependencyViolation", "InvalidGroup.InUse"):
            report.kept_orphans.append(group.id)
            logger.info("orphaned frontguard SG still referenced: kept", extra=context)
            return
        if error_code(error) == "InvalidGroup.NotFound":
            return
        # Access denied or a persistent fault: keep it, report it, finish the scan.
        report.kept_orphans.append(group.id)
        logger.warning(
            "orphaned frontguard SG could not be deleted",
            extra={**context, "problem": str(translate(error, "delete SG"))},
        )
        return
    report.cleaned_up.append(group.id)
    logger.info("orphaned frontguard SG deleted", extra=context)
