"""One region wired from in-memory twins with the real translator, plus the operations desk, and a
helper that drives statements through the decorated QueueBuilder and runner functions."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

import bootstrap
from shared.settings import Settings
from tests.functions.test_function_app import functions
from tests.ops.journal_twin import InMemoryOperationsJournal
from tests.unit.test_settings import LOCAL
from tests.unit.twins import twin_ports
from watchdog import desk_blueprint
from watchdog.auth import APPROVER, OPERATOR, READER, encode_principal

GOLDEN = Path(__file__).parents[1] / "golden"
GOOD = GOLDEN / "cbpr_c105_1_1.xml"
UNBALANCED = GOLDEN / "as_sent_postfinance.xml"  # strict refuses it (CLBD differs); as-sent keeps it

# app.get_functions() may run only once per process (it validates and then refuses its own names).
FUNCTIONS = functions()


def call(name: str, *args: object) -> object:
    return FUNCTIONS[name].get_user_function()(*args)


def install(
    settings_overrides: dict[str, str] | None = None,
) -> tuple[bootstrap.Components, desk_blueprint.Ops]:
    """Wire a twin region and its desk for the triggers; ``uninstall`` forgets them."""
    settings = Settings.from_mapping(
        {
            **LOCAL,
            "DEFAULT_SENDER_BIC": "BANKDEFFXXX",
            "DEFAULT_RECEIVER_BIC": "BANKCHZZXXX",
            **(settings_overrides or {}),
        }
    )
    components = bootstrap.wire(settings, twin_ports())
    bootstrap.use(components)
    ops = desk_blueprint.build(components, InMemoryOperationsJournal())
    desk_blueprint.use(ops)
    call("watchdog_timer", TimerRequest(past_due=False))  # initialises the gate: DC04 active
    return components, ops


def uninstall() -> None:
    desk_blueprint.use(None)
    bootstrap.use(None)


def flow(components: bootstrap.Components, message_id: str, body: bytes) -> None:
    """Put ``body`` on MQ, run the QueueBuilder, hand what it published to the runner."""
    ports = components.ports
    ports.mq.put(message_id, body)  # type: ignore[attr-defined]
    call("queue_builder", TimerRequest(past_due=False))
    sent = ports.publisher.sent[-1]  # type: ignore[attr-defined]
    message = ServiceBusMessage(
        body=sent.body,
        message_id=sent.message_id,
        session_id=sent.session_id,
        application_properties={
            "wal_name": sent.wal_name,
            "epoch": sent.epoch,
            "sequence": sent.sequence,
            "region": sent.region,
            "claim_check": False,
        },
        user_properties={},
    )
    call("transformation_runner", message)


PEOPLE = {
    "nobody": None,
    "reader": ("rita@bank.example", (READER,)),
    "operator": ("olga@bank.example", (OPERATOR,)),
    "operator2": ("oscar@bank.example", (OPERATOR,)),
    "approver": ("anna@bank.example", (APPROVER,)),
}


def request(
    method: str, route: str, who: str, body: object = None, params: dict[str, str] | None = None
) -> func.HttpRequest:
    """An HTTP request as the Functions host hands it over, with Easy Auth's principal of ``who``."""
    person = PEOPLE[who]
    headers = {} if person is None else {"x-ms-client-principal": encode_principal(*person)}
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return func.HttpRequest(method, f"/api/{route}", headers=headers, params=params or {}, body=raw)
