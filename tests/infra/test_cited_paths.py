"""Every file the documents cite exists in the repository.

Checked in README.md, docs/*.md, infra/README.md and the comments of infra/ (templates and parameter
files): relative Markdown links (resolved from the citing file; a ``#section`` must be a heading of
the target, GitHub's anchor rule, tests/infra/markdown.py) and code spans or
comment words that look like a repository path, i.e. start with a top-level entry of the repository
(``infra/deploy.sh``, ``tests/infra/test_parameters.py``, ``shared/adapters/mqi.py``). Placeholders
(``<suffix>``, ``*``, ``{...}``) are skipped, and so are the few paths a person creates and git ignores
(listed below with the reason).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.bicep import ROOT
from tests.infra.markdown import anchors

# Paths a document may name although the repository does not hold them, and why.
NOT_IN_GIT = {
    "ibm-mq-redist": "IBM's MQ redistributable client, unpacked by the deployer (licence: not ours to ship)",
    ".local": "the local stack's state directory (created by `make stack-up`)",
    ".venv": "the virtual environment (created by `make venv`)",
    "out": "generated reports",
    "local.settings.json": "a developer's copy of local.settings.json.example",
}

LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\s]+)`")
WORD = re.compile(r"(?<![\w./-])((?:[\w.-]+/)+[\w.-]+(?:#[\w-]+)?)")


def _tracked() -> list[Path]:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
    return [ROOT / line for line in listed.stdout.splitlines()]


TRACKED = _tracked()
TOP_LEVEL = {path.relative_to(ROOT).parts[0] for path in TRACKED}
DOCUMENTS = [
    p
    for p in TRACKED
    if p.suffix == ".md" and (p.parent in (ROOT, ROOT / "docs") or p == ROOT / "infra" / "README.md")
]
INFRA_SOURCES = [
    p for p in TRACKED if p.parts[len(ROOT.parts)] == "infra" and p.suffix in (".bicep", ".bicepparam")
]


def _placeholder(text: str) -> bool:
    return any(mark in text for mark in "<>*{}$|") or "..." in text or "…" in text


def _anchor_ok(path: str, base: Path) -> bool:
    """A ``file.md#anchor`` citation names a heading of that file."""
    target, _, anchor = path.partition("#")
    if not anchor or not target.endswith(".md"):
        return True
    document = base / target if (base / target).exists() else ROOT / target
    return not document.exists() or anchor in anchors(document)


def _exists(path: str, base: Path) -> bool:
    path = path.split("#", maxsplit=1)[0].rstrip("/")
    if not path:
        return True
    first = path.split("/")[0]
    if first in NOT_IN_GIT:
        return True
    return (base / path).exists() or (ROOT / path).exists()


def cited_paths(path: Path) -> list[tuple[str, Path]]:
    """``(cited path, base directory for relative links)`` of one file."""
    text = path.read_text()
    found: list[tuple[str, Path]] = []
    if path.suffix == ".md":
        for target in LINK.findall(text):
            if target.startswith("#"):  # a section of this document
                found.append((path.name + target, path.parent))
            elif not re.match(r"^[a-z]+:", target) and not _placeholder(target):
                found.append((target, path.parent))
        candidates = CODE.findall(text)
    else:  # Bicep: only the comments
        candidates = [
            w for line in text.splitlines() if "//" in line for w in WORD.findall(line.split("//", 1)[1])
        ]
    for raw in candidates:
        candidate = raw.rstrip(".,:;)")
        head = candidate.split("/")[0]
        looks_local = "://" not in candidate and not re.search(r"\.(com|net|io|org)\b", candidate)
        if (
            "/" in candidate
            and head in TOP_LEVEL | set(NOT_IN_GIT)
            and not _placeholder(candidate)
            and looks_local
        ):
            found.append((candidate, ROOT))
    return found


@pytest.mark.parametrize("path", DOCUMENTS + INFRA_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_file_exists(path: Path) -> None:
    missing = sorted({cited for cited, base in cited_paths(path) if not _exists(cited, base)})
    assert not missing, f"{path.relative_to(ROOT)} cites files the repository does not have: {missing}"


@pytest.mark.parametrize("path", DOCUMENTS + INFRA_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_section_exists(path: Path) -> None:
    missing = sorted({cited for cited, base in cited_paths(path) if not _anchor_ok(cited, base)})
    assert not missing, f"{path.relative_to(ROOT)} cites sections that do not exist: {missing}"


def test_the_check_finds_links_code_spans_and_comment_paths(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("See [x](../infra/nowhere.md#a), `tests/infra/test_gone.py`, `make demo`, `<suffix>/x`.")
    cited = {c for c, _ in cited_paths(doc)}
    assert cited == {"../infra/nowhere.md#a", "tests/infra/test_gone.py"}
    template = tmp_path / "t.bicep"
    template.write_text("// checked by tests/infra/test_regions.py, see docs/deployment.md\nparam a string\n")
    assert {c for c, _ in cited_paths(template)} == {"tests/infra/test_regions.py", "docs/deployment.md"}
    assert not _exists("tests/infra/test_regions.py", ROOT) and _exists("docs/deployment.md", ROOT)
    assert _anchor_ok("docs/deployment.md#running-it-again", ROOT)
    assert not _anchor_ok("docs/deployment.md#hosting-plan", ROOT)


def test_the_anchor_rule_matches_github() -> None:
    assert "after-a-failover-before-any-redeploy" in anchors(ROOT / "docs" / "runbook.md")
    deployment = anchors(ROOT / "docs" / "deployment.md")
    assert "redis-azure-managed-redis-with-active-geo-replication" in deployment
    assert "the-mq-channels-tls-where-the-ca-and-key-store-come-from" in deployment
