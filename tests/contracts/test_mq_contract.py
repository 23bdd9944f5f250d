"""Contract of :class:`shared.ports.MqSource`: one suite, run against the in-memory twin, the folder
inbox and :class:`IbmMqSource` over the fake ``ibmmq`` (``tests/fakes/ibmmq``), which keeps MQI's
syncpoint semantics because no registry ships IBM's MQ client or a queue manager.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import struct
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from dev.adapters.folder_mq import FolderMqSource, put_message
from shared.adapters.ibmmq_source import IbmMqConfig, IbmMqSource
from shared.errors import ConfigurationError, ServiceUnavailable, TooLarge
from shared.ports import MqSource
from shared.telemetry import metrics
from tests import fakes
from tests.twins import InMemoryMqSource

QMGR, INPUT, BACKOUT = "QM1", "STATEMENTS.IN", "STATEMENTS.BACKOUT"
CONFIG = IbmMqConfig(queue_manager=QMGR, conn_name="127.0.0.1(1414)", channel="DEV.APP.SVRCONN")


def mid(n: int) -> str:
    return f"{n:048x}"


@pytest.fixture
def fake_ibmmq() -> Iterator[ModuleType]:
    """The fake ``ibmmq`` first on ``sys.path`` for one test, removed (and unimported) after."""
    with fakes.fake_ibmmq() as module:
        yield module


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
    def kill(self, source: MqSource) -> None:
        """``source``'s process dies (or its connection breaks) with its unit of work open."""

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

    def test_second_consumer_gets_nothing_while_the_first_holds_the_input(self, harness: MqHarness) -> None:
        harness.put(mid(1), b"one")
        harness.put(mid(2), b"two")
        first, second = harness.source(), harness.second()
        got = first.get()
        assert got is not None and got.message_id == mid(1)
        assert second.get() is None  # not mid(2): one reader at a time keeps the queue's order
        assert second.get(wait_s=0.05) is None
        assert second.depth() == 1  # depth needs no input hold
        first.backout()
        assert second.get() is None  # a backout keeps the hold; only close releases it
        first.close()
        after = [second.get(), second.get(), second.get()]
        assert [(m.message_id, m.backout_count) for m in after if m] == [(mid(1), 1), (mid(2), 0)]
        second.commit()
        assert first.get() is None  # now the second holds the input
        assert first.depth() == 0

    def test_close_backs_out_releases_and_a_later_get_reopens(self, harness: MqHarness) -> None:
        harness.put(mid(1), b"one")
        source = harness.source()
        assert source.get() is not None
        source.close()
        source.close()  # idempotent
        assert source.depth() == 1
        message = source.get()
        assert message is not None and (message.message_id, message.backout_count) == (mid(1), 1)
        source.commit()
        assert source.depth() == 0
        source.close()
        other = harness.second()
        harness.put(mid(2), b"two")
        again = other.get()
        assert again is not None and again.message_id == mid(2)

    def test_a_holder_that_dies_releases_the_input_and_its_unit_of_work(self, harness: MqHarness) -> None:
        harness.put(mid(1), b"one")
        harness.put(mid(2), b"two")
        holder = harness.source()
        assert holder.get() is not None
        second = harness.second()
        assert second.get() is None
        harness.kill(holder)
        got = [second.get(), second.get()]
        assert [(m.message_id, m.backout_count) for m in got if m] == [(mid(1), 1), (mid(2), 0)]

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

    def test_a_message_above_max_bytes_is_not_taken_and_stays_first(self, harness: MqHarness) -> None:
        harness.put(mid(1), b"s" * 10)
        harness.put(mid(2), b"L" * 5000)
        harness.put(mid(3), b"t" * 10)
        source = harness.source()
        first = source.get(max_bytes=100)
        assert first is not None and first.message_id == mid(1)
        with pytest.raises(TooLarge) as caught:
            source.get(max_bytes=4999)
        assert (caught.value.size, caught.value.max_bytes) == (5000, 4999)
        with pytest.raises(TooLarge):
            source.get(wait_s=0.05, max_bytes=90)  # asked again: still there, still first
        source.commit()  # the unit of work ends without it
        assert source.depth() == 2
        large = source.get(max_bytes=None)  # the next unit starts with it, alone
        assert large is not None and (large.message_id, large.body, large.backout_count) == (
            mid(2),
            b"L" * 5000,
            0,  # refusing it was no backout
        )
        source.commit()
        with pytest.raises(TooLarge):
            source.get(max_bytes=0)
        exact = source.get(max_bytes=10)
        assert exact is not None and exact.message_id == mid(3)  # max_bytes is inclusive
        source.commit()
        assert source.depth() == 0

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

        def kill(self, source: MqSource) -> None:
            assert isinstance(source, InMemoryMqSource)
            source.crash()

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
        self.first.abandon()  # the process dies: the kernel drops its flock, the files stay in flight
        return FolderMqSource(self.root, "DC04-qb")

    def kill(self, source: MqSource) -> None:
        assert isinstance(source, FolderMqSource)
        source.abandon()

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

    def kill(self, source: MqSource) -> None:
        assert isinstance(source, IbmMqSource)
        [connection] = [c for c in self.qmgr.connections if c is source.connection.qmgr()._connection]
        self.qmgr.sever_connections(connection)  # HBINT noticed the broken channel

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


