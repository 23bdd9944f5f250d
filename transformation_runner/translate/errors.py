"""Why a camt.053 or camt.052 body cannot be translated: one :class:`~shared.errors.PermanentError` per cause.

Every error carries a short machine-readable :attr:`reason` (the runner records it with the quarantined
body) and a sentence that names what a person must look at: the statement id, the element path, the
offending value. :func:`transformation_runner.translate.translate` raises nothing else.
"""

from __future__ import annotations

from shared.errors import PermanentError


class TranslationError(PermanentError):
    """Base of every translator error; ``str(error)`` is the actionable sentence."""

    reason = "translation-error"


class UnsafeXml(TranslationError):
    """The body carries a DOCTYPE or entity declaration (XXE, entity expansion): never parsed."""

    reason = "unsafe-xml"


class InvalidXml(TranslationError):
    """The body is not well-formed XML (or not XML at all, or not in an ASCII-compatible encoding)."""

    reason = "invalid-xml"


class TooLarge(TranslationError):
    """The body exceeds the configured size limit (``TranslationOptions.max_bytes``)."""

    reason = "too-large"


class NotCamt053(TranslationError):
    """The XML is another message type (pain.001, camt.054, ...) or no ISO 20022 Document at all.

    The reason code keeps its name from when camt.053 was the only input; camt.052 is read too."""

    reason = "not-camt053"


class FormatMismatch(TranslationError):
    """The requested MT cannot be made from this document: MT942 is made from camt.052 (an
    intraday report), MT940 and MT950 from camt.053 (a statement)."""

    reason = "format-mismatch"


class MissingElement(TranslationError):
    """A mandatory element (statement id, opening or closing balance, entry amount, ...) is absent."""

    reason = "missing-element"


class InvalidValue(TranslationError):
    """An element holds a value the mapping cannot carry (bad date, amount, indicator, BIC, ...)."""

    reason = "invalid-value"


class MixedCurrency(TranslationError):
    """A balance or entry is not in the statement's currency; an MT series has one currency."""

    reason = "mixed-currency"


class Unbalanced(TranslationError):
    """Opening balance plus booked entries does not equal the closing balance (strict mode)."""

    reason = "unbalanced"


class NoBic(TranslationError):
    """No sender or receiver BIC in the AppHdr, the account, or the configured defaults."""

    reason = "no-bic"


class InvalidOutput(TranslationError):
    """A produced message failed its own format validation: a translator defect, never sent."""

    reason = "invalid-output"
