"""Helpers for the infrastructure tests: read Bicep with pycep-parser, read .bicepparam files.

No Bicep compiler can be installed without outside network access, so these tests parse every
``.bicep`` file with the PyPI ``pycep-parser`` (pinned in requirements-dev.txt), which turns Bicep into
JSON and raises on syntax errors. pycep-parser does not read ``.bicepparam`` files (it knows no
``using`` statement), so :func:`parse_bicepparam` is a small parser of its own for what the project's
parameter files hold: one ``using '<template>'`` line and ``param <name> = <literal>`` lines, where a
literal is a string, an integer, ``true``/``false``/``null``, an array or an object of literals
(https://learn.microsoft.com/azure/azure-resource-manager/bicep/parameter-files). Anything else (an
expression, an interpolation) is rejected: parameter files stay plain data.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

_MODULE_PATH = re.compile(r"^\s*module\s+\w+\s+'([^']+)'", re.MULTILINE)
_IMPORT_PATH = re.compile(r"^\s*import\s+.*?from\s+'([^']+)'", re.MULTILINE)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@lru_cache(maxsize=1)
def _parser() -> BicepParser:
    return BicepParser()


@cache
def parse_bicep(path: Path) -> dict[str, Any]:
    """The pycep JSON of one Bicep file (raises on a syntax error)."""
    result: dict[str, Any] = dict(_parser().parse(file_path=path))
    return result


def local_references(path: Path) -> list[Path]:
    """Every local file a Bicep file refers to: module paths and compile-time import paths."""
    text = path.read_text()
    refs = _MODULE_PATH.findall(text) + _IMPORT_PATH.findall(text)
    return [(path.parent / ref).resolve() for ref in refs if not ref.startswith("br")]


def key(name: str) -> str:
    """pycep keeps the quotes of quoted object keys (``'AzureWebJobs.x.Disabled'``): drop them."""
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == "'" else name


def module_config(module: dict[str, Any]) -> dict[str, Any]:
    """A module's body, whether it is declared once or in a ``for`` loop / ``if`` condition."""
    config: dict[str, Any] = module["config"]
    return config["config"] if "loop_type" in config or "condition" in config else config


def required_params(template: dict[str, Any]) -> set[str]:
    return {name for name, p in template.get("parameters", {}).items() if p.get("default") is None}


def allowed_values(param: dict[str, Any]) -> list[Any] | None:
    for decorator in param.get("decorators", []):
        if decorator.get("type") == "allowed":
            return list(decorator["argument"])
    return None


@dataclass(frozen=True)
class ParamFile:
    """A parsed ``.bicepparam`` file."""

    path: Path
    using: Path
    values: dict[str, Any]


class BicepParamError(ValueError):
    """A parameter file this parser does not accept; the message names the file and position."""


class _Reader:
    def __init__(self, text: str, origin: str) -> None:
        self.text = _strip_comments(text)
        self.pos = 0
        self.origin = origin

    def fail(self, what: str) -> BicepParamError:
        line = self.text.count("\n", 0, self.pos) + 1
        return BicepParamError(f"{self.origin}:{line}: {what}")

    def skip(self, newlines: bool = True) -> None:
        spaces = " \t\r\n" if newlines else " \t\r"
        while self.pos < len(self.text) and self.text[self.pos] in spaces:
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, token: str) -> None:
        self.skip()
        if not self.text.startswith(token, self.pos):
            raise self.fail(f"expected {token!r}")
        self.pos += len(token)

    def word(self) -> str:
        self.skip()
        match = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(self.text, self.pos)
        if not match:
            raise self.fail("expected a name")
        self.pos = match.end()
        return match.group()

    def string(self) -> str:
        self.expect("'")
        out: list[str] = []
        while True:
            char = self.peek()
            if not char or char == "\n":
                raise self.fail("unterminated string")
            self.pos += 1
            if char == "'":
                return "".join(out)
            if char == "\\":
                escaped = self.peek()
                self.pos += 1
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(escaped, escaped))
            elif char == "$" and self.peek() == "{":
                raise self.fail("interpolation is not a literal")
            else:
                out.append(char)

    def value(self) -> Any:
        self.skip()
        char = self.peek()
        if char == "'":
            return self.string()
        if char == "[":
            self.pos += 1
            items: list[Any] = []
            while True:
                self.skip()
                if self.peek() == "]":
                    self.pos += 1
                    return items
                items.append(self.value())
                self.skip()
                if self.peek() == ",":
                    self.pos += 1
        if char == "{":
            self.pos += 1
            obj: dict[str, Any] = {}
            while True:
                self.skip()
                if self.peek() == "}":
                    self.pos += 1
                    return obj
                name = self.string() if self.peek() == "'" else self.word()
                self.expect(":")
                if name in obj:
                    raise self.fail(f"duplicate key {name!r}")
                obj[name] = self.value()
                self.skip()
                if self.peek() == ",":
                    self.pos += 1
        match = re.compile(r"-?\d+\b|true\b|false\b|null\b").match(self.text, self.pos)
        if not match:
            raise self.fail("expected a literal (string, integer, bool, null, array or object)")
        self.pos = match.end()
        token = match.group()
        keywords: dict[str, Any] = {"true": True, "false": False, "null": None}
        return keywords[token] if token in keywords else int(token)


def _strip_comments(text: str) -> str:
    """Remove // and /* */ comments outside strings, keeping line breaks (for error positions)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif char == "'":
                in_string = False
        elif char == "'":
            in_string = True
            out.append(char)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            end = text.index("*/", i + 2)
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)


def parse_bicepparam_text(text: str, origin: str = "<text>") -> tuple[str, dict[str, Any]]:
    """``(using path, {param: value})`` of a parameter file's text."""
    reader = _Reader(text, origin)
    reader.skip()
    if reader.word() != "using":
        raise reader.fail("a parameter file starts with `using '<template>'`")
    using = reader.string()
    values: dict[str, Any] = {}
    while True:
        reader.skip()
        if not reader.peek():
            return using, values
        if reader.word() != "param":
            raise reader.fail("expected `param <name> = <value>`")
        name = reader.word()
        reader.expect("=")
        if name in values:
            raise reader.fail(f"param {name} set twice")
        values[name] = reader.value()
        reader.skip(newlines=False)
        if reader.peek() not in ("\n", ""):
            raise reader.fail(f"param {name}: unexpected text after the value")


def parse_bicepparam(path: Path) -> ParamFile:
    using, values = parse_bicepparam_text(path.read_text(), str(path.relative_to(ROOT)))
    return ParamFile(path=path, using=(path.parent / using).resolve(), values=values)


def blueprint_functions() -> set[str]:
    """The function names the blueprints register (``@bp.function_name("...")``), read from source."""
    names: set[str] = set()
    for path in ROOT.glob("*/blueprint.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "function_name":
                names.update(str(a.value) for a in node.args if isinstance(a, ast.Constant))
    return names