class TestIbmMqSourceSpecifics:
    """What the contract cannot say: MQI details of :class:`IbmMqSource`, over the fake ``ibmmq``."""

    def test_import_needs_no_mq_client_and_a_missing_client_is_named(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "ibmmq", None)  # what `import ibmmq` does without libmqm_r.so
        source = IbmMqSource(CONFIG, INPUT, BACKOUT)  # constructing does not import ibmmq
        with pytest.raises(ConfigurationError, match=r"IBM MQ client .*libmqm_r\.so"):
            source.get()

    def test_connects_as_a_client_with_channel_tls_and_credentials(self, fake_ibmmq: ModuleType) -> None:
        qmgr = fake_ibmmq.queue_manager(QMGR)
        qmgr.define_queue(INPUT)
        qmgr.credentials = ("bridge", "s3cret")
        config = IbmMqConfig(
            queue_manager=QMGR,
            conn_name="mq1.example(1414),mq2.example(1414)",
            channel="BRIDGE.SVRCONN",
            user="bridge",
            password="s3cret",
            cipher_spec="ANY_TLS13_OR_HIGHER",
            key_repository="/var/mqm/ssl/key",
        )
        assert "s3cret" not in repr(config)
        assert IbmMqSource(config, INPUT, BACKOUT).get() is None
        options = qmgr.connections[0].options
        cd = options["cd"]
        assert (cd.ChannelName, cd.ConnectionName, cd.SSLCipherSpec) == (
            b"BRIDGE.SVRCONN",
            b"mq1.example(1414),mq2.example(1414)",
            b"ANY_TLS13_OR_HIGHER",
        )
        assert (cd.ChannelType, cd.TransportType) == (6, 2)  # MQCHT_CLNTCONN, MQXPT_TCP
        assert cd.HeartbeatInterval == 15  # not the MQCD default 300: a dead holder is noticed sooner
        assert options["sco"].KeyRepository == b"/var/mqm/ssl/key"
        assert (options["user"], options["password"]) == ("bridge", "s3cret")

    def test_wrong_password_or_unknown_queue_is_a_configuration_error(self, fake_ibmmq: ModuleType) -> None:
        qmgr = fake_ibmmq.queue_manager(QMGR)
        qmgr.define_queue(INPUT)
        qmgr.credentials = ("bridge", "right")
        wrong = IbmMqConfig(QMGR, "127.0.0.1(1414)", "CH", user="bridge", password="wrong")
        with pytest.raises(ConfigurationError, match="MQRC_NOT_AUTHORIZED"):
            IbmMqSource(wrong, INPUT, BACKOUT).get()
        right = IbmMqConfig(QMGR, "127.0.0.1(1414)", "CH", user="bridge", password="right")
        with pytest.raises(ConfigurationError, match="MQRC_UNKNOWN_OBJECT_NAME"):
            IbmMqSource(right, "NO.SUCH.QUEUE", BACKOUT).get()

    def test_queue_manager_down_at_connect_is_service_unavailable(self, fake_ibmmq: ModuleType) -> None:
        qmgr = fake_ibmmq.queue_manager(QMGR)
        qmgr.define_queue(INPUT)
        qmgr.stop()
        with pytest.raises(ServiceUnavailable, match="MQRC_HOST_NOT_AVAILABLE") as raised:
            IbmMqSource(CONFIG, INPUT, BACKOUT).depth()
        assert raised.value.service == "ibmmq"

    def test_message_id_put_time_and_backout_queue_copy(self, fake_ibmmq: ModuleType) -> None:
        harness = IbmMqHarness(fake_ibmmq)
        harness.qmgr.put(INPUT, b"<Document/>", msg_id=bytes.fromhex(mid(9)), correl_id=b"C" * 24)
        source = harness.source()
        message = source.get()
        assert message is not None and message.message_id == mid(9)
        assert message.put_time is not None and message.put_time.tzinfo is not None
        assert abs((datetime.now(UTC) - message.put_time).total_seconds()) < 3600
        source.to_backout_queue(message, "unsafe-xml: DOCTYPE <refused> & quarantined")
        source.commit()
        [copy] = harness.qmgr.messages(BACKOUT)
        assert (copy.msg_id, copy.correl_id) == (bytes.fromhex(mid(9)), b"C" * 24)
        assert copy.md["Format"] == b"MQHRF2  "
        props, body = parse_rfh2(copy.body)
        assert body == b"<Document/>"
        assert props == {"BridgeReason": "unsafe-xml: DOCTYPE &lt;refused&gt; &amp; quarantined"}

    def test_get_waits_for_a_message_put_meanwhile(self, fake_ibmmq: ModuleType) -> None:
        harness = IbmMqHarness(fake_ibmmq)
        timer = threading.Timer(0.05, harness.put, args=(mid(5), b"late"))
        timer.start()
        message = harness.source().get(wait_s=10)
        timer.join()
        assert message is not None and message.body == b"late"

    def test_close_backs_out_because_mqdisc_would_commit(self, fake_ibmmq: ModuleType) -> None:
        harness = IbmMqHarness(fake_ibmmq)
        harness.put(mid(1), b"one")
        source = IbmMqSource(CONFIG, INPUT, BACKOUT)
        assert source.get() is not None
        source.close()
        [back] = harness.qmgr.messages(INPUT)
        assert back.backout_count == 1
        # The fake models MQDISC's implicit commit, which is why close() backs out first:
        raw = fake_ibmmq.QueueManager(None)
        raw.connect_with_options(QMGR)
        queue = fake_ibmmq.Queue(raw, INPUT, fake_ibmmq.CMQC.MQOO_INPUT_SHARED)
        queue.get(None, fake_ibmmq.MD(), fake_ibmmq.GMO(Options=fake_ibmmq.CMQC.MQGMO_SYNCPOINT))
        raw.disconnect()
        assert harness.qmgr.messages(INPUT) == []

    def test_input_is_exclusive_and_a_refused_open_is_counted_and_logged_once(
        self, fake_ibmmq: ModuleType, caplog: pytest.LogCaptureFixture
    ) -> None:
        harness = IbmMqHarness(fake_ibmmq)
        harness.put(mid(1), b"one")
        c = fake_ibmmq.CMQC
        other_app = fake_ibmmq.QueueManager(None)
        other_app.connect_with_options(QMGR)
        held = fake_ibmmq.Queue(other_app, INPUT, c.MQOO_INPUT_SHARED)  # any other reader blocks us
        metrics.reset()
        source = harness.source()
        with caplog.at_level(logging.INFO, logger="bridge.mq"):
            assert [source.get(), source.get(), source.get(wait_s=0.05)] == [None, None, None]
        assert metrics.snapshot()["mq_input_in_use"] == 3
        assert [r.getMessage() for r in caplog.records] == [f"mq.input_in_use queue={INPUT}"]
        assert source.depth() == 1  # MQINQ on its own MQOO_INQUIRE handle
        held.close()
        with caplog.at_level(logging.INFO, logger="bridge.mq"):
            message = source.get()
        assert message is not None and message.message_id == mid(1)
        assert caplog.records[-1].getMessage() == f"mq.input_taken queue={INPUT}"
        [(_, _, exclusive)] = harness.qmgr.input_handles[INPUT]
        assert exclusive  # opened MQOO_INPUT_EXCLUSIVE
        with pytest.raises(fake_ibmmq.MQMIError) as raised:
            fake_ibmmq.Queue(other_app, INPUT, c.MQOO_INPUT_SHARED)
        assert raised.value.reason == c.MQRC_OBJECT_IN_USE


