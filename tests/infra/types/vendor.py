"""Refresh the vendored subset of the Bicep compiler's type library (Azure/bicep-types-az).

Not a test and never run by CI: a maintainer runs it after changing a resource type or API version in
``infra/``, with a local clone of https://github.com/Azure/bicep-types-az (``git clone --depth 1``)::

    .venv/bin/python -m tests.infra.types.vendor /path/to/bicep-types-az
    .venv/bin/python -m tests.infra.types.vendor --graph /path/to/msgraph-bicep-types

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
REFERENCE = re.compile(r"'(Microsoft\.[A-Za-z]+/[A-Za-z/]+)@(\d{4}-\d{2}-\d{2}(?:-preview)?|v1\.0)'")
#: The Microsoft Graph Bicep types (microsoftgraph/msgraph-bicep-types) of the version infra/bicepconfig.json
#: pins for the ``microsoftGraphV1`` extension; ``Microsoft.Graph/*@v1.0`` resources are checked against it.
GRAPH_TYPES = "microsoftgraph/microsoft.graph/v1.0/1.0.0/types.json"


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
    wanted = {(kind, version) for kind, version in used_types() if not kind.startswith("Microsoft.Graph/")}
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
    previous = json.loads((HERE / "index.json").read_text())
    graph = {k: v for k, v in previous["resources"].items() if k.startswith("Microsoft.Graph/")}
    document = {**previous, "commit": commit, "resources": {**index, **graph}}
    (HERE / "index.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    sources = "\n".join(f"- `generated/{s.removeprefix('generated/')}`" for s in sorted(subsets))
    provenance = PROVENANCE.format(commit=commit, sources=sources)
    graph_part = GRAPH_PROVENANCE.format(commit=previous.get("graph_commit"))
    (HERE / "PROVENANCE.md").write_text(provenance + graph_part)
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


def graph(repo: Path) -> None:
    """Vendor the ``Microsoft.Graph/*@v1.0`` types the templates use from a clone of
    https://github.com/microsoftgraph/msgraph-bicep-types (file :data:`GRAPH_TYPES` under ``generated/``)
    into the same index, recording its commit as ``graph_commit``."""
    commit = _git(repo, "rev-parse", "HEAD").strip()
    types = json.loads(_git(repo, "show", f"HEAD:generated/{GRAPH_TYPES}"))
    wanted = sorted(kind for kind, _ in used_types() if kind.startswith("Microsoft.Graph/"))
    mapping: dict[int, int] = {}
    subset: list[dict[str, Any]] = []
    found: dict[str, str] = {}
    for kind in wanted:
        name = f"{kind}@v1.0".lower()
        hits = [i for i, t in enumerate(types) if t["$type"] == "ResourceType" and t["name"].lower() == name]
        if not hits:
            raise SystemExit(f"{kind}@v1.0: not in {GRAPH_TYPES}")
        for old in _closure(types, hits[0]):
            if old not in mapping:
                mapping[old] = len(subset)
                subset.append(types[old])
        found[f"{kind}@v1.0"] = f"{GRAPH_TYPES}#/{mapping[hits[0]]}"
    target = HERE / GRAPH_TYPES
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps([_renumber(t, mapping) for t in subset], indent=1, sort_keys=True) + "\n")
    index = json.loads((HERE / "index.json").read_text())
    kept = {k: v for k, v in index["resources"].items() if not k.startswith("Microsoft.Graph/")}
    index.update(graph_commit=commit, resources={**kept, **found})
    (HERE / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"{len(found)} Microsoft Graph resource types at {commit}")


GRAPH_PROVENANCE = """
## Microsoft Graph (the `microsoftGraphV1` Bicep extension)

- Source: https://github.com/microsoftgraph/msgraph-bicep-types, file `generated/{GRAPH_TYPES}`
  (the type version infra/bicepconfig.json pins), commit `{commit}`.
- Licence: MIT, Copyright (c) Microsoft Corporation (the same text as `LICENSE` next to this file).
- What was copied: the `ResourceType` entries of the `Microsoft.Graph/*@v1.0` types the templates name
  and every type they refer to, re-numbered; nothing else.
- Refresh: `.venv/bin/python -m tests.infra.types.vendor --graph /path/to/msgraph-bicep-types`.
""".replace("{GRAPH_TYPES}", GRAPH_TYPES)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--graph"]:
        graph(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]))
