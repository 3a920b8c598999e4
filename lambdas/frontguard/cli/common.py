"""What every ``frontguard`` command shares: exit codes, the caller's AWS session, the policy
file, and plain-text output that is safe for a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frontguard.errors import ConfigurationError

if TYPE_CHECKING:
    import boto3

    from frontguard.policy import Policy

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_FINDINGS = 2
EXIT_INTERRUPTED = 130
# The built-in policy for `frontguard scan` without --policy: the VPC's own CIDRs only.
DEFAULT_POLICY: dict[str, Any] = {"mode": "audit", "default_sources": ["vpc"]}
REASON_WIDTH = 90


def load_policy(path: str | None, *, enforce: bool) -> Policy:
    """The policy file (or the built-in audit policy); the mode comes from ``--enforce``.

    A file that says ``enforce`` still runs in audit unless ``--enforce`` is given: a look
    from a laptop never changes anything by surprise.
    """
    from frontguard.policy import Mode, Policy

    if path is None:
        policy = Policy.from_document(DEFAULT_POLICY)
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(f"cannot read policy file {path}: {error.strerror}") from error
        policy = Policy.from_json(text)
    mode = Mode.ENFORCE if enforce else Mode.AUDIT
    return policy.model_copy(update={"mode": mode})


def session(region: str | None) -> boto3.Session:
    """The caller's own boto3 session (the CLI never uses frontguard's roles)."""
    import boto3

    found = boto3.Session(region_name=region) if region else boto3.Session()
    if not found.region_name:
        raise ConfigurationError(
            "no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION"
        )
    return found


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain-text table: columns padded to their widest cell, a dashed rule under the header."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def shorten(text: str, width: int = REASON_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def human(lines: Sequence[str]) -> str:
    """Lines for a terminal: values from annotations, records and tags are user-written, so
    no control or bidi character reaches the terminal raw (cursor movement, OSC 52)."""
    from frontguard.untrusted import printable

    return "".join(printable(line) + "\n" for line in lines)
