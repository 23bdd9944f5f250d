"""SWIFT field-format notation compiled into regular expressions, once.

The notation is the one of the SWIFT User Handbook (Standards MT General Information, "Field
formats"): a length then a character class, ``!`` for a fixed length, ``[...]`` for an optional part,
literal separators such as ``/`` and ``//``, and (our addition) ``$`` for a line break (CRLF).

=====  ===========================================================================
class  characters
=====  ===========================================================================
``n``  digits ``0-9``
``a``  upper-case letters ``A-Z``
``c``  upper-case letters and digits
``x``  the X set (see :mod:`.charset`)
``d``  decimal amount: digits with one decimal comma, total length including the comma
=====  ===========================================================================

Lines: ``6*65x`` is up to 6 lines of 1 to 65 X characters each, joined by CRLF; no continuation
line may start with ``-`` or ``:`` (block 4 would read it as its end or as a field tag).

Examples: ``16x`` (1 to 16 X characters), ``5n[/5n]``, ``1!a6!n3!a15d``, ``6*65x``. A field is described as a
sequence of named subfields, e.g. ``(("mark", "2a"), ("amount", "15d"))``, and compiles to one
anchored regex with a named group per subfield (python-stdnum and wolph/mt940 work the same way).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from transformation_runner.translate.charset import X_CLASS

_CLASSES = {"n": "[0-9]", "a": "[A-Z]", "c": "[0-9A-Z]", "x": X_CLASS}
# An x character that cannot start "//": for a subfield followed by an optional "//" subfield.
_X_BEFORE_SEPARATOR = r"(?:[A-Za-z0-9\-?:().,'+ ]|/(?!/))"
_TOKEN = re.compile(r"(\d+)\*(\d+)x|(\d+)(!?)([nacxd])|(\$)|([/,])|(\[)|(\])")


def _amount(length: int) -> str:
    return rf"(?=[0-9,]{{2,{length}}}(?![0-9,]))[0-9]+,[0-9]*"


def notation_to_regex(notation: str, before_separator: bool = False) -> str:
    """Translate one notation string (e.g. ``[//16x]``) into a regex fragment (no anchors).

    With ``before_separator`` (the next subfield is introduced by ``//``), ``x`` runs cannot contain
    ``//``, so the separator starts the next subfield instead of being swallowed (``NONREF//123`` is
    reference ``NONREF``, then ``123``) and every run stays greedy, without backtracking.
    """
    out: list[str] = []
    position = 0
    while position < len(notation):
        match = _TOKEN.match(notation, position)
        if match is None:
            raise ValueError(f"bad SWIFT notation {notation!r} at {position}")
        position = match.end()
        lines, width, length, fixed, kind, newline, literal, opening, closing = match.groups()
        if lines:
            line = f"{X_CLASS}{{1,{width}}}"
            out.append(f"{line}(?:\\r\\n(?![-:]){line}){{0,{int(lines) - 1}}}")
        elif kind == "d":
            out.append(_amount(int(length)))
        elif kind:
            quantifier = f"{{{length}}}" if fixed else f"{{1,{length}}}"
            character = _X_BEFORE_SEPARATOR if kind == "x" and before_separator else _CLASSES[kind]
            out.append(character + quantifier)
        elif newline:
            out.append(r"\r\n")
        elif literal:
            out.append(re.escape(literal))
        elif opening:
            out.append("(?:")
        elif closing:
            out.append(")?")
    return "".join(out)


def compile_field(subfields: Sequence[tuple[str, str]], *, plain_x: bool = False) -> re.Pattern[str]:
    """Compile named subfields into one anchored pattern with a named group per subfield.

    A subfield whose notation is wholly optional (``[4!n]``) becomes an optional group; its literal
    separators (``//``) stay outside the captured value. ``plain_x`` drops the ``//`` guard of
    :func:`notation_to_regex` (a faster, wider pattern: its ``x`` runs may hold ``//``).
    """
    return re.compile(field_regex(subfields, plain_x=plain_x) + r"\Z")


def field_regex(
    subfields: Sequence[tuple[str, str]],
    *,
    plain_x: bool = False,
    named: bool = True,
    rules: Mapping[str, Callable[[str], str]] | None = None,
) -> str:
    """The unanchored regex of :func:`compile_field`; ``named=False`` leaves the groups unnamed
    (so the fragment can repeat in one pattern) and ``rules`` rewrites a subfield's regex by name
    (to add a rule the notation cannot say, e.g. a look-ahead)."""
    parts: list[str] = []
    for index, (name, notation) in enumerate(subfields):
        following = subfields[index + 1][1] if index + 1 < len(subfields) else ""
        separated = not plain_x and following.startswith(("//", "[//"))
        rule = (rules or {}).get(name)
        group = f"(?P<{name}>" if named else "(?:"
        if notation.startswith("[") and notation.endswith("]"):
            inner = notation[1:-1]
            prefix = re.match(r"(\$|//|/)?", inner)
            lead = prefix.group(0) if prefix else ""
            body = notation_to_regex(inner[len(lead) :], separated)
            body = rule(body) if rule else body
            parts.append(f"(?:{notation_to_regex(lead) if lead else ''}{group}{body}))?")
        else:
            body = notation_to_regex(notation, separated)
            parts.append(f"{group}{rule(body) if rule else body})")
    return "".join(parts)
