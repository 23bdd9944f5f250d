"""``python -m dev.servicebus --port P [--config FILE.json] [--data-dir DIR] [--stats-port S]``.

Prints ``READY <port>`` on stdout once it listens on 127.0.0.1; exits cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from dev.servicebus.config import load_config
from dev.servicebus.connection import AmqpConnection
from dev.servicebus.endpoint import Endpoint
from dev.servicebus.journal import FileJournal

HOST = "127.0.0.1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.servicebus", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="AMQP port (0 = pick a free one)")
    parser.add_argument("--config", help="JSON file declaring the queues (default: one queue 'statements')")
    parser.add_argument("--lock-duration-s", type=float, help="LockDuration of the default queue")
    parser.add_argument("--max-delivery-count", type=int, help="MaxDeliveryCount of the default queue")
    parser.add_argument("--dup-window-s", type=float, help="duplicate detection window of the default queue")
    parser.add_argument(
        "--no-sessions", action="store_true", help="the default queue does not require sessions"
    )
    parser.add_argument("--data-dir", help="persist queues in an append-only journal in this directory")
    parser.add_argument(
        "--fsync", action="store_true", help="fsync every journal write (survives power loss)"
    )
    parser.add_argument(
        "--stats-port", type=int, help="serve queue depths and operation counts as JSON over HTTP"
    )
    return parser.parse_args(argv)


async def _stats_handler(
    endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        body = json.dumps(endpoint.stats(), indent=1).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(args: argparse.Namespace) -> None:
    overrides = {
        "lock_duration_s": args.lock_duration_s,
        "max_delivery_count": args.max_delivery_count,
        "dup_window_s": args.dup_window_s,
        "requires_session": False if args.no_sessions else None,
    }
    journal = FileJournal(args.data_dir, fsync=args.fsync) if args.data_dir else None
    endpoint = Endpoint(load_config(args.config, overrides), journal)
    if journal is not None:
        journal.open(endpoint)

    clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        clients[writer] = task
        try:
            await AmqpConnection(endpoint, reader, writer).serve()
        finally:
            clients.pop(writer, None)

    server = await asyncio.start_server(on_client, HOST, args.port)
    port = server.sockets[0].getsockname()[1]
    stats_server = None
    if args.stats_port is not None:
        stats_server = await asyncio.start_server(
            lambda r, w: _stats_handler(endpoint, r, w), HOST, args.stats_port
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ticker = asyncio.ensure_future(endpoint.run_ticker())
    stats_note = f" stats {stats_server.sockets[0].getsockname()[1]}" if stats_server else ""
    print(f"READY {port}{stats_note}", flush=True)
    await stop.wait()
    ticker.cancel()
    server.close()
    if stats_server is not None:
        stats_server.close()
    tasks = list(clients.values())
    for writer in list(clients):  # close open connections: each handler sees EOF and ends by itself
        writer.close()
    await asyncio.wait([ticker, *tasks], timeout=5)
    if journal is not None:
        journal.close()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
