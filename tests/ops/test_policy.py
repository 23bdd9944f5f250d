"""Per-account balance policy: the table, the translator that applies it, and refusal messages that
name the policy only when it would translate the file."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.statements import EntrySpec, StatementSpec, build
from shared.errors import PermanentError
from shared.settings import parse_policies
from tests.unit.translate.fin import fields, messages
from transformation_runner.policy import PolicyTable, PolicyTranslator
from transformation_runner.translate import TranslationOptions
from transformation_runner.translate.errors import MissingElement, Unbalanced

ACCOUNT, OTHER = "CH9300762011623852957", "DE02120300000000202051"
OPTIONS = TranslationOptions(sender_bic="BANKDEFFXXX", receiver_bic="BANKCHZZXXX")


def statement(account: str, *, closing_off: bool = False, opening: bytes = b"OPBD") -> bytes:
    body = build([StatementSpec(statement_id="S1", account=account, entries=[EntrySpec(Decimal("10.00"))])])
    if closing_off:  # a CLBD the entries do not add up to
        body = body.replace(b"1010.00</Amt>", b"1234.56</Amt>", 1)
    return body.replace(b"<Cd>OPBD</Cd>", b"<Cd>" + opening + b"</Cd>")


def test_parse_policies() -> None:
    assert parse_policies('{"*": "strict", "CH93": "as-sent"}') == (("*", "strict"), ("CH93", "as-sent"))
    for bad, fragment in (
        ("[]", "JSON object"),
        ('{"CH93": "lenient"}', "not one of strict, as-sent"),
        ("{", "not JSON"),
    ):
        with pytest.raises(ValueError, match=fragment):
            parse_policies(bad)


def test_the_table_falls_back_to_star_then_to_the_global_mode() -> None:
    assert PolicyTable({ACCOUNT: "as-sent"}).mode_for(ACCOUNT) == ("as-sent", "account")
    assert PolicyTable({ACCOUNT: "as-sent", "*": "strict"}).mode_for(OTHER) == ("strict", "*")
    assert PolicyTable({}, default_mode="as-sent").mode_for(OTHER) == ("as-sent", "default")


def test_a_sender_bic_policy_applies_unless_the_account_has_its_own() -> None:
    # bench.statements: AppHdr Fr and Acct/Svcr are COBADEFFXXX.
    table = PolicyTable({"COBADEFF": "as-sent", OTHER: "strict"})
    translator = PolicyTranslator(OPTIONS, table)
    kept = translator(statement(ACCOUNT, closing_off=True))
    assert kept.policy == "as-sent (sender BIC COBADEFF policy)"
    with pytest.raises(Unbalanced):
        translator(statement(OTHER, closing_off=True))  # the account's own entry wins
    assert table.mode_for(ACCOUNT, ("COBADEFFXXX",)) == ("as-sent", "sender BIC COBADEFF")
    assert (
        PolicyTable({"COBADEFFXXX": "as-sent"}).mode_for("X", ("COBADEFFXXX",))[1] == "sender BIC COBADEFFXXX"
    )
    assert not PolicyTable({ACCOUNT: "as-sent", "*": "strict"}).names_bics()


def test_the_account_policy_translates_only_its_account() -> None:
    translator = PolicyTranslator(OPTIONS, PolicyTable({ACCOUNT: "as-sent"}))
    kept = translator(statement(ACCOUNT, closing_off=True))
    assert kept.policy == "as-sent (account policy)"
    assert dict(fields(messages(kept.messages[0])[0]))["62F"].endswith("1234,56")
    with pytest.raises(Unbalanced) as refused:
        translator(statement(OTHER, closing_off=True))
    assert "the as-sent balance policy would keep the CLBD" in str(refused.value)
    assert isinstance(refused.value, PermanentError)


def test_a_missing_opening_names_as_sent_only_when_there_is_an_itbd() -> None:
    strict = PolicyTranslator(OPTIONS, PolicyTable({}))
    with pytest.raises(MissingElement) as with_itbd:
        strict(statement(ACCOUNT, opening=b"ITBD"))
    assert "the as-sent balance policy would open with its ITBD" in str(with_itbd.value)
    with pytest.raises(MissingElement) as without:
        strict(statement(ACCOUNT, opening=b"OPAV"))
    assert "as-sent" not in str(without.value)
    as_sent = PolicyTranslator(OPTIONS, PolicyTable({"*": "as-sent"}))
    with pytest.raises(MissingElement) as still:  # as-sent cannot help a file with no ITBD either
        as_sent(statement(ACCOUNT, opening=b"OPAV"))
    assert "as-sent" not in str(still.value)
    assert as_sent(statement(ACCOUNT, opening=b"ITBD")).policy == "as-sent (* policy)"
