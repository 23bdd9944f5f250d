"""What ``func azure functionapp publish`` uploads, and which local modules the app imports.

Azure Functions Core Tools zips the project folder for a Python app less: the directories ``.git`` and
``.vscode``; the files ``.funcignore``, ``.gitignore``, ``local.settings.json``, ``project.lock.json``,
``appsettings.json``; and every path ``.funcignore`` denies (Core Tools' ``GitIgnoreParser``, source:
https://github.com/Azure/azure-functions-core-tools, ``FileSystemHelpers.GetLocalFiles``). The file
uses gitignore syntax (https://learn.microsoft.com/azure/developer/azure-developer-cli/service-packaging-ignore-files),
so git's own matcher applies it here (``git ls-files --ignored --exclude-from``). The project folder
is taken as a clean checkout: the files in git's index.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
ALWAYS_EXCLUDED_DIRS = {".git", ".vscode"}
ALWAYS_EXCLUDED_FILES = {
    ".funcignore",
    ".gitignore",
    "local.settings.json",
    "project.lock.json",
    "appsettings.json",
}


def _git_files(root: Path, *options: str) -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", *options],
        check=True,
        capture_output=True,
    ).stdout
    return {name for name in out.decode().split("\0") if name}


def publish_list(root: Path = ROOT) -> set[str]:
    """Repository-relative paths (``/``-separated) that the publish would upload from ``root``."""
    files = _git_files(root)
    denied = _git_files(root, "--ignored", f"--exclude-from={root / '.funcignore'}")
    return {
        name
        for name in files - denied
        if not ALWAYS_EXCLUDED_DIRS & set(PurePosixPath(name).parts[:-1])
        and PurePosixPath(name).name not in ALWAYS_EXCLUDED_FILES
    }


def module_file(module: str, root: Path = ROOT) -> str | None:
    """The repository file defining ``module`` (``a/b.py`` or ``a/b/__init__.py``), if local."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(root).as_posix()
    return None


def _imported(path: Path, module: str) -> set[str]:
    """Modules ``path`` imports, at any depth of its code (lazy imports inside functions count)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def app_modules(entry: str = "function_app", root: Path = ROOT) -> dict[str, str]:
    """Every local module reachable by imports from ``entry``, with its file, parent packages included."""
    seen: dict[str, str] = {}
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, root)
        if path is None:
            continue  # a third-party or standard-library module, or a name imported from a module
        seen[module] = path
        parents = [module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)]
        todo.extend([*parents, *_imported(root / path, module)])
    return seen
