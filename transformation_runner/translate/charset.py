"""The SWIFT FIN X character set and how any Unicode text is brought into it.

SWIFT MT fields of type ``x`` accept only ``a-z A-Z 0-9 / - ? : ( ) . , ' +`` and space (SWIFT User
Handbook, Standards MT General Information, "Character set X"). :func:`to_x` transliterates the
rest: letters with diacritics lose them (``ü`` → ``u``, ``é`` → ``e``, via Unicode NFKD), a few
letters and symbols have conventional spellings (``ß`` → ``ss``, ``€`` → ``EUR``), whitespace runs
become one space, and anything else becomes ``.``.
"""

from __future__ import annotations

import re
import unicodedata

X_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")
X_CLASS = r"[A-Za-z0-9/\-?:().,'+ ]"

_SPELLED = {
    "ß": "ss",
    "ẞ": "SS",
    "Æ": "AE",
    "æ": "ae",
    "Ø": "O",
    "ø": "o",
    "Œ": "OE",
    "œ": "oe",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ð": "D",
    "ð": "d",
    "Þ": "TH",
    "þ": "th",
    "ı": "i",
    "€": "EUR",
    "£": "GBP",
    "$": "USD",
    "¥": "JPY",
    "&": "+",
    "‘": "'",
    "’": "'",
    "‚": ",",
    "–": "-",
    "—": "-",
}
_ALL_X = re.compile(X_CLASS + "*")
# A text to_x() returns unchanged: X characters only, single spaces between words, none at the ends.
PLAIN_X = re.compile(r"[A-Za-z0-9/\-?:().,'+]+(?: [A-Za-z0-9/\-?:().,'+]+)*")


def _char(ch: str) -> str:
    if ch in X_CHARACTERS:
        return ch
    if ch in _SPELLED:
        return _SPELLED[ch]
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if decomposed and all(c in X_CHARACTERS for c in decomposed):
        return decomposed
    return "."


_NOT_X = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")
_CACHE: dict[str, str] = {}


def _replace(match: re.Match[str]) -> str:
    ch = match.group()
    value = _CACHE.get(ch)
    if value is None:
        value = _CACHE[ch] = _char(ch)
    return value


_LAST: list[tuple[str, str]] = [("", "")]  # the last text with a character mapped, and its result


def to_x(text: str) -> str:
    """Return ``text`` in the X set: whitespace collapsed and stripped, other characters mapped.

    The last text that needed a mapping is remembered (one tuple, replaced whole, so threads never
    see half of it): MT940/MT942 convert the same ``AddtlNtryInf`` for field 61 and field 86.
    """
    last = _LAST[0]
    if last[0] == text:
        return last[1]
    # Whitespace runs become one space, ends stripped: str.split() uses str.isspace(), as re's \s does.
    collapsed = " ".join(text.split())
    if _NOT_X.search(collapsed) is None:
        return collapsed
    value = _NOT_X.sub(_replace, collapsed)
    _LAST[0] = (text, value)
    return value


def is_x(text: str) -> bool:
    """True when every character of ``text`` is in the X set (CR and LF are not)."""
    return _ALL_X.fullmatch(text) is not None


def truncate(text: str, length: int) -> str:
    """Cut ``text`` to ``length`` characters: the first ``length - 1`` and a final ``+``."""
    if len(text) <= length:
        return text
    return text[: length - 1] + "+"
