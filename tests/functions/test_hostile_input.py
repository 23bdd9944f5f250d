"""Hostile and broken input end to end, through QueueBuilder and the runner (real translator, twins):
a specific reason, a FAILED record, the body in quarantine, the account's session goes on, nothing is
lost, and nothing is read from a file or the network."""

import socket
import threading
from decimal import Decimal
from pathlib import Path

import pytest

import bootstrap
from bench.statements import EntrySpec, StatementSpec, build, random_entries
from shared.model import RecordState, delivery_key_for
from shared.settings import Settings
from tests.unit.test_settings import LOCAL
from tests.unit.twins import inbound, twin_ports

CORPUS = Path(__file__).parents[1] / "hostile" / "corpus"
ACCOUNT = "DE89370400440532013000"
EXPECTED = {
    "xxe_file.xml": "unsafe-xml",
    "xxe_url.xml": "unsafe-xml",
    "xxe_parameter_entity.xml": "unsafe-xml",
    "billion_laughs.xml": "unsafe-xml",
    "doctype_internal.xml": "unsafe-xml",
    "not_xml.txt": "invalid-xml",
    "not_utf8.xml": "invalid-xml",
    "truncated.xml": "invalid-xml",
    "pain001.xml": "not-camt053",
    "camt052.xml": "missing-element",  # a camt.052 that states no currency anywhere
    "camt054.xml": "not-camt053",
    "missing_mandatory.xml": "missing-element",
    "oversized": "too-large",
    "unbalanced": "unbalanced",
    "mixed_currency": "mixed-currency",
}
MAX_BODY = 2_000_000
BICS = {"DEFAULT_SENDER_BIC": "BANKDEFFXXX", "DEFAULT_RECEIVER_BIC": "BANKUS33XXX"}


class Listener:
    """A loopback TCP listener that records every connection (the XXE URL's target)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def statement(statement_id: str, entries: list[EntrySpec], **changes: object) -> bytes:
    return build([StatementSpec(statement_id=statement_id, account=ACCOUNT, entries=entries, **changes)])  # type: ignore[arg-type]


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary.txt"
    path.write_text("CANARY-SECRET-7f3a")
    return path


def bodies(canary: Path, listener: Listener) -> dict[str, bytes]:
    found = {}
    for path in sorted(CORPUS.iterdir()):
        raw = path.read_bytes().replace(b"{CANARY_PATH}", str(canary).encode())
        found[path.name] = raw.replace(b"{CANARY_URL}", f"http://127.0.0.1:{listener.port}/x".encode())
    one = [EntrySpec(amount=Decimal("10.00"), end_to_end_id="E1")]
    found["oversized"] = statement("S-BIG", random_entries(8_000))  # > MAX_BODY
    found["unbalanced"] = statement("S-UNBAL", one, closing=Decimal("999.99"))
    found["mixed_currency"] = statement(
        "S-MIXED", [EntrySpec(amount=Decimal("5.00"), currency="EUR")], currency="CHF"
    )
    return found


@pytest.mark.integration  # listens on a loopback port (the XXE canary): the tier of tests that start servers
def test_every_bad_input_is_recorded_quarantined_and_the_session_goes_on(canary: Path) -> None:
    listener = Listener()
    settings = Settings.from_mapping({**LOCAL, **BICS, "MAX_BODY_BYTES": str(MAX_BODY)})
    ports = twin_ports()
    region = bootstrap.wire(settings, ports)
    region.watchdog.tick()
    bad = bodies(canary, listener)
    assert len(bad["oversized"]) > MAX_BODY
    good = {f"good-{i}": statement(f"S-GOOD-{i}", random_entries(3, seed=i)) for i in range(4)}
    # Interleave: each bad body sits between good statements of the same account.
    order: list[tuple[str, bytes]] = []
    for i, (name, body) in enumerate(bad.items()):
        order.append((name, body))
        if i % 4 == 3:
            order.append((f"good-{i // 4}", good[f"good-{i // 4}"]))
    ids = {}
    for n, (name, body) in enumerate(order):
        ids[name] = f"{n:048x}"
        ports.mq.put(ids[name], body)  # type: ignore[attr-defined]
    while region.queue_builder.run(budget_s=30)["ingested"]:
        pass
    assert ports.mq.depth() == 0
    published = ports.publisher.sent  # type: ignore[attr-defined]
    assert len(published) == len(order)  # nothing lost between MQ and Service Bus
    for message in published:
        region.runner.handle(inbound(message))

    for name, reason in EXPECTED.items():
        record = ports.store.get(ids[name])
        assert record is not None and record.state is RecordState.FAILED, name
        assert record.reason == reason, (name, record.reason, record.details)
        assert record.details["error"], name
        assert ports.quarantine.get(ids[name]) == bad[name], name  # the exact body is kept
    delivered = ports.target.delivered  # type: ignore[attr-defined]
    good_names = [name for name, _ in order if name.startswith("good-")]
    assert list(delivered) == [delivery_key_for(ids[name]) for name in good_names]  # in order, none lost
    records = ports.store.lookup(ids[name] for name in good_names)
    assert all(records[ids[name]].state is RecordState.DELIVERED for name in good_names)
    sessions = {m.message_id: m.session_id for m in published}
    assert {sessions[ids[n]] for n in ("unbalanced", "mixed_currency", "missing_mandatory.xml")} == {ACCOUNT}
    assert sessions[ids["xxe_file.xml"]] == "UNROUTABLE"
    # Nothing was read from the canary file or the network.
    everything = b"".join(delivered.values()) + b"".join(
        str(r).encode() for r in ports.store.lookup(ids.values()).values()
    )
    assert b"CANARY-SECRET" not in everything
    assert listener.connections == 0


def test_a_100k_entry_statement_goes_through_paginated() -> None:
    settings = Settings.from_mapping(LOCAL)
    ports = twin_ports()
    region = bootstrap.wire(settings, ports)
    region.watchdog.tick()
    body = statement("S-HUGE", random_entries(100_000))
    ports.mq.put("ee" * 24, body)  # type: ignore[attr-defined]
    region.queue_builder.run(budget_s=60)
    [message] = ports.publisher.sent  # type: ignore[attr-defined]
    region.runner.handle(inbound(message))
    fin = ports.target.delivered[delivery_key_for("ee" * 24)].decode()  # type: ignore[attr-defined]
    pages = fin.count("{1:F01")
    assert pages > 100 and fin.count(":61:") == 100_000
    assert f":28C:42/{pages}\r\n" in fin and ":62F:" in fin and fin.count(":62M:") == pages - 1
