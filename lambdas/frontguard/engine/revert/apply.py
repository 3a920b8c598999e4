"""Carrying a :class:`~frontguard.engine.revert.model.RevertPlan` out: patch the objects and
configurations, then delete the unused SGs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from frontguard import tags as t
from frontguard.adapters.aws_errors import error_code, translate
from frontguard.adapters.kube import KubeClient
from frontguard.engine import gateway as gw
from frontguard.engine.revert.model import STILL_ATTACHED, ConfigRevert, RevertPlan, SgAction
from frontguard.errors import NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger(__name__)


def apply_revert(
    kube: KubeClient,
    ec2: EC2Client,
    plan_: RevertPlan,
    *,
    on_change: Callable[[str], None] | None = None,
) -> RevertPlan:
    """Patch the objects and configurations, then delete the unused SGs; returns the plan with
    what happened."""
    for obj in plan_.patches:
        kube.patch_annotations(obj.path, obj.patch)
        logger.info(
            "annotations restored",
            extra={"cluster": plan_.scope.cluster, "owner": obj.ref},
        )
        if on_change is not None:
            on_change(f"restored {obj.ref}: {obj.describe_patch()}")
    for config in plan_.config_patches:
        _apply_config_revert(kube, config)
        logger.info(
            "configuration restored",
            extra={"cluster": plan_.scope.cluster, "owner": config.ref},
        )
        if on_change is not None:
            for verb, what in config.steps():
                on_change(f"{verb}d {what}")
    for sg in plan_.security_groups:
        if sg.action is not SgAction.DELETE:
            continue
        try:
            ec2.delete_security_group(GroupId=sg.group_id)
        except ClientError as error:
            code = error_code(error)
            if code in ("DependencyViolation", "InvalidGroup.InUse"):
                sg.action, sg.reason = SgAction.KEPT, STILL_ATTACHED
                continue
            if code == "InvalidGroup.NotFound":
                sg.action, sg.reason = SgAction.GONE, "already deleted"
                continue
            raise translate(error, f"delete SG {sg.group_id}") from error
        sg.action, sg.reason = SgAction.DELETED, "no load balancer and no annotation uses it"
        logger.info(
            "frontguard SG deleted",
            extra={"security_group_id": sg.group_id, "load_balancer_arn": sg.load_balancer_arn},
        )
        if on_change is not None:
            on_change(f"deleted {sg.group_id}")
    return plan_


def _apply_config_revert(kube: KubeClient, revert: ConfigRevert) -> None:
    """The Gateway's reference first: the Gateway never names a configuration that is gone."""
    if revert.gateway is not None:
        path = gw.gateway_path(revert.config.path.namespace, revert.gateway)
        kube.merge_patch(path, {"spec": {"infrastructure": {"parametersRef": None}}})
    if revert.created:
        with contextlib.suppress(NotFoundError):  # already deleted
            kube.delete(revert.config.path)
        return
    kube.merge_patch(
        revert.config.path,
        {"metadata": {"annotations": {t.REPLACED_ANNOTATION: None}}, "spec": revert.spec},
    )