class TestFolderMqSourceSpecifics:
    def test_put_message_refuses_an_id_that_is_not_a_msgid(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="48 hex"):
            put_message(tmp_path, "not-hex", b"x")

    def test_a_partly_written_message_is_invisible(self, tmp_path: Path) -> None:
        source = FolderMqSource(tmp_path, "DC04-qb")
        (tmp_path / "tmp" / f"00000000000000000001-{mid(1)}.b0.msg.partial").write_bytes(b"<Docu")
        assert source.depth() == 0
        assert source.get() is None

    def test_put_time_comes_from_the_put_order(self, tmp_path: Path) -> None:
        before = datetime.now(UTC)
        put_message(tmp_path, mid(1), b"x")
        message = FolderMqSource(tmp_path, "DC04-qb").get()
        assert message is not None and message.put_time is not None
        assert before.timestamp() - 1 <= message.put_time.timestamp() <= datetime.now(UTC).timestamp() + 1

    def test_racing_consumers_never_get_the_same_message(self, tmp_path: Path) -> None:
        for n in range(60):
            put_message(tmp_path, mid(n), str(n).encode())
        got: dict[str, list[str]] = {"DC04": [], "DC06": []}

        def consume(owner: str) -> None:
            source = FolderMqSource(tmp_path, owner)
            while (message := source.get()) is not None:
                got[owner].append(message.message_id)
                source.commit()

        threads = [threading.Thread(target=consume, args=(owner,)) for owner in got]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(got["DC04"] + got["DC06"]) == [mid(n) for n in range(60)]

    def test_get_reads_a_snapshot_of_the_inbox_and_a_backout_drops_it(self, tmp_path: Path) -> None:
        """``new/`` is listed once per snapshot: a message that lands after the listing is got after the
        snapshot's names even when its order key is older (its put was still in progress); a backout
        drops the snapshot, so the queue's order holds again from the next get."""
        for n in (1, 2, 3):
            put_message(tmp_path, mid(n), str(n).encode())
        source = FolderMqSource(tmp_path, "DC04-qb")
        first = source.get()
        assert first is not None and first.message_id == mid(1)
        (tmp_path / "new" / f"{0:020d}-{mid(9)}.b0.msg").write_bytes(b"late")  # older key, seen late
        got = [source.get() for _ in range(4)]
        assert [m.message_id for m in got if m] == [mid(2), mid(3), mid(9)]
        source.backout()
        again = [source.get() for _ in range(5)]
        assert [(m.message_id, m.backout_count) for m in again if m] == [
            (mid(9), 1),
            (mid(1), 1),
            (mid(2), 1),
            (mid(3), 1),
        ]
        source.commit()
        assert source.depth() == 0

    def test_recover_orphans_backs_out_only_old_units_of_other_owners(self, tmp_path: Path) -> None:
        put_message(tmp_path, mid(1), b"one")
        crashed = FolderMqSource(tmp_path, "DC04-qb")
        assert crashed.get() is not None  # ... and the DC04 process is never seen again
        survivor = FolderMqSource(tmp_path, "DC06-qb")
        assert survivor.recover_orphans(max_age_s=600) == 0  # too young: DC04 may still be working
        for path in (tmp_path / "inflight" / "DC04-qb").iterdir():
            os.utime(path, (0, 0))
        assert survivor.recover_orphans(max_age_s=600) == 1
        crashed.abandon()  # the dead process's flock is gone too
        message = survivor.get()
        assert message is not None and (message.message_id, message.backout_count) == (mid(1), 1)

    def test_keep_moves_committed_messages_to_done(self, tmp_path: Path) -> None:
        put_message(tmp_path, mid(1), b"one")
        source = FolderMqSource(tmp_path, "DC04-qb", keep=True)
        assert source.get() is not None
        source.commit()
        assert [p.read_bytes() for p in (tmp_path / "done").iterdir()] == [b"one"]

    def test_a_crash_right_after_the_commit_point_is_finished_on_restart(self, tmp_path: Path) -> None:
        put_message(tmp_path, mid(1), b"one")
        put_message(tmp_path, mid(2), b"two")
        source = FolderMqSource(tmp_path, "DC04-qb")
        first, second = source.get(), source.get()
        assert first is not None and second is not None
        source.to_backout_queue(second, "poison")
        source.abandon()
        # Crash after the atomic rename that commits, before the files were cleaned up:
        (tmp_path / "inflight" / "DC04-qb").rename(tmp_path / "committed" / "DC04-qb.0001")
        restarted = FolderMqSource(tmp_path, "DC04-qb")
        assert restarted.get() is None
        assert restarted.backout_queue() == [(mid(2), "poison")]
        assert list((tmp_path / "committed").iterdir()) == []


