"""Per-account translation policy: which balance treatment each account's statements get.

``BALANCE_POLICIES`` (parsed by :func:`shared.settings.parse_policies`) is a JSON object, account
id (IBAN or ``Othr/Id``, the Service Bus session id) or ``*`` → ``strict`` | ``as-sent``, the
same shape as ``STATEMENT_FORMATS`` (the per-account message format choice):
``{"*": "strict", "CH9300762011623852957": "as-sent"}``. An account not named takes ``*``, else
``TRANSLATION_BALANCE_MODE``.

* ``strict`` refuses a statement whose opening balance plus booked entries is not its CLBD, or that has
  no OPBD/PRCD opening balance (``transformation_runner.translate``);
* ``as-sent`` keeps the bank's CLBD and reports the difference, and opens with ITBD when that is the
  only opening figure (docs/translation.md, "Balances").

:class:`PolicyTranslator` is the runner's translate function: it reads the account from the body's
header (:func:`~transformation_runner.translate.account_of`, which stops at the first entry), applies
the account's policy and returns the result with ``policy`` ("as-sent (account CH93…)"), which the
runner records in the idempotency record (``details.balance_policy``) so the trace and the
reconciliation report show the policy each statement was translated under; a refusal carries the
policy it was refused under (``error.balance_policy``), recorded with the FAILED record the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from shared.errors import PermanentError
from shared.settings import Settings
from transformation_runner.translate import (
    BALANCE_MODES,
    TranslationOptions,
    TranslationResult,
    account_of,
    camt053,
    translate,
)
from transformation_runner.translate.model import AppHeader, StatementHeader

DEFAULT_KEY = "*"
_BIC = re.compile(r"[A-Z0-9]{8}([A-Z0-9]{3})?")


def translator_for(settings: Settings) -> PolicyTranslator:
    """The translate function of ``settings``: default BICs, size limit, formats, policies (one place)."""
    options = TranslationOptions(
        sender_bic=settings.default_sender_bic,
        receiver_bic=settings.default_receiver_bic,
        balance_mode=settings.balance_mode,
        max_bytes=settings.max_body_bytes,
        formats=dict(settings.statement_formats),
    )
    return PolicyTranslator(options, PolicyTable(dict(settings.balance_policies), settings.balance_mode))


@dataclass(frozen=True)
class PolicyTable:
    """The configured policies and the global default they fall back to."""

    policies: Mapping[str, str]
    default_mode: str = "strict"

    def mode_for(self, account: str, sender_bics: tuple[str, ...] = ()) -> tuple[str, str]:
        """``(mode, source)``: the account's policy, else its sender BIC's (11 characters, then the
        8-character institution code), else ``*``'s, else the global default."""
        if account in self.policies:
            return self.policies[account], "account"
        for bic in sender_bics:
            for key in dict.fromkeys((bic, bic[:8])):
                if key in self.policies:
                    return self.policies[key], f"sender BIC {key}"
        if DEFAULT_KEY in self.policies:
            return self.policies[DEFAULT_KEY], DEFAULT_KEY
        return self.default_mode, "default"

    def names_bics(self) -> bool:
        """Whether any key could be a BIC (8 or 11 letters and digits): only then are BICs read."""
        return any(_BIC.fullmatch(key) for key in self.policies)


def subjects(body: bytes, max_bytes: int) -> tuple[str, tuple[str, ...]]:
    """The first statement's account and its sender BICs (AppHdr ``Fr``, then ``Acct/Svcr``), read
    from the start of the body up to the first statement's header (as ``account_of`` does)."""
    account = account_of(body, max_bytes)  # validates the body; raises the translator's errors
    sender: str | None = None
    events = camt053.read(body, max_bytes)
    try:
        for event in events:
            if isinstance(event, AppHeader):
                sender = event.sender_bic
            elif isinstance(event, StatementHeader):
                return account, tuple(b for b in dict.fromkeys((sender, event.servicer_bic)) if b)
    finally:
        events.close()
    return account, ()


@dataclass(frozen=True)
class PolicyTranslation:
    """A translation result and the policy it was made under."""

    result: TranslationResult
    policy: str

    @property
    def messages(self) -> list[str]:
        return self.result.messages

    @property
    def report(self) -> list[dict[str, object]]:
        return self.result.report

    @property
    def formats(self) -> tuple[str, ...]:
        return self.result.formats


@dataclass(frozen=True)
class PolicyTranslator:
    """``translate`` with the balance mode of the statement's account (or an explicit override)."""

    options: TranslationOptions
    table: PolicyTable

    def __call__(self, body: bytes) -> PolicyTranslation:
        if self.table.names_bics():
            account, bics = subjects(body, self.options.max_bytes)
        else:
            account, bics = account_of(body, self.options.max_bytes), ()
        mode, source = self.table.mode_for(account, bics)
        return self.with_mode(body, mode, f"{source} policy")

    def with_mode(self, body: bytes, mode: str, why: str) -> PolicyTranslation:
        """Translate under ``mode`` (an operator's explicit policy on resubmit, or the table's)."""
        if mode not in BALANCE_MODES:
            raise ValueError(f"policy {mode!r} is not one of {', '.join(BALANCE_MODES)}")
        policy = f"{mode} ({why})"
        try:
            result = translate(body, replace(self.options, balance_mode=mode))
        except PermanentError as error:
            error.balance_policy = policy  # type: ignore[attr-defined]  # the runner records it with FAILED
            raise
        return PolicyTranslation(result, policy)
