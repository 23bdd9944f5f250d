"""The operator documents link to sections that exist (GitHub heading anchors)."""

from __future__ import annotations

import re

import pytest

from tests.infra.bicep import ROOT

DOCS = ROOT / "docs"
OWN = ["deployment.md", "runbook.md", "alerts.md", "architecture.md"]
LINK = re.compile(r"\]\(([a-z-]+\.md)?(?:#([a-z0-9-]+))?\)")


def anchors(name: str) -> set[str]:
    found = set()
    for line in (DOCS / name).read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^a-z0-9 -]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("name", OWN)
def test_links_between_the_operator_documents_resolve(name: str) -> None:
    for linked, anchor in LINK.findall((DOCS / name).read_text()):
        target = linked or name
        if target not in OWN:
            continue  # documents owned elsewhere (storage.md, onprem.md, translation.md)
        if anchor:
            assert anchor in anchors(target), f"{name} links to {target}#{anchor}"


def test_anchor_rule_matches_github() -> None:
    assert "after-a-failover-before-any-redeploy" in anchors("runbook.md")
    assert "redis-azure-managed-redis-with-active-geo-replication" in anchors("deployment.md")
