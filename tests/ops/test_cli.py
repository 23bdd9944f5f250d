"""The desk's CLI over real HTTP: the dev host's server (what Azure's host does for HTTP triggers,
with Easy Auth's part: client principal headers stripped, the dev principal injected)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from dev.http import serve_routes
from tests.ops.region import GOOD, UNBALANCED, USER_FUNCTIONS, flow, install, uninstall
from watchdog import cli
from watchdog.auth import encode_principal

KEY = "cli-test-key"
GOOD_ID, BAD_ID = "a1" * 24, "b2" * 24


@pytest.fixture
def url() -> Iterator[str]:
    components, _ = install()
    flow(components, GOOD_ID, GOOD.read_bytes())
    flow(components, BAD_ID, UNBALANCED.read_bytes())
    server = serve_routes(0, KEY, USER_FUNCTIONS)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        uninstall()


def desk(url: str, *argv: str, key: str = KEY, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = cli.run(cli.parser().parse_args(list(argv)), cli.http_sender(url, key, ""))
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.integration  # serves the routes on a local socket (dev/http.py)
def test_trace_reconcile_resend_approve_from_the_cli(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, trace = desk(url, "trace", BAD_ID, capsys=capsys)
    assert code == 0 and trace["state"] == "FAILED"
    code, report = desk(url, "reconcile", capsys=capsys)
    assert code == 0 and report["counts"]["failed"] == 1
    assert desk(url, "report", capsys=capsys)[1]["stored_as"] == report["stored_as"]
    monkeypatch.setenv("BRIDGE_DEV_USER", "olga@bank.example")
    code, pending = desk(url, "resend", GOOD_ID, "--reason", "receiver lost it", capsys=capsys)
    assert code == 0 and pending["state"] == "PENDING"
    code, refused = desk(url, "approve", pending["request"], capsys=capsys)  # the same person
    assert code == 1 and "second, different approver" in refused["error"]
    monkeypatch.setenv("BRIDGE_DEV_USER", "anna@bank.example")
    code, done = desk(url, "approve", pending["request"], capsys=capsys)
    assert code == 0 and done["state"] == "DONE"
    code, listed = desk(url, "requests", "--state", "DONE", capsys=capsys)
    assert [r["id"] for r in listed["requests"]] == [pending["request"]]


@pytest.mark.integration  # serves the routes on a local socket (dev/http.py)
def test_a_wrong_function_key_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, answer = desk(url, "resend", GOOD_ID, "--reason", "receiver lost it", key="wrong", capsys=capsys)
    assert code == 1 and "function key" in answer["error"]


@pytest.mark.integration  # serves the routes on a local socket (dev/http.py)
def test_a_client_sent_principal_is_stripped(url: str) -> None:
    forged = encode_principal("mallory", ["Bridge.Operator", "Bridge.Approver"])
    request = urllib.request.Request(
        f"{url}/api/resend",
        method="POST",
        data=json.dumps({"message_id": GOOD_ID, "reason": "trust me"}).encode(),
        headers={
            "x-functions-key": KEY,
            "X-MS-CLIENT-PRINCIPAL": forged,
            "x-dev-user": "rita@bank.example",
            "x-dev-roles": "Bridge.Reader",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert "rita@bank.example lacks the app role Bridge.Operator" in json.loads(refused.value.read())["error"]


def test_cli_commands_map_to_routes() -> None:
    def call(*argv: str) -> tuple[str, str, object]:
        return cli.call_of(cli.parser().parse_args(list(argv)))

    assert call("trace", "--account", "CH93", "--from", "2026-11-26T00:00") == (
        "GET",
        "trace?account=CH93&from=2026-11-26T00%3A00",
        None,
    )
    assert call("resubmit", "m1", "--reason", "fixed upstream", "--policy", "as-sent") == (
        "POST",
        "resubmit",
        {"message_id": "m1", "reason": "fixed upstream", "policy": "as-sent"},
    )
    assert call("requests") == ("GET", "requests?", None)
