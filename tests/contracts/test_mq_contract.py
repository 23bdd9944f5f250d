"""Contract of :class:`shared.ports.MqSource`: one suite, run against the in-memory twin, the folder
inbox and :class:`IbmMqSource` over the fake ``ibmmq`` (``tests/fakes/ibmmq``), which keeps MQI's
syncpoint semantics because no registry ships IBM's MQ client or a queue manager.
"""

from __future__ import annotations

import re
import struct
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from shared.adapters.folder_mq import FolderMqSource, put_message
from shared.adapters.ibmmq_source import IbmMqConfig, IbmMqSource
from shared.errors import ServiceUnavailable
from shared.memory import InMemoryMqSource
from shared.ports import MqSource

FAKES = Path(__file__).resolve().parents[1] / "fakes"
QMGR, INPUT, BACKOUT = "QM1", "STATEMENTS.IN", "STATEMENTS.BACKOUT"
CONFIG = IbmMqConfig(queue_manager=QMGR, conn_name="127.0.0.1(1414)", channel="DEV.APP.SVRCONN")


def mid(n: int) -> str:
    return f"{n:048x}"


def _forget_ibmmq() -> None:
    for name in [n for n in sys.modules if n == "ibmmq" or n.startswith("ibmmq.")]:
        del sys.modules[name]


@pytest.fixture
def fake_ibmmq() -> Iterator[ModuleType]:
    """The fake ``ibmmq`` first on ``sys.path`` for one test, removed (and unimported) after."""
    _forget_ibmmq()
    sys.path.insert(0, str(FAKES))
    try:
        import ibmmq  # noqa: PLC0415 - must resolve to the fake inserted above

        assert ibmmq.__version__.endswith("-fake")
        ibmmq.reset()
        yield ibmmq
    finally:
        sys.path.remove(str(FAKES))
        _forget_ibmmq()


def parse_rfh2(raw: bytes) -> tuple[dict[str, str], bytes]:
    """The ``usr`` properties and the body of an MQRFH2-prefixed message (little-endian integers)."""
    assert raw[:4] == b"RFH "
    version, length = struct.unpack_from("<2i", raw, 4)
    assert version == 2
    folder_length = struct.unpack_from("<i", raw, 36)[0]
    folder = raw[40 : 40 + folder_length].decode("utf-8").strip()
    props = dict(re.findall(r"<(\w+)>([^<]*)</\1>", folder.removeprefix("<usr>").removesuffix("</usr>")))
    return props, raw[length:]


class MqHarness(ABC):
    """What the suite needs from one implementation besides the port."""

    @abstractmethod
    def source(self) -> MqSource: ...

    @abstractmethod
    def put(self, message_id: str, body: bytes) -> None: ...

    @abstractmethod
    def second(self) -> MqSource:
        """Another consumer of the same queue."""

    @abstractmethod
    def restart(self) -> MqSource:
        """The consumer's process dies with its unit of work open; a new one starts."""

    @abstractmethod
    def go_away(self) -> None: ...

    @abstractmethod
    def come_back(self) -> None: ...

    @abstractmethod
    def backout_queue(self) -> list[tuple[str, str]]:
        """``(message_id, reason)`` on the backout queue."""


class MqSourceContract:
    """The suite; subclasses provide the ``harness`` fixture."""

    def test_empty_queue_gives_none(self, harness: MqHarness) -> None:
        assert harness.source().get() is None
        assert harness.source().get(wait_s=0.05) is None

    def test_get_then_commit_removes_the_message(self, harness: MqHarness) -> None:
        harness.put(mid(1), b"<Document/>")
        source = harness.source()
        message = source.get()
        assert message is not None
        assert (message.message_id, message.body, message.backout_count) == (mid(1), b"<Document/>", 0)
        source.commit()
        source.backout()  # nothing left to back out
        assert source.get() is None
        assert source.depth() == 0

    def test_backout_returns_the_message_with_backout_count_plus_one(self, harness: MqHarness) -> None:
        harness.put(mid(1), b"one")
        source = harness.source()
        for expected in (0, 1, 2):
            message = source.get()
            assert message is not None
            assert (message.message_id, message.body, message.backout_count) == (mid(1), b"one", expected)
            source.backout()

    def test_uncommitted_message_is_invisible_to_a_second_consumer(self, harness: MqHarness) -> None:
        harness.put(mid(1), b"one")
        harness.put(mid(2), b"two")
        first, second = harness.source(), harness.second()
        got = first.get()
        assert got is not None and got.message_id == mid(1)
        other = second.get()
        assert other is not None and other.message_id == mid(2)
        assert second.get() is None
        first.backout()
        again = second.get()
        assert again is not None and (again.message_id, again.backout_count) == (mid(1), 1)

    def test_fifo_and_a_backed_out_message_keeps_its_place(self, harness: MqHarness) -> None:
        for n in range(1, 6):
            harness.put(mid(n), f"body {n}".encode())
        source = harness.source()
        first = source.get()
        assert first is not None and first.message_id == mid(1)
        source.backout()
        got = [source.get() for _ in range(5)]
        assert [m.message_id for m in got if m] == [mid(n) for n in range(1, 6)]
        source.commit()
        assert source.depth() == 0

    def test_to_backout_queue_belongs_to_the_unit_of_work(self, harness: MqHarness) -> None:
        harness.put(mid(7), b"poison")
        source = harness.source()
        message = source.get()
        assert message is not None
        source.to_backout_queue(message, "backout count over threshold")
        source.backout()
        assert harness.backout_queue() == []
        message = source.get()
        assert message is not None and message.backout_count == 1
        source.to_backout_queue(message, "backout count over threshold")
        source.commit()
        assert source.get() is None
        assert harness.backout_queue() == [(mid(7), "backout count over threshold")]

    def test_crash_with_an_open_unit_of_work_gives_the_message_back(self, harness: MqHarness) -> None:
        harness.put(mid(3), b"three")
        source = harness.source()
        assert source.get() is not None
        restarted = harness.restart()
        message = restarted.get()
        assert message is not None and (message.message_id, message.backout_count) == (mid(3), 1)

    def test_depth_counts_waiting_messages(self, harness: MqHarness) -> None:
        for n in range(3):
            harness.put(mid(n), b"x")
        source = harness.source()
        assert source.depth() == 3
        assert source.get() is not None
        assert source.depth() == 2
        source.backout()
        assert source.depth() == 3
        assert source.get() is not None
        source.commit()
        assert source.depth() == 2

    def test_server_going_away_raises_and_loses_the_open_unit_of_work(self, harness: MqHarness) -> None:
        harness.put(mid(4), b"four")
        source = harness.source()
        assert source.get() is not None
        harness.go_away()
        with pytest.raises(ServiceUnavailable):
            source.get()
        with pytest.raises(ServiceUnavailable):
            source.depth()
        harness.come_back()
        with pytest.raises(ServiceUnavailable):
            source.commit()  # the unit died with the connection: never report it committed
        message = source.get()
        assert message is not None and (message.message_id, message.backout_count) == (mid(4), 1)
        source.commit()
        assert source.depth() == 0


