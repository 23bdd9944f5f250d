#!/usr/bin/env python3
"""Fix @vercel/cosmosdb-server 1.0.1 answering HTTP 500 instead of 404 for a missing document id.

Its read-document handler compares the partition key of the stored item without checking that an item
was found (``data[path]`` on ``undefined``: "Cannot read properties of undefined (reading 'pk')"), so
a point read of a missing id fails with 500. The Cosmos DB REST API answers 404 NotFound
(https://learn.microsoft.com/rest/api/cosmos-db/get-a-document). This inserts the missing guard.

Idempotent (a marker comment shows the patch is in) and safe on a fresh ``npm ci``: run it before
starting the server (``python -m dev.stack up`` does). Exit status 0 when the file is patched (now
or before), 1 when the file is missing or does not look like the version this patch was written for.

Usage: scripts/patch-cosmosdb-server.py [node_modules directory]
"""

from __future__ import annotations

import sys
from pathlib import Path

HANDLER = Path("@vercel/cosmosdb-server/lib/handler/read-document.js")
MARKER = "/* statement-bridge patch: 404 for a missing id */"
ANCHOR = "        const data = collection.document(docId, parsedPartitionKey).read();\n"
GUARD = (
    f"        {MARKER}\n"
    "        if (!data) {\n"
    "            res.statusCode = 404;\n"
    "            return {\n"
    '                code: "NotFound",\n'
    '                message: "Entity with the specified id does not exist in the system.,"\n'
    "            };\n"
    "        }\n"
)


def patch(node_modules: Path) -> str:
    """Patch the handler under ``node_modules``; return what happened (``patched``/``already``)."""
    path = node_modules / HANDLER
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `npm ci` first")
    text = path.read_text(encoding="utf-8")
    if MARKER in text:
        return "already"
    if text.count(ANCHOR) != 1:
        raise ValueError(f"{path}: unexpected content (not cosmosdb-server 1.0.1?); patch not applied")
    path.write_text(text.replace(ANCHOR, ANCHOR + GUARD), encoding="utf-8")
    return "patched"


def main(argv: list[str]) -> int:
    node_modules = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "node_modules"
    try:
        outcome = patch(node_modules)
    except (OSError, ValueError) as error:
        print(f"patch-cosmosdb-server: {error}", file=sys.stderr)
        return 1
    print(f"patch-cosmosdb-server: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
