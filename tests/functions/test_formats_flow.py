"""camt.053 and camt.052 through QueueBuilder and the runner (real translator, twins): each body is
sent in the format the settings choose for its account or receiver, and the delivery and the record
say which one."""

from decimal import Decimal

import bootstrap
from bench.statements import EntrySpec, StatementSpec, build
from shared.model import RecordState, delivery_key_for
from shared.settings import Settings
from tests.unit.test_settings import LOCAL
from tests.unit.twins import inbound, twin_ports

CORPORATE = "DE89370400440532013000"  # its owner reads MT940
BANK = "GB29NWBK60161331926819"  # MT950, the default
ONE = [EntrySpec(amount=Decimal("10.00"), end_to_end_id="E1", remittance="Invoice 1")]


def test_each_document_goes_out_in_its_configured_format() -> None:
    settings = Settings.from_mapping({**LOCAL, "STATEMENT_FORMATS": f'{{"{CORPORATE}": "MT940"}}'})
    ports = twin_ports()
    region = bootstrap.wire(settings, ports)
    region.watchdog.tick()
    bodies = {
        "statement-corporate": build([StatementSpec(account=CORPORATE, entries=ONE)]),
        "statement-bank": build([StatementSpec(account=BANK, entries=ONE)]),
        "report-corporate": build([StatementSpec(account=CORPORATE, entries=ONE)], report=True),
    }
    ids = {name: f"{n + 1:048x}" for n, name in enumerate(bodies)}
    for name, body in bodies.items():
        ports.mq.put(ids[name], body)  # type: ignore[attr-defined]
    while region.queue_builder.run(budget_s=30)["ingested"]:
        pass
    published = ports.publisher.sent  # type: ignore[attr-defined]
    assert {m.message_id: m.session_id for m in published} == {
        ids["statement-corporate"]: CORPORATE,
        ids["statement-bank"]: BANK,
        ids["report-corporate"]: CORPORATE,
    }
    for message in published:
        region.runner.handle(inbound(message))
    expected = {"statement-corporate": "MT940", "statement-bank": "MT950", "report-corporate": "MT942"}
    for name, target in expected.items():
        key = delivery_key_for(ids[name])
        payload = ports.target.delivered[key].decode("ascii")  # type: ignore[attr-defined]
        assert f"{{2:I{target[2:]}DEUTDEFFXXXXN}}" in payload, name
        assert (":86:/EREF/E1/REMI/Invoice 1" in payload) is (target != "MT950"), name
        assert ports.target.metadata[key]["format"] == target  # type: ignore[attr-defined]
        record = ports.store.get(ids[name])
        assert record is not None and record.state is RecordState.DELIVERED
        assert record.details["format"] == target
