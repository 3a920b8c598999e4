"""Text that someone other than frontguard wrote, made safe to show a human.

Annotation values, ``managedFields`` manager names and the controller's Event messages (which
echo annotation values) are chosen by whoever can edit an object. Shown raw they can forge
lines in an alert e-mail (a fake "How to fix:" section), hide text behind bidi controls, or
drive an operator's terminal (cursor movement, OSC 52 clipboard writes). Everything such text
reaches a human through passes :func:`escape` (the CLI) or :func:`quote` (alerts), which make
every line break, control, bidi and invisible format character a visible escape, and bound
the length.
"""

from __future__ import annotations

import unicodedata
from typing import Final

#: How many characters of a user-written value an alert quotes.
QUOTE_LIMIT: Final = 200

# Categories shown as escapes: controls (C0, C1, DEL), format characters (bidi embeddings,
# overrides and isolates, zero-width joiners, BOM), line and paragraph separators, private
# use, surrogates and unassigned code points. Plain space (Zs U+0020) stays.
_ESCAPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    category = unicodedata.category(char)
    if category in _ESCAPED_CATEGORIES or (category == "Zs" and char != " "):
        code = ord(char)
        if code < 0x100:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def escape(value: object, limit: int | None = None) -> str:
    """``value`` on one line, every non-printing character a visible escape; at most ``limit``
    characters of the escaped text, then a note of how much was left out."""
    text = "".join(_escape_char(c) for c in str(value))
    if limit is not None and len(text) > limit:
        return f"{text[:limit]}…(+{len(text) - limit} chars)"
    return text


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A user-written value quoted for an alert: escaped, bounded and labelled as such."""
    return f"«{escape(value, limit)}» (user-written)"


def is_clean(value: str) -> bool:
    """True when :func:`escape` would leave ``value`` unchanged (no escapes needed)."""
    return all(_escape_char(c) == c for c in value)


def defang(text: str) -> str:
    """Multi-line text frontguard composed (which may quote escaped values): its own line
    breaks kept, any other non-printing character escaped, backslashes left alone."""
    return "\n".join(
        "".join(c if c == "\\" else _escape_char(c) for c in line) for line in text.split("\n")
    )


def printable(line: str) -> str:
    """One line for a terminal: every control (ESC, OSC 52's BEL, CR, line breaks), bidi and
    invisible character a visible escape; backslashes left alone. The CLI passes every
    human-readable line through it (values in them come from annotations and tags)."""
    return "".join(c if c == "\\" else _escape_char(c) for c in line)
