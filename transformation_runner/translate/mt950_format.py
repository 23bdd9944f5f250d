"""The MT950 (Statement Message) text block as a table in SWIFT notation, and its validator.

Field formats from the SWIFT User Handbook, Category 9, MT950 "Format Specifications": 20 ``16x``,
25 ``35x``, 28C ``5n[/5n]``, 60a/62a/64 ``1!a6!n3!a15d``, 61
``6!n[4!n]2a[1!a]15d1!a3!c16x[//16x][34x]`` (subfield 9 on its own line). The table is compiled
once at import; :func:`validate_block4` checks a whole text block, including the rules a regex cannot
say (field order, D/C marks, calendar dates, the ``/`` rules of references, the 2,000-character text
block). The writer checks every produced message before it leaves the translator with
:func:`validate_page`: the same checks in the same order, from the fields it already holds.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from transformation_runner.translate.errors import InvalidOutput
from transformation_runner.translate.notation import compile_field, field_regex

BALANCE = (("mark", "1!a"), ("date", "6!n"), ("currency", "3!a"), ("amount", "15d"))
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "20": (("reference", "16x"),),
    "25": (("account", "35x"),),
    "28C": (("statement", "5n"), ("page", "[/5n]")),
    "60F": BALANCE,
    "60M": BALANCE,
    "61": (
        ("value_date", "6!n"),
        ("entry_date", "[4!n]"),
        ("mark", "2a"),
        ("funds_code", "[1!a]"),
        ("amount", "15d"),
        ("type", "1!a3!c"),
        ("reference", "16x"),
        ("servicer_reference", "[//16x]"),
        ("details", "[$34x]"),
    ),
    "62F": BALANCE,
    "62M": BALANCE,
    "64": BALANCE,
}
PATTERNS: dict[str, re.Pattern[str]] = {tag: compile_field(spec) for tag, spec in FIELDS.items()}
MAX_BLOCK4 = 2000
_ORDER = re.compile(r"20 25 28C 60[FM]( 61)* 62[FM]( 64)?")
_FIELD_START = re.compile(r"\r\n:([0-9]{2}[A-Z]?):")


def validate_reference(value: str) -> bool:
    """SWIFT reference rule (fields 20 and 61 sf7): no leading or trailing ``/``, no ``//``."""
    return not (value.startswith("/") or value.endswith("/") or "//" in value)


