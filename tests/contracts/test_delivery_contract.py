"""Contract of :class:`shared.ports.DeliveryTarget` (MessageWay): one suite, run against the in-memory
twin, the folder outbox and the MQ put adapter over the fake ``ibmmq`` (``tests/fakes/ibmmq``)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from shared.adapters.ibmmq_source import IbmMqConfig
from shared.adapters.messageway import (
    FolderDeliveryTarget,
    MqDeliveryTarget,
    make_delivery_target,
    read_log,
)
from shared.errors import ServiceUnavailable
from shared.model import delivery_key_for
from shared.ports import DeliveryTarget
from tests import fakes
from tests.twins import InMemoryDeliveryTarget

QMGR, MESSAGEWAY = "QMGW", "MESSAGEWAY.IN"
CONFIG = IbmMqConfig(queue_manager=QMGR, conn_name="127.0.0.1(1414)", channel="BRIDGE.SVRCONN")
MESSAGE_ID = "414d5120514d31202020202020202020aa11bb22cc33dd44"  # an MQ-style MsgId, hex
KEY = delivery_key_for(MESSAGE_ID)
META = {"message_id": MESSAGE_ID, "session_id": "DE89370400440532013000", "region": "DC04", "epoch": "3"}
MT950 = b"{1:F01BANKDEFFAXXX0000000000}{2:I950BANKDEFFXXXXN}{4:\r\n:20:STMT1\r\n-}"


@pytest.fixture
def fake_ibmmq() -> Iterator[ModuleType]:
    """The fake ``ibmmq`` first on ``sys.path`` for one test, removed (and unimported) after."""
    with fakes.fake_ibmmq() as module:
        yield module


class DeliveryHarness(ABC):
    can_tell = True

    @abstractmethod
    def target(self) -> DeliveryTarget: ...

    @abstractmethod
    def received(self, key: str) -> list[bytes]:
        """What the receiver holds under ``key`` as deliveries it can tell apart (one per key)."""

    @abstractmethod
    def go_away(self) -> None: ...

    @abstractmethod
    def come_back(self) -> None: ...


class DeliveryTargetContract:
    """The suite; subclasses provide the ``harness`` fixture."""

    def test_deliver_then_was_delivered(self, harness: DeliveryHarness) -> None:
        target = harness.target()
        assert target.was_delivered(KEY) is (False if harness.can_tell else None)
        target.deliver(KEY, MT950, META)
        assert target.was_delivered(KEY) is (True if harness.can_tell else None)
        assert harness.received(KEY) == [MT950]

    def test_same_key_twice_is_one_delivery(self, harness: DeliveryHarness) -> None:
        target = harness.target()
        target.deliver(KEY, MT950, META)
        target.deliver(KEY, MT950, META)
        assert harness.received(KEY) == [MT950]

    def test_different_keys_are_different_deliveries(self, harness: DeliveryHarness) -> None:
        other = delivery_key_for("00" * 24)
        target = harness.target()
        target.deliver(KEY, MT950, META)
        target.deliver(other, b"second", META)
        assert (harness.received(KEY), harness.received(other)) == ([MT950], [b"second"])

    def test_target_going_away_raises_service_unavailable(self, harness: DeliveryHarness) -> None:
        target = harness.target()
        harness.go_away()
        with pytest.raises(ServiceUnavailable):
            target.deliver(KEY, MT950, META)
        harness.come_back()
        target.deliver(KEY, MT950, META)
        assert harness.received(KEY) == [MT950]


class TestInMemoryDeliveryTarget(DeliveryTargetContract):
    class Harness(DeliveryHarness):
        def __init__(self) -> None:
            self.twin = InMemoryDeliveryTarget()

        def target(self) -> DeliveryTarget:
            return self.twin

        def received(self, key: str) -> list[bytes]:
            return [self.twin.delivered[key]] if key in self.twin.delivered else []

        def go_away(self) -> None:
            self.twin.available = False

        def come_back(self) -> None:
            self.twin.available = True

    @pytest.fixture
    def harness(self) -> DeliveryHarness:
        return self.Harness()


class FolderHarness(DeliveryHarness):
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.only = FolderDeliveryTarget(outbox, "DC04")

    def target(self) -> DeliveryTarget:
        return self.only

    def received(self, key: str) -> list[bytes]:
        return [path.read_bytes() for path in self.outbox.glob(f"{key}*.fin")]

    def go_away(self) -> None:
        self.outbox.rename(self.outbox.with_name("unmounted"))

    def come_back(self) -> None:
        self.outbox.with_name("unmounted").rename(self.outbox)


class TestFolderDeliveryTarget(DeliveryTargetContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> DeliveryHarness:
        return FolderHarness(tmp_path / "outbox")

    def test_an_interrupted_write_is_never_counted(self, tmp_path: Path) -> None:
        outbox = tmp_path / "outbox"
        target = FolderDeliveryTarget(outbox, "DC04")
        (outbox / ".tmp" / f"{KEY}.deadbeef").write_bytes(MT950[:10])  # killed mid-write
        assert not target.was_delivered(KEY)
        assert target.delivered_keys() == []
        target.deliver(KEY, MT950, META)
        assert (outbox / f"{KEY}.fin").read_bytes() == MT950
        assert target.delivered_keys() == [KEY]

    def test_repeats_are_counted_in_the_object_and_in_the_log(self, tmp_path: Path) -> None:
        at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        target = FolderDeliveryTarget(tmp_path, "DC04", clock=lambda: at)
        target.deliver(KEY, MT950, META)
        target.deliver(KEY, b"a different payload never overwrites", {**META, "region": "DC06"})
        assert target.repeats == 1
        assert (tmp_path / f"{KEY}.fin").read_bytes() == MT950
        log = read_log(tmp_path)
        assert [(e["key"], e["outcome"], e["region"]) for e in log] == [
            (KEY, "delivered", "DC04"),
            (KEY, "repeat", "DC06"),
        ]
        assert log[0]["message_id"] == MESSAGE_ID and log[0]["at"] == "2025-01-02T03:04:05+00:00"
        sidecar = json.loads((tmp_path / f"{KEY}.json").read_text())
        assert (sidecar["message_id"], sidecar["session_id"], sidecar["epoch"]) == (
            MESSAGE_ID,
            "DE89370400440532013000",
            "3",
        )

    def test_two_regions_racing_on_the_same_keys_make_one_file_each(self, tmp_path: Path) -> None:
        keys = [delivery_key_for(f"{n:048x}") for n in range(40)]
        targets = [FolderDeliveryTarget(tmp_path, "DC04"), FolderDeliveryTarget(tmp_path, "DC06")]
        start = threading.Barrier(2)

        def run(target: FolderDeliveryTarget) -> None:
            start.wait()
            for key in keys:
                target.deliver(key, key.encode(), {"message_id": key})

        threads = [threading.Thread(target=run, args=(t,)) for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert targets[0].delivered_keys() == sorted(keys)
        assert all((tmp_path / f"{k}.fin").read_bytes() == k.encode() for k in keys)
        assert targets[0].repeats + targets[1].repeats == len(keys)
        outcomes = [e["outcome"] for e in read_log(tmp_path)]
        assert (outcomes.count("delivered"), outcomes.count("repeat")) == (40, 40)
        assert list((tmp_path / ".tmp").iterdir()) == []

    def test_a_key_that_is_not_a_plain_name_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="delivery key"):
            FolderDeliveryTarget(tmp_path).deliver("../escape", MT950, META)


class MqHarness(DeliveryHarness):
    can_tell = False

    def __init__(self, ibmmq: ModuleType) -> None:
        self.qmgr = ibmmq.queue_manager(QMGR)
        self.qmgr.define_queue(MESSAGEWAY)
        self.only = MqDeliveryTarget(CONFIG, MESSAGEWAY)

    def target(self) -> DeliveryTarget:
        return self.only

    def received(self, key: str) -> list[bytes]:
        """MessageWay drops a repeated MsgId: one delivery per distinct MsgId, the first one kept."""
        first: dict[bytes, bytes] = {}
        for message in self.qmgr.messages(MESSAGEWAY):
            first.setdefault(message.msg_id, message.body)
        return [body for msg_id, body in first.items() if msg_id == bytes.fromhex(key)]

    def go_away(self) -> None:
        self.qmgr.stop()

    def come_back(self) -> None:
        self.qmgr.start()


class TestMqDeliveryTargetOverFakeIbmmq(DeliveryTargetContract):
    @pytest.fixture
    def harness(self, fake_ibmmq: ModuleType) -> MqHarness:
        return MqHarness(fake_ibmmq)

    def test_each_put_is_committed_with_msgid_key_and_correlid_message_id(self, harness: MqHarness) -> None:
        harness.target().deliver(KEY, MT950, META)
        harness.target().deliver(KEY, MT950, META)
        copies = harness.qmgr.messages(MESSAGEWAY)  # committed and visible to MessageWay
        assert [m.msg_id.hex() for m in copies] == [KEY, KEY]  # the queue keeps both: MsgId is the dedup key
        assert {m.correl_id.hex() for m in copies} == {MESSAGE_ID}
        assert {m.md["Format"] for m in copies} == {b"MQSTR   "}

    def test_a_failed_delivery_leaves_nothing_behind_and_the_next_one_reconnects(
        self, harness: MqHarness
    ) -> None:
        target = harness.target()
        target.deliver(delivery_key_for("01" * 24), b"first", META)
        harness.qmgr.sever_connections()  # the connection breaks between deliveries
        target.deliver(KEY, MT950, META)
        assert [m.body for m in harness.qmgr.messages(MESSAGEWAY)] == [b"first", MT950]

    def test_a_key_that_is_not_a_msgid_is_refused(self, harness: MqHarness) -> None:
        with pytest.raises(ValueError, match="48 hex"):
            harness.target().deliver("abc", MT950, META)


def test_make_delivery_target_follows_messageway_mode(tmp_path: Path) -> None:
    settings = SimpleNamespace(
        messageway_mode="folder",
        messageway_outbox_dir=str(tmp_path),
        messageway_queue=MESSAGEWAY,
        region="DC06",
        mq_queue_manager=QMGR,
        mq_conn_name="mq(1414)",
        mq_channel="CH",
    )
    folder = make_delivery_target(settings, {})  # type: ignore[arg-type]
    assert isinstance(folder, FolderDeliveryTarget) and folder.region == "DC06"
    settings.messageway_mode = "ibmmq"
    mq = make_delivery_target(settings, {})  # type: ignore[arg-type]
    assert isinstance(mq, MqDeliveryTarget) and mq.queue_name == MESSAGEWAY
    assert mq.connection.config == IbmMqConfig(QMGR, "mq(1414)", "CH")
