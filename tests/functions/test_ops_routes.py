"""The operations desk's routes called as the Functions host calls them: bindings and auth levels,
principals and app roles, bad requests (4xx with a reason, nothing changed), and each task end to end
on a twin region with the real translator."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import pytest

import bootstrap
from shared.model import RecordState, delivery_key_for
from tests.ops.region import FUNCTIONS, GOOD, PEOPLE, UNBALANCED, call, flow, install, request, uninstall
from watchdog.desk_blueprint import Ops

GOOD_ID, BAD_ID = "a1" * 24, "b2" * 24

ROUTES = {
    # name: (method, route, least role, a valid body)
    "watchdog_status": ("GET", "status", "reader", None),
    "watchdog_failover": ("POST", "failover", "operator", {"target": "DC06", "reason": "planned test"}),
    "watchdog_replay": ("POST", "replay", "operator", {}),
    "ops_trace": ("GET", "trace", "reader", None),
    "ops_reconciliation": ("GET", "reconciliation", "reader", None),
    "ops_reconcile": ("POST", "reconcile", "operator", {}),
    "ops_resubmit": ("POST", "resubmit", "operator", {"message_id": BAD_ID, "reason": "upstream fixed"}),
    "ops_resend": ("POST", "resend", "operator", {"message_id": GOOD_ID, "reason": "receiver lost it"}),
    "ops_approve": ("POST", "approve", "approver", {"request_id": "20261126T090000-resend-0123abcd"}),
    "ops_requests": ("GET", "requests", "reader", None),
    "ops_status_page": ("GET", "statuspage", "reader", None),
}


@pytest.fixture
def region() -> Iterator[tuple[bootstrap.Components, Ops]]:
    components, ops = install()
    flow(components, GOOD_ID, GOOD.read_bytes())
    flow(components, BAD_ID, UNBALANCED.read_bytes())
    yield components, ops
    uninstall()


def answer(response: object) -> tuple[int, dict]:
    assert isinstance(response, func.HttpResponse)
    return response.status_code, json.loads(response.get_body())


def test_every_route_is_bound_with_its_auth_level() -> None:
    for name, (method, route, _, _) in ROUTES.items():
        http = json.loads(FUNCTIONS[name].get_function_json())["bindings"][0]
        assert http["type"] == "httpTrigger" and http["route"] == route and http["methods"] == [method]
        # A browser opens the page and follows its trace links through Easy Auth: it has no function key.
        assert http["authLevel"] == ("ANONYMOUS" if name in {"ops_status_page", "ops_trace"} else "FUNCTION")
    timer = json.loads(FUNCTIONS["reconcile_timer"].get_function_json())["bindings"][0]
    assert timer["type"] == "timerTrigger" and timer["schedule"] == "%RECONCILE_SCHEDULE%"


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_no_principal_is_401_and_the_wrong_role_is_403(region: object, name: str) -> None:
    method, route, role, body = ROUTES[name]
    status, reply = answer(call(name, request(method, route, "nobody", body)))
    assert status == 401 and "no authenticated principal" in reply["error"]
    weaker = {"reader": None, "operator": "reader", "approver": "operator"}[role]
    if weaker:
        status, reply = answer(call(name, request(method, route, weaker, body)))
        assert status == 403 and "lacks the app role" in reply["error"]


def test_a_forged_principal_name_header_is_not_an_identity(region: object) -> None:
    forged = func.HttpRequest("GET", "/api/status", headers={"x-ms-client-principal-name": "admin"}, body=b"")
    assert answer(call("watchdog_status", forged))[0] == 401


def test_trace_of_a_delivered_statement(region: tuple[bootstrap.Components, Ops]) -> None:
    status, trace = answer(
        call("ops_trace", request("GET", "trace", "reader", params={"message_id": GOOD_ID}))
    )
    assert status == 200 and trace["state"] == "DELIVERED"
    steps = {step["step"]: step for step in trace["steps"]}
    assert set(steps) == {"ingested", "servicebus", "claim", "delivered"}
    assert steps["ingested"]["wal"].startswith("wal/") and steps["ingested"]["region"] == "DC04"
    assert steps["delivered"]["delivery_key"] == delivery_key_for(GOOD_ID)
    assert steps["delivered"]["details"]["balance_policy"] == "strict (default policy)"


def test_trace_of_a_failed_statement_names_reason_and_quarantine(region: object) -> None:
    _, trace = answer(call("ops_trace", request("GET", "trace", "reader", params={"message_id": BAD_ID})))
    failed = next(step for step in trace["steps"] if step["step"] == "failed")
    assert failed["reason"] == "unbalanced" and failed["quarantine"] == f"quarantine/{BAD_ID}"
    assert failed["details"]["balance_policy"] == "strict (default policy)"


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({}, 400, "give message_id, or account"),
        ({"message_id": "x", "account": "y"}, 400, "give message_id, or account"),
        ({"account": "CH29", "from": "yesterday"}, 400, "not an ISO 8601 time"),
        (
            {"account": "CH29", "from": "2026-11-27T00:00", "to": "2026-11-26T00:00"},
            400,
            "from must be before",
        ),
        ({"message_id": "ff" * 24}, 404, ""),
        ({"message_id": "../requests"}, 400, "message_id: required (letters, digits"),
    ],
)
def test_trace_refuses_bad_queries(region: object, params: dict, status: int, fragment: str) -> None:
    got, reply = answer(call("ops_trace", request("GET", "trace", "reader", params=params)))
    assert got == status and fragment in str(reply.get("error", ""))


def test_trace_by_account(region: tuple[bootstrap.Components, Ops]) -> None:
    params = {
        "account": "CH2909000000250094239",
        "from": "2000-01-01T00:00:00+00:00",
        "to": "2000-01-02T00:00:00+00:00",
    }
    assert answer(call("ops_trace", request("GET", "trace", "reader", params=params)))[1]["statements"] == []
    status, found = answer(
        call("ops_trace", request("GET", "trace", "reader", params={"account": "CH2909000000250094239"}))
    )
    assert status == 200 and [(s["message_id"], s["state"]) for s in found["statements"]] == [
        (BAD_ID, "FAILED")
    ]


def test_resend_needs_a_second_different_approver(
    region: tuple[bootstrap.Components, Ops],
) -> None:
    components, _ = region
    target = components.ports.target
    status, pending = answer(
        call(
            "ops_resend",
            request("POST", "resend", "operator", {"message_id": GOOD_ID, "reason": "receiver lost it"}),
        )
    )
    assert status == 202 and pending["state"] == "PENDING"
    assert len(target.delivered) == 1  # type: ignore[attr-defined]  # nothing sent yet
    both = ("olga@bank.example", ("Bridge.Operator", "Bridge.Approver"))
    PEOPLE["olga-approver"] = both
    status, refused = answer(
        call("ops_approve", request("POST", "approve", "olga-approver", {"request_id": pending["request"]}))
    )
    assert status == 403 and "second, different approver" in refused["error"]
    status, done = answer(
        call("ops_approve", request("POST", "approve", "approver", {"request_id": pending["request"]}))
    )
    assert status == 200 and done["state"] == "DONE" and done["approved_by"] == "anna@bank.example"
    assert done["delivery_key"] != delivery_key_for(GOOD_ID)
    assert target.delivered[done["delivery_key"]] == target.delivered[delivery_key_for(GOOD_ID)]  # type: ignore[attr-defined]
    record = components.ports.store.get(GOOD_ID)
    assert (
        record is not None and record.state is RecordState.DELIVERED and record.attempts == 1
    )  # not a redelivery
    again = answer(
        call("ops_approve", request("POST", "approve", "approver", {"request_id": pending["request"]}))
    )
    assert again[0] == 409 and "not PENDING" in again[1]["error"]
    _, trace = answer(call("ops_trace", request("GET", "trace", "reader", params={"message_id": GOOD_ID})))
    resend = next(step for step in trace["steps"] if step["step"] == "resend")
    assert resend["requested_by"] == "olga@bank.example" and resend["reason"] == "receiver lost it"
    del PEOPLE["olga-approver"]


def test_resubmit_of_a_quarantined_statement(region: tuple[bootstrap.Components, Ops]) -> None:
    components, _ = region
    target = components.ports.target
    body = {"message_id": BAD_ID, "reason": "checked with the bank: CLBD is right"}
    status, refused = answer(call("ops_resubmit", request("POST", "resubmit", "operator", body)))
    assert status == 422 and "still does not translate (unbalanced)" in refused["error"]
    assert len(target.delivered) == 1  # type: ignore[attr-defined]
    status, done = answer(
        call("ops_resubmit", request("POST", "resubmit", "operator", {**body, "policy": "as-sent"}))
    )
    assert (
        status == 200
        and done["state"] == "DONE"
        and done["policy_used"].startswith("as-sent (explicit, by olga")
    )
    assert done["delivery_key"] in target.delivered  # type: ignore[attr-defined]
    sent_with = target.metadata[done["delivery_key"]]  # type: ignore[attr-defined]
    assert sent_with["format"] == "MT950" and sent_with["resubmit"] == done["id"]  # as the runner sends it
    twice = answer(
        call("ops_resubmit", request("POST", "resubmit", "operator", {**body, "policy": "as-sent"}))
    )
    assert twice[0] == 409 and "already resubmitted" in twice[1]["error"]
    record = components.ports.store.get(BAD_ID)
    assert record is not None and record.state is RecordState.FAILED  # the record tells what happened first


@pytest.mark.parametrize(
    ("route", "body", "status", "fragment"),
    [
        ("resubmit", {"reason": "upstream fixed"}, 400, "message_id: required"),
        ("resubmit", {"message_id": BAD_ID}, 400, "reason: required"),
        ("resubmit", {"message_id": BAD_ID, "reason": "ok"}, 400, "say why"),
        (
            "resubmit",
            {"message_id": BAD_ID, "reason": "upstream fixed", "policy": "lenient"},
            400,
            "policy: expected",
        ),
        ("resubmit", {"message_id": "../etc", "reason": "upstream fixed"}, 400, "message_id"),
        ("resubmit", {"message_id": GOOD_ID, "reason": "upstream fixed"}, 409, "not FAILED"),
        ("resubmit", {"message_id": "ee" * 24, "reason": "upstream fixed"}, 404, "no idempotency record"),
        ("resend", {"message_id": BAD_ID, "reason": "receiver lost it"}, 409, "not DELIVERED"),
        ("resend", b"[1, 2]", 400, "JSON object"),
        ("resend", b"x" * 5000, 413, "over 4096 bytes"),
    ],
)
def test_bad_action_requests_change_nothing(
    region: tuple[bootstrap.Components, Ops],
    route: str,
    body: object,
    status: int,
    fragment: str,
) -> None:
    components, ops = region
    before = dict(ops.journal.documents)  # type: ignore[attr-defined]
    delivered = dict(components.ports.target.delivered)  # type: ignore[attr-defined]
    got, reply = answer(call(f"ops_{route}", request("POST", route, "operator", body)))
    assert got == status and fragment in reply["error"]
    assert ops.journal.documents == before and components.ports.target.delivered == delivered  # type: ignore[attr-defined]


def test_approve_refuses_unknown_or_malformed_requests(region: object) -> None:
    bad = answer(call("ops_approve", request("POST", "approve", "approver", {"request_id": "drop table"})))
    assert bad[0] == 400 and "request_id" in bad[1]["error"]
    unknown = answer(
        call(
            "ops_approve",
            request("POST", "approve", "approver", {"request_id": "20261126T090000-resend-0123abcd"}),
        )
    )
    assert unknown[0] == 404


def test_forced_failover_waits_for_an_approver(
    region: tuple[bootstrap.Components, Ops],
) -> None:
    components, _ = region
    body = {"target": "DC06", "reason": "DC04 MQ channel down", "force": True}
    status, pending = answer(call("watchdog_failover", request("POST", "failover", "operator", body)))
    assert status == 202 and pending["state"] == "PENDING"
    before = components.ports.authority.read()
    assert before is not None and (before.active_dc, before.epoch) == ("DC04", 1)
    listed = answer(call("ops_requests", request("GET", "requests", "reader", params={"state": "PENDING"})))[
        1
    ]
    assert [r["id"] for r in listed["requests"]] == [pending["request"]]
    status, done = answer(
        call("ops_approve", request("POST", "approve", "approver", {"request_id": pending["request"]}))
    )
    assert status == 202 and done["forced"] is True and done["to"] == "DC06"
    after = components.ports.authority.read()
    assert after is not None and (after.active_dc, after.epoch) == ("DC06", 2)
    assert after.by == "olga@bank.example (approved by anna@bank.example)" and after.previous_dc == "DC04"


def test_reconcile_now_then_read_the_stored_report(
    region: tuple[bootstrap.Components, Ops],
) -> None:
    assert answer(call("ops_reconciliation", request("GET", "reconciliation", "reader")))[0] == 404
    status, report = answer(call("ops_reconcile", request("POST", "reconcile", "operator", {})))
    assert status == 200 and report["counts"]["taken_off_mq"] == 2 and report["counts"]["failed"] == 1
    assert [f["message_id"] for f in report["failed"]] == [BAD_ID]
    stored = answer(call("ops_reconciliation", request("GET", "reconciliation", "reader")))[1]
    assert stored["stored_as"] == report["stored_as"] and stored["counts"] == report["counts"]
    bad = answer(
        call(
            "ops_reconcile",
            request("POST", "reconcile", "operator", {"from": "2026-11-27T00:00", "to": "2026-11-26T00:00"}),
        )
    )
    assert bad[0] == 400


def test_status_page_is_html_with_a_strict_content_policy(region: object) -> None:
    call("ops_reconcile", request("POST", "reconcile", "operator", {}))
    response = call("ops_status_page", request("GET", "statuspage", "reader"))
    assert isinstance(response, func.HttpResponse) and response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    page = response.get_body().decode()
    assert f'href="trace?message_id={BAD_ID}"' in page and "<script" not in page
    # The lease-era status: the lease's end, and the QueueBuilder's last run (its heartbeat), not "None".
    status = answer(call("watchdog_status", request("GET", "status", "reader")))[1]
    assert f"lease until {status['lease']['lease_until']}" in page
    builder = status["regions"]["DC04"]["queue_builder"]
    assert f"QueueBuilder last run: {builder['at']} ({builder['summary']})" in page