def test_a_killed_process_unit_of_work_comes_back_when_its_owner_restarts(tmp_path: Path) -> None:
    """A real region process gets a message and dies without commit or backout (``os._exit``)."""
    put_message(tmp_path, mid(8), b"eight")
    script = (
        "import os, sys\n"
        "from dev.adapters.folder_mq import FolderMqSource\n"
        "source = FolderMqSource(sys.argv[1], 'DC04-queue-builder')\n"
        "assert source.get() is not None\n"
        "os._exit(9)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=root, check=False, timeout=60)
    assert done.returncode == 9
    assert FolderMqSource(tmp_path, "DC06-queue-builder").depth() == 0  # still held by the dead unit
    restarted = FolderMqSource(tmp_path, "DC04-queue-builder")
    message = restarted.get()
    assert message is not None and (message.message_id, message.body, message.backout_count) == (
        mid(8),
        b"eight",
        1,
    )


def test_a_live_holder_process_keeps_the_folder_input_and_its_death_releases_it(tmp_path: Path) -> None:
    """A real region process takes the input lock and is then killed (SIGKILL): the kernel drops the
    flock, and the next holder first backs the dead holder's unit of work out, so order is kept."""
    put_message(tmp_path, mid(1), b"one")
    put_message(tmp_path, mid(2), b"two")
    script = (
        "import sys\n"
        "from dev.adapters.folder_mq import FolderMqSource\n"
        "source = FolderMqSource(sys.argv[1], 'DC04-queue-builder')\n"
        "assert source.get() is not None\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        other = FolderMqSource(tmp_path, "DC06-queue-builder")
        assert other.get() is None and not other.holds_input()
        assert other.depth() == 1
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=60) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=60)
        if holder.stdin is not None:
            holder.stdin.close()
        if holder.stdout is not None:
            holder.stdout.close()
    got = [other.get(), other.get()]
    assert [(m.message_id, m.backout_count) for m in got if m] == [(mid(1), 1), (mid(2), 0)]
    assert other.holds_input()
