"""A revert for humans: what it did, or would do, one line per change."""

from __future__ import annotations

from frontguard import tags as t
from frontguard.engine.revert.model import RevertPlan, SgAction


def _render_configurations(plan_: RevertPlan, *, applied: bool) -> list[str]:
    lines = []
    for config in plan_.configurations:
        if config.skipped is not None:
            lines.append(f"  skip     {config.ref}: {config.skipped}")
            continue
        for verb, what in config.steps():
            lines.append(f"  {verb}d {what}" if applied else f"  would {verb} {what}")
    return lines


def render(plan_: RevertPlan, *, applied: bool) -> list[str]:
    """Human-readable lines: what revert did, or would do."""
    verb = "" if applied else "would "
    lines = [f"frontguard revert: {plan_.scope.describe()}" + ("" if applied else " (dry run)")]
    if not plan_.objects and not plan_.configurations:
        lines.append(f"  no object carries {t.REPLACED_ANNOTATION}: no annotation to restore")
    for obj in plan_.objects:
        if obj.skipped is not None:
            lines.append(f"  skip     {obj.ref}: {obj.skipped}")
        else:
            done = "restored" if applied else "would restore"
            lines.append(f"  {done} {obj.ref}: {obj.describe_patch()}")
    lines.extend(_render_configurations(plan_, applied=applied))
    lines.extend(f"  note: {note}" for note in plan_.notes)
    if not plan_.security_groups:
        lines.append("  no frontguard security group in scope")
    for sg in plan_.security_groups:
        lb = sg.load_balancer_arn.split("/")[-2] if sg.load_balancer_arn else "?"
        if sg.action is SgAction.DELETE:
            text = f"{verb}delete {sg.group_id} (load balancer {lb}): {sg.reason}"
        elif sg.action is SgAction.KEPT and not applied:
            text = f"would keep {sg.group_id} (load balancer {lb}) for now: {sg.reason}"
        else:
            text = f"{sg.action.value} {sg.group_id} (load balancer {lb}): {sg.reason}"
        lines.append(f"  {text}")
    if plan_.patches or plan_.config_patches:
        lines.append(
            "  note: a scheduled frontguard scan in enforce mode remediates these load balancers "
            "again; switch the policy to audit or exempt the objects in the policy first"
        )
    return lines
