"""Throughput of the local Service Bus endpoint through the unmodified SDK (send + receive + complete).

``python -m dev.servicebus.bench [--messages N] [--sessions S] [--body-bytes B] [--data-dir]`` starts
an endpoint, sends N messages over S sessions in batches (as the QueueBuilder does), then receives and
completes them session by session with S parallel receivers (as the runner does), and prints
messages per second for each phase and end to end. ``--adapters`` does the same through the project's
own publisher and session consumer (which receives and settles one message at a time, like the
Functions host). A number, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time

from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import OperationTimeoutError

from dev.adapters.servicebus_consumer import ServiceBusSessionConsumer
from dev.servicebus.config import QueueConfig
from dev.servicebus.process import EndpointProcess
from shared.adapters.servicebus import ServiceBusStatementPublisher
from shared.model import InboundStatement, OutboundStatement, WalLocator
from shared.settings import Connection


def _send(connection_string: str, messages: int, sessions: int, body: bytes, batch: int) -> None:
    with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_sender("bench") as s,
    ):
        for start in range(0, messages, batch):
            chunk = range(start, min(start + batch, messages))
            by_session: dict[str, list[ServiceBusMessage]] = {}
            for n in chunk:
                sid = f"acct-{n % sessions}"
                by_session.setdefault(sid, []).append(
                    ServiceBusMessage(body, message_id=f"m{n}", session_id=sid)
                )
            for group in by_session.values():
                s.send_messages(group)


def _receive(connection_string: str, done: list[int], lock: threading.Lock, total: int) -> None:
    with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client:
        while True:
            with lock:
                if done[0] >= total:
                    return
            try:
                receiver = client.get_queue_receiver(
                    "bench", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=1
                )
                receiver.__enter__()
            except OperationTimeoutError:
                continue
            with receiver:
                while batch := receiver.receive_messages(max_message_count=50, max_wait_time=0.5):
                    for message in batch:
                        receiver.complete_message(message)
                    with lock:
                        done[0] += len(batch)


def locator(n: int) -> WalLocator:
    """A plausible WAL locator for message ``n`` (the bench reads no WAL; the properties travel)."""
    return WalLocator(f"0000000001/{n - n % 128:012d}-DC04-bench", 24 + 2048 * (n % 128), 2048, "0" * 64)


def _adapters(connection_string: str, messages: int, sessions: int, body: bytes, batch: int) -> float:
    """Publish with the publisher adapter, consume with the session consumer; return the send time."""
    connection = Connection("ServiceBusConnection", connection_string=connection_string)
    publisher = ServiceBusStatementPublisher(connection, "bench", claim_check_bytes=len(body) + 1)
    start = time.perf_counter()
    for first in range(0, messages, batch):
        publisher.publish(
            [
                OutboundStatement(f"m{n}", f"acct-{n % sessions}", body, locator(n), 1, n, "DC04")
                for n in range(first, min(first + batch, messages))
            ]
        )
    publisher.close()
    sent = time.perf_counter() - start
    handled = [0]
    stop = threading.Event()

    def handler(statement: InboundStatement) -> None:
        handled[0] += 1
        if handled[0] >= messages:
            stop.set()

    ServiceBusSessionConsumer(connection, "bench", idle_s=1.0).run(handler, stop, max_sessions=sessions)
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.servicebus.bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--body-bytes", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=100, help="messages per publish call")
    parser.add_argument("--data-dir", action="store_true", help="run the endpoint with its journal")
    parser.add_argument(
        "--adapters",
        action="store_true",
        help="use ServiceBusStatementPublisher and ServiceBusSessionConsumer (one message per receive)",
    )
    args = parser.parse_args(argv)
    body = b"x" * args.body_bytes
    with (
        tempfile.TemporaryDirectory() as tmp,
        EndpointProcess([QueueConfig("bench")], data_dir=tmp if args.data_dir else None) as endpoint,
    ):
        start = time.perf_counter()
        if args.adapters:
            sent = start + _adapters(
                endpoint.connection_string, args.messages, args.sessions, body, args.batch
            )
        else:
            _send(endpoint.connection_string, args.messages, args.sessions, body, args.batch)
            sent = time.perf_counter()
            done, lock = [0], threading.Lock()
            workers = [
                threading.Thread(
                    target=_receive, args=(endpoint.connection_string, done, lock, args.messages)
                )
                for _ in range(args.sessions)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        end = time.perf_counter()
        stats = endpoint.stats()["queues"]["bench"]  # type: ignore[index]
    n = args.messages
    print(
        f"messages={n} sessions={args.sessions} body={args.body_bytes}B journal={args.data_dir} "
        f"adapters={args.adapters}"
    )
    print(f"send: {n / (sent - start):.0f} msg/s; receive+complete: {n / (end - sent):.0f} msg/s; ")
    print(f"end to end (send+receive+complete): {n / (end - start):.0f} msg/s in {end - start:.1f} s")
    print(f"endpoint counters: {stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
