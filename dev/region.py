"""One region of the two-region local host: ``python -m dev.region`` (started by ``dev.host``).

It runs what the Functions host runs in Azure, on the same handlers and the same blueprint functions:

* the QueueBuilder timer (every ``QUEUE_BUILDER_INTERVAL_S``, on a fixed grid as a ``*/N`` schedule
  fires: :func:`every`) calling the ``queue_builder`` function;
* the runner as a Service Bus session receiver (the real SDK against the local endpoint), complete on
  return and abandon on exception — only while this region's consumption switch is on (the local
  stand-in of the ``AzureWebJobs.transformation_runner.Disabled`` app setting). With
  ``--runner-processes N`` (``BRIDGE_RUNNER_PROCESSES``) N-1 more processes (``--runner-only``) run the
  runner alone, each with its own components and connections and ``--sessions`` receivers of its own:
  the region's Service Bus endpoint hands each session to one receiver at a time (session locks), so
  sessions spread over the processes as they do over Flex Consumption instances, each of which holds
  ``maxConcurrentSessions`` (docs/deployment.md, "QueueBuilder run length and worker processes").
  With ``--per-function`` (``BRIDGE_PER_FUNCTION=1``) the region process runs no runner at all and N
  runner-only processes run it: the layout of Flex Consumption, which scales each non-HTTP function
  on instances of its own, so the timer-triggered QueueBuilder and the Service Bus-triggered runner
  never share an instance or an interpreter (per-function scaling:
  https://learn.microsoft.com/en-us/azure/azure-functions/flex-consumption-plan#per-function-scaling ;
  https://learn.microsoft.com/en-us/azure/azure-functions/event-driven-scaling). Without it the
  region process keeps one runner beside the QueueBuilder (the default every drill and test uses).
  The extra processes are children in the region's process group: the signal that stops or kills the
  region reaches them too, each stops by itself when its parent is gone, and the region restarts one
  that exits (a crash point), as the Functions host restarts a worker process;
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
import subprocess
import sys
import threading
import time
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
    interval_s: float,
    stop: threading.Event,
    action: Callable[[], object],
    name: str,
    clock: Callable[[], float] = time.monotonic,
) -> threading.Thread:
    """Run ``action`` at once, then at the next slot of a fixed ``interval_s`` grid (start + k x
    interval) after each run ends, until ``stop``; an exception is logged, as the host does. This is
    how the Functions timer fires a ``*/N`` schedule: it never overlaps a run and schedules the next
    occurrence after the current invocation completes (docs/deployment.md, "QueueBuilder run length"),
    so a run that ends before its next slot keeps the cadence (not: interval after the run's end)."""

    def loop() -> None:
        started = clock()
        while not stop.is_set():
            try:
                action()
            except Exception:
                log.exception("%s failed", name)
            stop.wait(next_slot_s(clock() - started, interval_s))

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def next_slot_s(elapsed_s: float, interval_s: float) -> float:
    """Seconds from ``elapsed_s`` (since the timer started) to its next slot (a multiple of
    ``interval_s`` strictly later)."""
    return interval_s - elapsed_s % interval_s


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


def start_runner_processes(count: int, sessions: int, first: int = 2) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` runner-only processes of this region, numbered from ``first`` (same environment,
    same process group)."""
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dev.region",
                "--runner-only",
                f"--worker={worker}",
                f"--sessions={sessions}",
            ],
        )
        for worker in range(first, first + count)
    ]


def runner_only(worker: int, sessions: int | None) -> int:
    """A runner-only process (worker ``worker`` of its region): receive while the switch is on, until
    SIGTERM/SIGINT or until the region process that started it is gone."""
    region = os.environ.get("BRIDGE_REGION", "?")
    components, dev = dev_region(owner=f"{region}-runner-{worker}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()
    consumer = threading.Thread(
        target=consume_while_enabled,
        args=(components, dev, stop, sessions or dev.sessions),
        name="runner",
        daemon=True,
    )
    consumer.start()
    print(f"READY {region} runner process {worker} (pid {os.getpid()})", flush=True)
    while not stop.wait(0.5):
        if os.getppid() != parent:  # the region process died (SIGKILL): a worker does not outlive it
            stop.set()
    consumer.join(timeout=10)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http-port", type=int)
    parser.add_argument(
        "--sessions", type=int, help="sessions in parallel per runner process (default LOCAL_SESSIONS)"
    )
    parser.add_argument(
        "--runner-processes",
        type=int,
        help="processes running this region's runner (default BRIDGE_RUNNER_PROCESSES, 1)",
    )
    parser.add_argument(
        "--per-function",
        action="store_true",
        help="run the runner only in --runner-processes child processes, none beside the QueueBuilder, "
        "as Flex Consumption scales each function on instances of its own (default BRIDGE_PER_FUNCTION)",
    )
    parser.add_argument("--runner-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    who = f"{os.environ.get('BRIDGE_REGION', '?')}/{args.worker}"  # region/process in every log line
    logging.basicConfig(
        level=os.environ.get("BRIDGE_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {who} %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDKs log every AMQP frame at INFO
    configure_observability()
    if args.runner_only:
        return runner_only(args.worker, args.sessions)
    if args.http_port is None:
        parser.error("--http-port is required (except with --runner-only)")
    components, dev = dev_region()
    functions = functions_of(bootstrap.build_app(lambda: components))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sessions = args.sessions or dev.sessions
    processes = args.runner_processes or dev.runner_processes
    if processes < 1:
        parser.error(f"--runner-processes must be 1 or more, got {processes}")
    per_function = args.per_function or dev.per_function
    # Per function: every runner process is a child (numbered from 2; this process is 1 in the logs).
    workers = start_runner_processes(processes if per_function else processes - 1, sessions)
    timer = TimerRequest(past_due=False)
    every(dev.watchdog_interval_s, stop, lambda: functions["watchdog_timer"](timer), "watchdog")
    every(dev.queue_builder_interval_s, stop, lambda: functions["queue_builder"](timer), "queue-builder")
    server = serve_routes(args.http_port, dev.function_key, functions)
    consumer = threading.Thread(
        target=consume_while_enabled, args=(components, dev, stop, sessions), name="runner", daemon=True
    )
    if not per_function:
        consumer.start()
    layout = "only in child processes, per function" if per_function else "this one included"
    print(
        f"READY {components.settings.region} http://127.0.0.1:{args.http_port}/api "
        f"(runner in {processes} process{'es' if processes > 1 else ''}, {layout})",
        flush=True,
    )
    while not stop.wait(1.0):
        for index, worker in enumerate(workers):
            if worker.poll() is not None:  # a crashed worker process is restarted, as the host does
                log.warning("runner process %d exited with %s; restarting it", index + 2, worker.returncode)
                workers[index] = start_runner_processes(1, sessions, first=index + 2)[0]
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    server.shutdown()
    if consumer.is_alive():
        consumer.join(timeout=10)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
