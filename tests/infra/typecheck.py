"""Check Bicep resource declarations against the Bicep compiler's own type library.

The type data is the vendored subset of Azure/bicep-types-az in ``tests/infra/types/`` (provenance
and MIT licence there): for each ``'<type>@<apiVersion>'`` a ``ResourceType`` whose body is an
``ObjectType`` tree of properties, string-literal unions (enums), arrays and discriminated objects.
:func:`check_template` walks every resource of a pycep-parsed template (tests/infra/bicep.py) along
that tree and reports what ``az bicep build`` would: an unknown type or API version, a property name
the type does not have (at any depth), a read-only property set, a required property missing from an
object literal, and a literal value outside a closed enum or of the wrong primitive type.

Values the parser cannot see through (function calls, operators, parameters) are not checked: pycep
writes an identifier and a string literal alike as a Python string, so a string equal to a name
declared in the template is treated as that reference, and a variable holding an object or array
literal is checked as that literal. Property names compare exactly (Bicep flags a case mismatch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

TYPES = Path(__file__).resolve().parent / "types"

# Keys of a resource declaration that are Bicep syntax, not properties of the resource body.
DECLARATION_KEYWORDS = {"parent", "scope", "dependsOn"}

READ_ONLY = 2
REQUIRED = 1


@cache
def _index() -> dict[str, str]:
    resources: dict[str, str] = json.loads((TYPES / "index.json").read_text())["resources"]
    return {name.lower(): ref for name, ref in resources.items()}


@cache
def _file(name: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((TYPES / name).read_text())
    return loaded


def resource_body(kind: str, api_version: str) -> tuple[str, dict[str, Any]] | None:
    """``(file, body type)`` of a resource type at an API version, or None if the library lacks it."""
    ref = _index().get(f"{kind}@{api_version}".lower())
    if ref is None:
        return None
    name, _, number = ref.partition("#/")
    resource = _file(name)[int(number)]
    return name, _deref(name, resource["body"])


def _deref(name: str, ref: dict[str, Any]) -> dict[str, Any]:
    return _file(name)[int(ref["$ref"].removeprefix("#/"))]


def _key(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == "'" else name


def _is_expression(value: Any) -> bool:
    """A pycep expression node (function call, operator, lambda) rather than an object literal."""
    if not isinstance(value, dict) or len(value) != 1:
        return isinstance(value, dict) and value.get("type") == "lambda_expression"
    (inner,) = value.values()
    return next(iter(value)) in {"function", "operator"} and isinstance(inner, dict) and "type" in inner


def _loop_body(value: Any) -> Any:
    """The item of a ``[for ...]`` / ``if`` node, or None when ``value`` is not one."""
    if isinstance(value, dict) and "config" in value and ("loop_type" in value or "condition" in value):
        return value["config"]
    return None


@dataclass
class Context:
    """Names declared in one template (references, not literals) and its literal variables."""

    names: set[str]
    variables: dict[str, Any]
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, template: dict[str, Any]) -> Context:
        names: set[str] = set()
        for section in ("parameters", "variables", "resources", "modules", "outputs", "imports"):
            names.update(template.get(section, {}))
        _collect_local_names(template, names)
        variables = {name: v["value"] for name, v in template.get("variables", {}).items()}
        return cls(names=names, variables=variables)


def _collect_local_names(node: Any, names: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"item_name", "index_name"} or (key.startswith("var_") and isinstance(value, str)):
                names.add(value)
            _collect_local_names(value, names)
    elif isinstance(node, list):
        for item in node:
            _collect_local_names(item, names)


def _literal(value: Any, context: Context, seen: frozenset[str] = frozenset()) -> Any:
    """``value`` with a reference to a literal variable replaced by that literal; None if opaque."""
    if isinstance(value, str) and value in context.names:
        if value in context.variables and value not in seen:
            return _literal(context.variables[value], context, seen | {value})
        return None
    if _is_expression(value):
        return None
    return value


def check_value(file: str, type_node: dict[str, Any], value: Any, path: str, context: Context) -> None:
    """Check one value against one type node, appending findings to ``context.errors``."""
    value = _literal(value, context)
    if value is None:
        return
    body = _loop_body(value)
    if body is not None and type_node["$type"] != "ArrayType":
        check_value(file, type_node, body, path, context)
        return
    kind = type_node["$type"]
    if kind == "ObjectType":
        _check_object(
            file, type_node.get("properties", {}), type_node.get("additionalProperties"), value, path, context
        )
    elif kind == "DiscriminatedObjectType":
        _check_discriminated(file, type_node, value, path, context)
    elif kind == "ArrayType":
        items = [body] if body is not None else value if isinstance(value, list) else None
        if items is None:
            context.errors.append(f"{path}: expected an array")
            return
        for i, item in enumerate(items):
            check_value(file, _deref(file, type_node["itemType"]), item, f"{path}[{i}]", context)
    elif kind == "UnionType":
        _check_union(file, type_node, value, path, context)
    elif kind == "StringLiteralType":
        if not isinstance(value, str) or value.lower() != type_node["value"].lower():
            context.errors.append(f"{path}: {value!r} is not {type_node['value']!r}")
    else:
        _check_primitive(kind, value, path, context)


def _check_primitive(kind: str, value: Any, path: str, context: Context) -> None:
    expected = {"StringType": str, "IntegerType": int, "BooleanType": bool}.get(kind)
    if expected is None:  # AnyType
        return
    wrong = not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    if wrong:
        context.errors.append(f"{path}: {value!r} is not a {kind.removesuffix('Type').lower()}")


def _check_object(
    file: str,
    properties: dict[str, Any],
    additional: dict[str, Any] | None,
    value: Any,
    path: str,
    context: Context,
    keywords: frozenset[str] = frozenset(),
) -> None:
    if not isinstance(value, dict):
        context.errors.append(f"{path}: expected an object, got {value!r}")
        return
    given = {_key(k): v for k, v in value.items()}
    for name, item in given.items():
        if name in keywords:
            continue
        if name in properties:
            spec = properties[name]
            if spec.get("flags", 0) & READ_ONLY and not spec.get("flags", 0) & REQUIRED:
                context.errors.append(f"{path}.{name}: read-only property")
            check_value(file, _deref(file, spec["type"]), item, f"{path}.{name}", context)
        elif additional is not None:
            check_value(file, _deref(file, additional), item, f"{path}.{name}", context)
        else:
            context.errors.append(f"{path}.{name}: unknown property (known: {', '.join(sorted(properties))})")
    for name, spec in properties.items():
        flags = spec.get("flags", 0)
        if flags & REQUIRED and not flags & READ_ONLY and name not in given:
            context.errors.append(f"{path}: required property {name} missing")


def _check_discriminated(
    file: str,
    node: dict[str, Any],
    value: Any,
    path: str,
    context: Context,
    keywords: frozenset[str] = frozenset(),
) -> None:
    if not isinstance(value, dict):
        context.errors.append(f"{path}: expected an object")
        return
    chosen = {_key(k): v for k, v in value.items()}.get(node["discriminator"])
    elements = {name.lower(): ref for name, ref in node["elements"].items()}
    if isinstance(chosen, str) and chosen not in context.names:
        if chosen.lower() not in elements:
            context.errors.append(
                f"{path}.{node['discriminator']}: {chosen!r} is not one of {sorted(node['elements'])}"
            )
            return
        element = _deref(file, elements[chosen.lower()])
        merged = {**node["baseProperties"], **element.get("properties", {})}
        _check_object(file, merged, element.get("additionalProperties"), value, path, context, keywords)
        return
    # Discriminator not a literal: accept any property some variant has.
    merged = dict(node["baseProperties"])
    for ref in elements.values():
        merged.update(_deref(file, ref).get("properties", {}))
    relaxed = {name: {**spec, "flags": spec.get("flags", 0) & ~REQUIRED} for name, spec in merged.items()}
    _check_object(file, relaxed, None, value, path, context, keywords)


def _check_union(file: str, node: dict[str, Any], value: Any, path: str, context: Context) -> None:
    members = [_deref(file, ref) for ref in node["elements"]]
    if isinstance(value, str):
        if any(m["$type"] in {"StringType", "AnyType"} for m in members):
            return
        literals = [m["value"] for m in members if m["$type"] == "StringLiteralType"]
        if literals and value.lower() not in {v.lower() for v in literals}:
            context.errors.append(f"{path}: {value!r} is not one of {literals}")
        return
    candidates = [m for m in members if m["$type"] not in {"StringLiteralType", "StringType"}]
    if not candidates:
        context.errors.append(f"{path}: expected one of the string values, got {value!r}")
        return
    attempts: list[list[str]] = []
    for member in candidates:
        trial = Context(names=context.names, variables=context.variables)
        check_value(file, member, value, path, trial)
        if not trial.errors:
            return
        attempts.append(trial.errors)
    fewest = sorted(attempts, key=len)[0]  # the member the value came closest to
    context.errors.extend(fewest)


def check_template(template: dict[str, Any], origin: str) -> list[str]:
    """Every finding for every resource of one pycep-parsed template."""
    context = Context.of(template)
    for name, resource in template.get("resources", {}).items():
        where = f"{origin} resource {name} ({resource['type']}@{resource['api_version']})"
        found = resource_body(resource["type"], resource["api_version"])
        if found is None:
            context.errors.append(f"{where}: type or API version not in the Bicep type library")
            continue
        file, body = found
        config = resource["config"]
        config = config["config"] if "loop_type" in config or "condition" in config else config
        if resource["existing"]:
            unexpected = set(map(_key, config)) - {"name"} - DECLARATION_KEYWORDS
            if unexpected:
                context.errors.append(
                    f"{where}: an existing resource takes only name/parent/scope: {unexpected}"
                )
            continue
        keywords = frozenset(DECLARATION_KEYWORDS)
        if body["$type"] == "DiscriminatedObjectType":  # e.g. a child type discriminated by its name
            _check_discriminated(file, body, config, where, context, keywords)
        else:
            _check_object(file, body.get("properties", {}), None, config, where, context, keywords)
    return context.errors
