"""A small threaded TCP proxy that can cut one client's road to a service, for tests and drills.

``TcpProxy(0, ("127.0.0.1", 17002)).start()`` listens on a free loopback port and forwards every
connection to the target. The road can then be broken without touching the service:

* :meth:`TcpProxy.cut` (``mode="reset"``, the default) resets every open connection and resets each new
  one right after accepting it: clients fail at once with "connection reset", as when the server died.
* ``cut(mode="hold")`` stops forwarding: open connections go silent (bytes in either direction are
  dropped) and new connections are accepted but never answered, as in a network partition; clients
  fail only by their own timeouts.
* :meth:`TcpProxy.restore` resets whatever the cut left behind and forwards new connections again.

CLI: ``python -m dev.proxy --target 127.0.0.1:17002 [--listen PORT]`` prints ``PROXY <port>`` and
then reads commands from stdin, one per line: ``cut``, ``hold``, ``restore``, ``stop``.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
import struct
import sys
import threading
from typing import Literal

CutMode = Literal["reset", "hold"]
_POLL_S = 0.05
_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with an RST (SO_LINGER 0) instead of an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One client connection and its upstream connection, pumped by one thread."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()

    def run(self) -> None:
        peers = {self.client: self.upstream, self.upstream: self.client}
        try:
            while not self.closed.is_set():
                readable, _, _ = select.select(list(peers), [], [], _POLL_S)
                for sock in readable:
                    data = sock.recv(_CHUNK)
                    if not data:
                        return
                    if self.proxy.mode is None:
                        peers[sock].sendall(data)
                    # While held, bytes vanish, as on a partitioned network.
        except (OSError, ValueError):
            return
        finally:
            self.close()
            self.proxy._forget(self)

    def close(self) -> None:
        self.closed.set()
        _reset(self.client)
        _reset(self.upstream)


class TcpProxy:
    """Forward ``127.0.0.1:listen_port`` (0 = any free port) to ``target``; cut and restore at will."""

    def __init__(self, listen_port: int = 0, target: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.listen_port = listen_port
        self.target = target
        self.mode: CutMode | None = None
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._held: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("proxy not started")
        return int(self._listener.getsockname()[1])

    def start(self) -> int:
        """Listen and start forwarding; return the listening port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.listen_port))
        listener.listen(64)
        listener.settimeout(_POLL_S)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()
        return self.port

    def cut(self, mode: CutMode = "reset") -> None:
        """Break the road: ``reset`` refuses (RST) everything, ``hold`` silently drops everything."""
        with self._lock:
            self.mode = mode
            links = list(self._links) if mode == "reset" else []
        for link in links:
            link.close()

    def restore(self) -> None:
        """Forward again; connections that lived through a ``hold`` are reset (their bytes were lost)."""
        with self._lock:
            was_held = self.mode == "hold"
            self.mode = None
            held, self._held = self._held, []
            links = list(self._links) if was_held else []
        for sock in held:
            _reset(sock)
        for link in links:
            link.close()

    def stop(self) -> None:
        """Stop listening and reset every connection."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            links, self._links = list(self._links), set()
            held, self._held = self._held, []
        for link in links:
            link.close()
        for sock in held:
            _reset(sock)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.setblocking(True)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            mode = self.mode
            if mode == "hold":
                self._held.append(client)
                return
        if mode == "reset":
            _reset(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _reset(client)
            return
        link = _Link(self, client, upstream)
        with self._lock:
            self._links.add(link)
            cut_meanwhile = self.mode == "reset"
        if cut_meanwhile:
            link.close()
        link.run()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port to forward to")
    parser.add_argument("--listen", type=int, default=0, help="port to listen on (0 = any free port)")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    proxy = TcpProxy(args.listen, (host or "127.0.0.1", int(port)))
    print(f"PROXY {proxy.start()}", flush=True)
    commands = {
        "cut": lambda: proxy.cut("reset"),
        "hold": lambda: proxy.cut("hold"),
        "restore": proxy.restore,
    }
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stop":
                break
            if command in commands:
                commands[command]()
                print(f"OK {command}", flush=True)
            elif command:
                print(f"ERROR unknown command {command!r} (cut, hold, restore, stop)", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
