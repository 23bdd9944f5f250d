"""The control app's consumption route, called as the Functions host calls it: who may (the bridge
identity with Bridge.Switch only), what it accepts, what it answers when ARM is away, and the audit."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

from bootstrap.control import build_control_app
from tests.twins import InMemoryConsumptionSwitch
from watchdog.auth import HEADER, SWITCHER, encode_principal
from watchdog.control_blueprint import Control

BRIDGE = "11111111-2222-3333-4444-555555555555"


def call(control: Control, method: str, principal: str | None, body: object = None) -> tuple[int, dict]:
    function = next(
        f.get_user_function()
        for f in build_control_app(lambda: control).get_functions()
        if f.get_function_name() == "control_consumption"
    )
    headers = {} if principal is None else {HEADER: principal}
    raw = b"" if body is None else json.dumps(body).encode()
    response = function(func.HttpRequest(method, "/api/consumption", headers=headers, body=raw))
    return response.status_code, json.loads(response.get_body())


def bridge(roles: tuple[str, ...] = (SWITCHER,), object_id: str = BRIDGE) -> str:
    return encode_principal("", list(roles), object_id)


@pytest.fixture
def control() -> Control:
    return Control("DC06", InMemoryConsumptionSwitch(), BRIDGE)


def test_the_bridge_identity_turns_consumption_on_and_off_and_reads_it(
    control: Control, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge.audit"):
        assert call(control, "POST", bridge(), {"enabled": True}) == (
            200,
            {"region": "DC06", "enabled": True},
        )
    assert control.switch.enabled() is True
    assert call(control, "GET", bridge()) == (200, {"region": "DC06", "enabled": True})
    assert call(control, "POST", bridge(), {"enabled": False})[0] == 200 and control.switch.enabled() is False
    assert control.switch.changes == [True, False]  # type: ignore[attr-defined]
    events = [r for r in caplog.records if r.getMessage().startswith("operator.audit")]
    assert [(e.caller, e.action, e.request) for e in events] == [  # type: ignore[attr-defined]
        (f"app:{BRIDGE}", "consumption", {"enabled": True}),
        (f"app:{BRIDGE}", "consumption", {"enabled": False}),
    ]


@pytest.mark.parametrize(
    ("principal", "status", "reason"),
    [
        (None, 401, "no authenticated principal"),
        (bridge(roles=()), 403, "lacks the app role Bridge.Switch"),
        (bridge(object_id="99999999-0000-0000-0000-000000000000"), 403, "is not DC06's bridge app identity"),
        (encode_principal("olga@bank.example", ["Bridge.Operator", "Bridge.Approver"]), 403, "Bridge.Switch"),
    ],
)
def test_nobody_else_may(control: Control, principal: str | None, status: int, reason: str) -> None:
    answer = call(control, "POST", principal, {"enabled": True})
    assert answer[0] == status and reason in str(answer[1]["error"])
    assert control.switch.enabled() is False and control.switch.changes == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [{}, {"enabled": "true"}, {"enabled": 1}, [True]])
def test_a_bad_body_is_a_400_and_changes_nothing(control: Control, body: object) -> None:
    status, answer = call(control, "POST", bridge(), body)
    assert status == 400
    assert "enabled: expected true or false" in str(answer["error"]) or "JSON object" in str(answer["error"])
    assert control.switch.changes == []  # type: ignore[attr-defined]


def test_arm_away_is_a_503_the_watchdog_retries(control: Control) -> None:
    control.switch.available = False  # type: ignore[attr-defined]
    status, answer = call(control, "POST", bridge(), {"enabled": True})
    assert status == 503 and "unavailable" in str(answer["error"]).lower()
    assert call(control, "GET", bridge())[0] == 503