@lru_cache(maxsize=1024)
def _yymmdd(value: str) -> bool:
    try:
        date(2000 + int(value[:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        return False
    return True


def validate_field(tag: str, value: str) -> dict[str, str | None]:
    """Check one field's content against the table; return its subfields or raise InvalidOutput."""
    pattern = PATTERNS.get(tag)
    match = pattern.match(value) if pattern else None
    if match is None:
        raise InvalidOutput(f"field :{tag}: {value!r} does not match its SWIFT format")
    parts = match.groupdict()
    problems = []
    if tag == "20" and not validate_reference(value):
        problems.append("reference slash rule")
    if tag == "61":
        if parts["mark"] not in {"C", "D", "RC", "RD"}:
            problems.append("debit/credit mark")
        if not validate_reference(parts["reference"] or ""):
            problems.append("reference slash rule")
        details = parts["details"] or ""
        if details[:1] in {"-", ":"}:
            problems.append("continuation line starts with '-' or ':'")
    if tag in {"60F", "60M", "62F", "62M", "64"} and parts["mark"] not in {"C", "D"}:
        problems.append("debit/credit mark")
    if "date" in parts and not _yymmdd(parts["date"] or ""):
        problems.append("date")
    if tag == "61" and not _yymmdd(parts["value_date"] or ""):
        problems.append("value date")
    if problems:
        raise InvalidOutput(f"field :{tag}: {value!r} breaks: {', '.join(problems)}")
    return parts


# Field 61 with a plain x class in subfield 7: wider than PATTERNS["61"] (its reference may hold "//"),
# and several times faster (one character class instead of an alternation per character).
_61_WIDE = compile_field(FIELDS["61"], plain_x=True)
_MARKS_61 = frozenset(("C", "D", "RC", "RD"))
_61_GROUPS = tuple(_61_WIDE.groupindex[name] for name in ("value_date", "mark", "reference", "details"))


def validate_statement_line(value: str) -> None:
    """Check one field 61 content exactly as :func:`validate_field` does, without building a dict.

    Fast path: the wide pattern, then the same checks as :func:`validate_field`. When it matches and
    the reference keeps the slash rule (so holds no ``//``), ``PATTERNS["61"]`` matches too with the
    same groups: both try the same splits in the same order, the wide one at least as many. Anything
    else is handed to :func:`validate_field`, so a bad line raises the very same message.
    """
    match = _61_WIDE.match(value)
    if match is not None:
        value_date, mark, reference, details = match.group(*_61_GROUPS)
        if (
            mark in _MARKS_61
            and not (reference.startswith("/") or reference.endswith("/") or "//" in reference)
            and (details or "")[:1] not in {"-", ":"}
            and _yymmdd(value_date)
        ):
            return
    validate_field("61", value)


# Every field 61 of a page in one match, ``:61:`` + the lines joined by CRLF ``:61:``: the strict
# pattern of the table with the checks of validate_field() written into it (the D/C mark, the slash
# rule of the reference, no continuation line starting with "-" or ":"); only the calendar check of
# the value date stays outside. A page it accepts passes validate_statement_line() line by line; a page
# it refuses goes through validate_statement_line(), which names the line and what it breaks.
_61_RULES = {
    "mark": lambda body: "(?:C|D|RC|RD)",
    "reference": lambda body: f"(?!/){body}(?<!/)",
    "details": lambda body: f"(?![-:]){body}",
}
_61_LINE = field_regex(FIELDS["61"], named=False, rules=_61_RULES)
_61_LINES = re.compile(f":61:{_61_LINE}(?:\r\n:61:{_61_LINE})*")


@lru_cache(maxsize=256)
def _field_ok(tag: str, value: str) -> bool:
    """:func:`validate_field` remembered for values that pass (20 and 25 repeat on every page)."""
    validate_field(tag, value)
    return True


def validate_page(
    block4: str,
    head: list[tuple[str, str]],
    lines: list[str],
    tail: list[tuple[str, str]],
    joined: str = "",
) -> None:
    """Validate a text block the writer assembled as ``head`` fields, ``lines`` (61), ``tail`` fields.

    Same checks, in the same order, as :func:`validate_block4` on ``block4`` (length, field order, then
    every field against the table), without splitting the block again: the writer already holds its
    fields, and no field value can contain a ``CRLF :tag:`` start (the X set has no CR or LF, and a
    61 continuation line never starts with ``:``).
    """
    if len(block4) > MAX_BLOCK4:
        raise InvalidOutput(f"text block is {len(block4)} characters, more than {MAX_BLOCK4}")
    # The lines sit between head and tail, and _ORDER takes any number of 61 there: checking the
    # order of head and tail alone is the same check.
    ends = [tag for tag, _ in head] + [tag for tag, _ in tail]
    if not _ORDER.fullmatch(" ".join(ends)):
        tags = [tag for tag, _ in head] + ["61"] * len(lines) + [tag for tag, _ in tail]
        raise InvalidOutput(f"field order {tags} is not MT950's")
    for tag, value in head:
        _field_ok(tag, value)
    if not (
        lines
        and _61_LINES.fullmatch(joined or ":61:" + "\r\n:61:".join(lines))
        and all(_yymmdd(value_date) for value_date in {line[:6] for line in lines})
    ):
        for line in lines:
            validate_statement_line(line)
    for tag, value in tail:
        _field_ok(tag, value)


def split_block4(block4: str) -> list[tuple[str, str]]:
    """Split a text block ``CRLF :tag:value ... CRLF -`` into (tag, value) pairs."""
    if not block4.startswith("\r\n:") or not block4.endswith("\r\n-"):
        raise InvalidOutput("text block must start with CRLF ':' and end with CRLF '-'")
    body = block4[:-3]
    starts = list(_FIELD_START.finditer(body))
    fields = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(body)
        fields.append((match.group(1), body[match.end() : end]))
    if not starts or starts[0].start() != 0:
        raise InvalidOutput("text block must start with a field tag")
    return fields


def validate_block4(block4: str) -> list[tuple[str, str]]:
    """Validate a whole MT950 text block (between ``{4:`` and ``}``); return its fields in order."""
    if len(block4) > MAX_BLOCK4:
        raise InvalidOutput(f"text block is {len(block4)} characters, more than {MAX_BLOCK4}")
    fields = split_block4(block4)
    if not _ORDER.fullmatch(" ".join(tag for tag, _ in fields)):
        raise InvalidOutput(f"field order {[tag for tag, _ in fields]} is not MT950's")
    for tag, value in fields:
        validate_field(tag, value)
    return fields
