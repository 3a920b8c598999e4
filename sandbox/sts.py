"""STS in the sandbox: one fidelity fix to moto's ``AssumeRole`` (moto 5.2.5 assumes any role
ARN, existing or not), installed with the other emulator fixes (`sandbox.aws`).

- ``AssumeRole`` fails with ``AccessDenied`` when the role does not exist in the target
  account, or when its trust policy names no principal of the caller's account (AWS answers
  both the same way: "User: ... is not authorized to perform: sts:AssumeRole on resource"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_roles.html#troubleshoot_roles_cant-assume-role).

An emulator module: it imports no sandbox scenario and no frontguard code.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

Method = Callable[..., Any]
_MARK = "__frontguard_sandbox_fix__"
_lock = threading.Lock()


class AccessDeniedError(STSClientError):
    def __init__(self, message: str) -> None:
        super().__init__("AccessDenied", message)


def _trusts(document: str, caller: str) -> bool:
    """Whether a trust policy lets a principal of account ``caller`` assume the role."""
    try:
        policy = json.loads(document)
    except ValueError:
        return False
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principals = (statement.get("Principal") or {}).get("AWS", [])
        principals = [principals] if isinstance(principals, str) else principals
        if any(p in ("*", caller) or f":{caller}:" in p for p in principals):
            return True
    return False


def _assume_role(original: Method) -> Method:
    @functools.wraps(original)
    def wrapper(self: STSBackend, **kwargs: Any) -> Any:
        role_arn = str(kwargs.get("role_arn") or "")
        parts = role_arn.split(":")
        account = parts[4] if len(parts) > 5 else ""
        name = role_arn.rsplit("/", 1)[-1]
        denied = AccessDeniedError(
            f"User: arn:aws:iam::{self.account_id}:user/sandbox is not authorized to perform: "
            f"sts:AssumeRole on resource: {role_arn}"
        )
        roles = iam_backends[account]["global"].roles if account else {}
        role = next((r for r in roles.values() if r.name == name), None)
        if role is None or not _trusts(role.assume_role_policy_document, self.account_id):
            raise denied
        return original(self, **kwargs)

    return wrapper


def install() -> None:
    """Patch moto's STS backend (once per process, before the server starts)."""
    with _lock:
        if getattr(STSBackend.assume_role, _MARK, False):
            return
        fixed = _assume_role(STSBackend.assume_role)
        setattr(fixed, _MARK, True)
        STSBackend.assume_role = fixed  # type: ignore[method-assign]
