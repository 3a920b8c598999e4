"""The way in stays short and whole: the README fits on a screen, docs/README.md indexes every
document, and every relative link in the documents leads to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _relative_links(document: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(document.read_text(encoding="utf-8"))
        if not target.startswith(("http://", "https://", "mailto:"))
    ]


def test_the_readme_is_at_most_12_kb() -> None:
    assert (ROOT / "README.md").stat().st_size <= 12 * 1024


def test_the_docs_index_names_every_document() -> None:
    indexed = set(_relative_links(DOCS / "README.md"))
    documents = {p.name for p in DOCS.iterdir() if p.is_file() and p.name != "README.md"}
    assert documents - indexed == set()


def test_every_relative_link_resolves() -> None:
    broken = [
        f"{document.relative_to(ROOT)} -> {target}"
        for document in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
        for target in _relative_links(document)
        if not (document.parent / target).exists()
    ]
    assert broken == []