class TestInMemoryMqSource(MqSourceContract):
    class Harness(MqHarness):
        def __init__(self) -> None:
            self.twin = InMemoryMqSource()

        def source(self) -> MqSource:
            return self.twin

        def put(self, message_id: str, body: bytes) -> None:
            self.twin.put(message_id, body)

        def second(self) -> MqSource:
            return self.twin.share()

        def restart(self) -> MqSource:
            self.twin.crash()
            return self.twin

        def go_away(self) -> None:
            self.twin.available = False

        def come_back(self) -> None:
            self.twin.available = True

        def backout_queue(self) -> list[tuple[str, str]]:
            return [(m.message_id, reason) for m, reason in self.twin.backout_queue]

    @pytest.fixture
    def harness(self) -> MqHarness:
        return self.Harness()


class FolderHarness(MqHarness):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.first = FolderMqSource(root, "DC04-qb")

    def source(self) -> MqSource:
        return self.first

    def put(self, message_id: str, body: bytes) -> None:
        put_message(self.root, message_id, body)

    def second(self) -> MqSource:
        return FolderMqSource(self.root, "DC06-qb")

    def restart(self) -> MqSource:
        return FolderMqSource(self.root, "DC04-qb")  # the old object is simply abandoned

    def go_away(self) -> None:
        self.root.rename(self.root.with_name("unmounted"))

    def come_back(self) -> None:
        self.root.with_name("unmounted").rename(self.root)

    def backout_queue(self) -> list[tuple[str, str]]:
        return self.first.backout_queue()


class TestFolderMqSource(MqSourceContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> MqHarness:
        return FolderHarness(tmp_path / "inbox")


class IbmMqHarness(MqHarness):
    def __init__(self, ibmmq: ModuleType) -> None:
        self.ibmmq = ibmmq
        self.qmgr = ibmmq.queue_manager(QMGR)
        self.qmgr.define_queue(INPUT)
        self.qmgr.define_queue(BACKOUT)
        self.sources: list[IbmMqSource] = []

    def source(self) -> MqSource:
        if not self.sources:
            self.sources.append(IbmMqSource(CONFIG, INPUT, BACKOUT))
        return self.sources[0]

    def put(self, message_id: str, body: bytes) -> None:
        self.qmgr.put(INPUT, body, msg_id=bytes.fromhex(message_id))

    def second(self) -> MqSource:
        return IbmMqSource(CONFIG, INPUT, BACKOUT)

    def restart(self) -> MqSource:
        self.qmgr.sever_connections()
        return IbmMqSource(CONFIG, INPUT, BACKOUT)

    def go_away(self) -> None:
        self.qmgr.stop()

    def come_back(self) -> None:
        self.qmgr.start()

    def backout_queue(self) -> list[tuple[str, str]]:
        found = []
        for message in self.qmgr.messages(BACKOUT):
            props, _ = parse_rfh2(message.body)
            found.append((message.msg_id.hex(), props["BridgeReason"]))
        return found


class TestIbmMqSourceOverFakeIbmmq(MqSourceContract):
    @pytest.fixture
    def harness(self, fake_ibmmq: ModuleType) -> MqHarness:
        return IbmMqHarness(fake_ibmmq)
