"""Refresh the vendored subset of the Bicep compiler's type library (Azure/bicep-types-az).

Not a test and never run by CI: a maintainer runs it after changing a resource type or API version in
``infra/``, with a local clone of https://github.com/Azure/bicep-types-az (``git clone --depth 1``)::

    .venv/bin/python -m tests.infra.types.vendor /path/to/bicep-types-az

For every ``'<type>@<apiVersion>'`` the templates name, it finds the generated ``types.json`` that
declares that resource type, copies the resource type and every type it refers to (nothing else,
re-numbered), and writes ``index.json`` (``"<type>@<version>"`` -> ``"<file>#/<n>"``) and
``PROVENANCE.md`` (commit and source files). The data is the compiler's own: ``az bicep build`` checks
property names and types against exactly these files (bicep-types-az ``generated/``, MIT licence).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INFRA = HERE.parents[2] / "infra"
REFERENCE = re.compile(r"'(Microsoft\.[A-Za-z]+/[A-Za-z/]+)@(\d{4}-\d{2}-\d{2}(?:-preview)?)'")


def used_types() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in INFRA.rglob("*.bicep"):
        found.update(REFERENCE.findall(path.read_text()))
    return found


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _closure(types: list[dict[str, Any]], start: int) -> list[int]:
    seen: list[int] = []
    todo = [start]
    while todo:
        index = todo.pop()
        if index in seen:
            continue
        seen.append(index)
        for ref in re.findall(r'"\$ref": "#/(\d+)"', json.dumps(types[index])):
            todo.append(int(ref))
    return sorted(seen)


def _renumber(value: Any, mapping: dict[int, int]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            ref = value["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"reference outside the file: {ref}")
            return {"$ref": f"#/{mapping[int(ref[2:])]}"}
        return {k: _renumber(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_renumber(v, mapping) for v in value]
    return value


def main(repo: Path) -> None:
    commit = _git(repo, "rev-parse", "HEAD").strip()
    files = [
        f
        for f in _git(repo, "ls-tree", "-r", "--name-only", "HEAD", "generated").split()
        if f.endswith("types.json")
    ]
    wanted = used_types()
    picked: dict[str, dict[int, int]] = {}  # source file -> old index -> new index
    subsets: dict[str, list[dict[str, Any]]] = {}
    index: dict[str, str] = {}
    for kind, version in sorted(wanted):
        namespace = kind.split("/")[0].lower()
        candidates = [f for f in files if f"/{namespace}/{version}/" in f]
        name = f"{kind}@{version}".lower()
        for source in candidates:
            types = json.loads(_git(repo, "show", f"HEAD:{source}"))
            hits = [
                i for i, t in enumerate(types) if t["$type"] == "ResourceType" and t["name"].lower() == name
            ]
            if not hits:
                continue
            mapping = picked.setdefault(source, {})
            subset = subsets.setdefault(source, [])
            for old in _closure(types, hits[0]):
                if old not in mapping:
                    mapping[old] = len(subset)
                    subset.append(types[old])
            index[f"{kind}@{version}"] = f"{source.removeprefix('generated/')}#/{mapping[hits[0]]}"
            break
        else:
            raise SystemExit(f"{kind}@{version}: no generated types.json declares it")
    for source, subset in subsets.items():
        target = HERE / source.removeprefix("generated/")
        target.parent.mkdir(parents=True, exist_ok=True)
        body = [_renumber(t, picked[source]) for t in subset]
        target.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
    (HERE / "index.json").write_text(
        json.dumps({"commit": commit, "resources": index}, indent=1, sort_keys=True) + "\n"
    )
    sources = "\n".join(f"- `generated/{s.removeprefix('generated/')}`" for s in sorted(subsets))
    (HERE / "PROVENANCE.md").write_text(PROVENANCE.format(commit=commit, sources=sources))
    print(f"{len(index)} resource types from {len(subsets)} files at {commit}")


PROVENANCE = """# Vendored Bicep type data

A subset of the Bicep compiler's Azure type library, used by `tests/infra/test_resource_types.py` to
check every resource's type, API version and property names (nested) without a Bicep compiler.

- Source: https://github.com/Azure/bicep-types-az, directory `generated/`, commit `{commit}`.
- Licence: MIT, Copyright (c) Microsoft Corporation (the full text is in `LICENSE` next to this file).
- What was copied: for each `<type>@<apiVersion>` the templates in `infra/` name, the `ResourceType`
  entry and every type it refers to, from the file below, re-numbered; nothing else. The JSON is the
  upstream data unchanged apart from that selection and the `$ref` indices.
- Refresh: `.venv/bin/python -m tests.infra.types.vendor /path/to/bicep-types-az` (a local clone).

Source files:

{sources}
"""


if __name__ == "__main__":
    main(Path(sys.argv[1]))
