"""One region of the two-region local host: ``python -m dev.region`` (started by ``dev.host``).

It runs what the Functions host runs in Azure, on the same handlers and the same blueprint functions:

* the QueueBuilder timer (``QUEUE_BUILDER_INTERVAL_S``) calling the ``queue_builder`` function;
* the runner as a Service Bus session receiver (the real SDK against the local endpoint), complete on
  return and abandon on exception — only while this region's consumption switch is on (the local
  stand-in of the ``AzureWebJobs.transformation_runner.Disabled`` app setting);
* the Watchdog timer (``WATCHDOG_INTERVAL_S``) and its HTTP routes on ``127.0.0.1:<port>/api/...``
  with a function key (``x-functions-key``), through the decorated functions of ``watchdog.blueprint``.

Settings come from the environment exactly as in Azure (``shared.settings``), plus the dev stack's own
(``dev/settings.py``: folders, crash points, loop intervals); ``dev.host`` writes them. The functions
are those of ``bootstrap.build_app`` on this region's components (:func:`dev.settings.dev_region`).
SIGTERM stops the region cleanly; SIGKILL is what the drill uses to kill it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

import bootstrap
from dev.adapters.servicebus_consumer import ServiceBusSessionConsumer
from dev.http import serve_routes
from dev.settings import DevSettings, dev_region
from shared.telemetry import configure_observability

log = logging.getLogger("bridge.dev.region")


def every(
    interval_s: float, stop: threading.Event, action: Callable[[], object], name: str
) -> threading.Thread:
    """Run ``action`` every ``interval_s`` until ``stop``; an exception is logged, as the host does."""

    def loop() -> None:
        while not stop.is_set():
            try:
                action()
            except Exception:
                log.exception("%s failed", name)
            stop.wait(interval_s)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def functions_of(app: func.FunctionApp) -> dict[str, Callable[..., Any]]:
    """The app's user functions by function name: what the Functions host invokes."""
    return {str(f.get_function_name()): f.get_user_function() for f in app.get_functions()}


def consume_while_enabled(
    components: bootstrap.Components, dev: DevSettings, stop: threading.Event, sessions: int
) -> None:
    """Receive from Service Bus only while the consumption switch is on; re-check it every second."""
    settings = components.settings
    consumer = ServiceBusSessionConsumer(
        settings.servicebus,
        settings.queue_name,
        idle_s=dev.session_idle_s,
        # The Functions host's maxAutoLockRenewalDuration; the drill shortens it to lose a lock on purpose.
        max_lock_renewal_s=dev.max_lock_renewal_s,
    )
    runner = components.runner
    while not stop.is_set():
        if not components.ports.switch.enabled():
            stop.wait(0.5)
            continue
        slice_stop = threading.Event()

        def watch(slice_stop: threading.Event = slice_stop) -> None:
            while not (stop.is_set() or slice_stop.is_set()):
                if not components.ports.switch.enabled():
                    break
                stop.wait(0.5)
            slice_stop.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        log.warning("consumption enabled: receiving from %s", settings.queue_name)
        consumer.run(runner.handle, slice_stop, max_sessions=sessions)
        slice_stop.set()
        watcher.join()
        log.warning("consumption stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--sessions", type=int, help="sessions in parallel (default LOCAL_SESSIONS)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("BRIDGE_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {os.environ.get('BRIDGE_REGION', '?')} %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDKs log every AMQP frame at INFO
    configure_observability()
    components, dev = dev_region()
    functions = functions_of(bootstrap.build_app(lambda: components))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    timer = TimerRequest(past_due=False)
    every(dev.watchdog_interval_s, stop, lambda: functions["watchdog_timer"](timer), "watchdog")
    every(dev.queue_builder_interval_s, stop, lambda: functions["queue_builder"](timer), "queue-builder")
    server = serve_routes(args.http_port, dev.function_key, functions)
    sessions = args.sessions or dev.sessions
    consumer = threading.Thread(
        target=consume_while_enabled, args=(components, dev, stop, sessions), name="runner", daemon=True
    )
    consumer.start()
    print(f"READY {components.settings.region} http://127.0.0.1:{args.http_port}/api", flush=True)
    stop.wait()
    server.shutdown()
    consumer.join(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
