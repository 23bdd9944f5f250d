"""Markdown helpers for the documentation tests: GitHub's heading anchors."""

from __future__ import annotations

import re
from pathlib import Path


def anchors(document: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``document`` (headings inside code fences are not
    headings): lower case, punctuation dropped, spaces to hyphens."""
    found, fenced = set(), False
    for line in document.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return found
