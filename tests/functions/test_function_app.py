"""The Functions app itself: its bindings, and its decorated functions called with real
``azure.functions`` objects on a region wired from in-memory twins and the real translator."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

import bootstrap
from function_app import app
from shared.inbound import statement_properties
from shared.model import RecordState, delivery_key_for
from shared.settings import Settings
from tests.unit.test_settings import LOCAL
from tests.unit.twins import twin_ports
from watchdog.auth import encode_principal

OPS = {"x-ms-client-principal": encode_principal("ops@bank.example", ["Bridge.Operator"])}
SAMPLE = Path(__file__).parents[1] / "golden" / "cbpr_c105_1_1.xml"


_FUNCTIONS = {str(f.get_function_name()): f for f in app.get_functions()}  # get_functions() validates once


def functions() -> dict[str, func.Function]:
    return _FUNCTIONS


def test_the_app_registers_its_functions_with_their_bindings() -> None:
    found = functions()
    assert set(found) == {
        "queue_builder",
        "transformation_runner",
        "watchdog_timer",
        "watchdog_status",
        "watchdog_failover",
        "watchdog_replay",
        # the operations desk (tests/functions/test_ops_routes.py)
        "reconcile_timer",
        "ops_trace",
        "ops_reconciliation",
        "ops_reconcile",
        "ops_resubmit",
        "ops_resend",
        "ops_approve",
        "ops_requests",
        "ops_status_page",
    }
    runner = json.loads(found["transformation_runner"].get_function_json())["bindings"][0]
    assert runner["type"] == "serviceBusTrigger"
    assert runner["queueName"] == "%ServiceBusQueueName%"
    assert runner["connection"] == "ServiceBusConnection"
    assert runner["isSessionsEnabled"] is True
    timer = json.loads(found["queue_builder"].get_function_json())["bindings"][0]
    assert timer["type"] == "timerTrigger" and timer["schedule"] == "%QUEUE_BUILDER_SCHEDULE%"
    for name, route in (
        ("watchdog_status", "status"),
        ("watchdog_failover", "failover"),
        ("watchdog_replay", "replay"),
    ):
        http = json.loads(found[name].get_function_json())["bindings"][0]
        assert http["type"] == "httpTrigger" and http["authLevel"] == "FUNCTION" and http["route"] == route


@pytest.fixture
def region() -> Iterator[bootstrap.Components]:
    """A region on the twins, and the same app as ``function_app.app`` built on it."""
    settings = Settings.from_mapping({**LOCAL, "DEFAULT_SENDER_BIC": "BANKDEFFXXX"})
    components = bootstrap.wire(settings, twin_ports())
    app = bootstrap.build_app(lambda: components)
    _CALLS.update({str(f.get_function_name()): f.get_user_function() for f in app.get_functions()})
    yield components
    _CALLS.clear()


_CALLS: dict[str, Callable[..., object]] = {}


def call(name: str, *args: object) -> object:
    return _CALLS[name](*args)


def test_statement_flows_through_the_decorated_functions(region: bootstrap.Components) -> None:
    ports = region.ports
    call("watchdog_timer", TimerRequest(past_due=False))  # initialises the gate: DC04 active
    ports.mq.put("a1" * 24, SAMPLE.read_bytes())  # type: ignore[attr-defined]
    call("queue_builder", TimerRequest(past_due=False))
    [sent] = ports.publisher.sent  # type: ignore[attr-defined]
    message = ServiceBusMessage(
        body=sent.body,
        message_id=sent.message_id,
        session_id=sent.session_id,
        application_properties=statement_properties(sent, claim_check=False),
        user_properties={},
    )
    call("transformation_runner", message)
    key = delivery_key_for("a1" * 24)
    delivered = ports.target.delivered[key].decode()  # type: ignore[attr-defined]
    # The sample's AppHdr names the sender and receiver BICs; its statement id is 100-01.
    assert delivered.startswith("{1:F01RBOSGBCHAXXX") and "{2:I950CBRLGB2LXXXX" in delivered
    assert "\r\n:20:100-01\r\n" in delivered and delivered.endswith("-}")
    record = ports.store.get("a1" * 24)
    assert record is not None and record.state is RecordState.DELIVERED


def test_status_and_failover_routes(region: bootstrap.Components) -> None:
    call("watchdog_timer", TimerRequest(past_due=False))
    status = call("watchdog_status", func.HttpRequest("GET", "/api/status", headers=OPS, body=b""))
    assert isinstance(status, func.HttpResponse) and status.status_code == 200
    assert json.loads(status.get_body())["active_dc"] == "DC04"
    bad = call("watchdog_failover", func.HttpRequest("POST", "/api/failover", headers=OPS, body=b"not json"))
    assert bad.status_code == 400  # type: ignore[attr-defined]
    refused = call(
        "watchdog_failover",
        func.HttpRequest(
            "POST",
            "/api/failover",
            body=json.dumps({"target": "DC06", "reason": "planned test"}).encode(),
            headers=OPS,
        ),
    )
    answer = json.loads(refused.get_body())  # type: ignore[attr-defined]
    assert refused.status_code == 409 and "not healthy" in answer["error"]  # type: ignore[attr-defined]
    replay = call("watchdog_replay", func.HttpRequest("POST", "/api/replay", headers=OPS, body=b"{}"))
    assert replay.status_code == 200  # type: ignore[attr-defined]
