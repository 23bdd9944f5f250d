"""One region wired from in-memory twins with the real translator, plus the operations desk, and a
helper that drives statements through the decorated QueueBuilder and runner functions."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

import bootstrap
from shared.inbound import statement_properties
from shared.settings import Settings
from tests.unit.test_settings import LOCAL
from tests.unit.twins import twin_ports
from watchdog.auth import APPROVER, OPERATOR, READER, encode_principal
from watchdog.desk_blueprint import Ops

GOLDEN = Path(__file__).parents[1] / "golden"
GOOD = GOLDEN / "cbpr_c105_1_1.xml"
UNBALANCED = GOLDEN / "as_sent_postfinance.xml"  # strict refuses it (CLBD differs); as-sent keeps it

_installed: list[bootstrap.Components] = []


def _region() -> bootstrap.Components:
    return _installed[-1]


# The app as function_app builds it, on the installed region; app.get_functions() may run only once
# per app (it validates and then refuses its own names).
FUNCTIONS = {str(f.get_function_name()): f for f in bootstrap.build_app(_region).get_functions()}
#: The user functions by name, as dev/http.py's ``serve_routes`` takes them.
USER_FUNCTIONS = {name: function.get_user_function() for name, function in FUNCTIONS.items()}


def call(name: str, *args: object) -> object:
    return USER_FUNCTIONS[name](*args)


def install(
    settings_overrides: dict[str, str] | None = None,
) -> tuple[bootstrap.Components, Ops]:
    """Wire a twin region (its desk on an in-memory journal) for the triggers; ``uninstall`` forgets it."""
    settings = Settings.from_mapping(
        {
            **LOCAL,
            "DEFAULT_SENDER_BIC": "BANKDEFFXXX",
            "DEFAULT_RECEIVER_BIC": "BANKCHZZXXX",
            **(settings_overrides or {}),
        }
    )
    components = bootstrap.wire(settings, twin_ports())
    assert components.desk is not None
    _installed.append(components)
    call("watchdog_timer", TimerRequest(past_due=False))  # initialises the gate: DC04 active
    return components, components.desk


def uninstall() -> None:
    _installed.clear()


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
        application_properties=statement_properties(sent, claim_check=False),
        user_properties={},
    )
    call("transformation_runner", message)


PEOPLE: dict[str, tuple[str, tuple[str, ...]] | None] = {
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
