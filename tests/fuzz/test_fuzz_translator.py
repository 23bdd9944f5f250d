"""Fuzzing the camt.053 reader and the translator (hypothesis, bounded): whatever the input, the only
exceptions that escape are the project's own ``PermanentError`` subclasses, and a produced message
always passes its own validation (``InvalidOutput`` would be our defect).

The budget is set by ``FUZZ_EXAMPLES`` (default 500 per strategy; CI uses the default).
"""

import os
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from bench.statements import EntrySpec, StatementSpec, build, random_entries
from shared.errors import PermanentError
from transformation_runner.translate import TranslationOptions, account_of, translate
from transformation_runner.translate.errors import InvalidOutput

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
OPTIONS = TranslationOptions(sender_bic="BANKDEFFXXX", receiver_bic="BANKUS33XXX")
SEED = build(
    [
        StatementSpec(
            entries=[*random_entries(3), EntrySpec(amount=Decimal("1.50"), credit=False, reversal=True)],
            available=Decimal("10.00"),
        )
    ]
)
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=80)  # what lxml can hold


def check(body: bytes) -> None:
    for call in (lambda: translate(body, OPTIONS), lambda: account_of(body)):
        try:
            call()
        except InvalidOutput:
            raise
        except PermanentError:
            pass


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(body: bytes) -> None:
    check(body)


@FUZZ
@given(st.data())
def test_structural_mutations_of_a_valid_statement(data: st.DataObject) -> None:
    tree = etree.fromstring(SEED)
    elements = list(tree.iter())
    for _ in range(data.draw(st.integers(1, 6))):
        target = elements[data.draw(st.integers(0, len(elements) - 1))]
        action = data.draw(st.sampled_from(["delete", "text", "duplicate", "attribute"]))
        parent = target.getparent()
        if action == "delete" and parent is not None:
            parent.remove(target)
            elements = list(tree.iter())
        elif action == "text":
            target.text = data.draw(XML_TEXT)
        elif action == "duplicate" and parent is not None:
            parent.append(etree.fromstring(etree.tostring(target)))
            elements = list(tree.iter())
        elif action == "attribute":
            target.set("Ccy", data.draw(XML_TEXT))
    check(etree.tostring(tree))


@FUZZ
@given(st.integers(0, len(SEED) - 1), st.integers(0, 200), st.binary(max_size=40))
def test_byte_splices(position: int, cut: int, insert: bytes) -> None:
    check(SEED[:position] + insert + SEED[position + cut :])
