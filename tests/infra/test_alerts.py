"""The alert queries read telemetry the code really emits.

Log alerts key on event names (``shared.telemetry.log_event``: ``Properties.event``) and function names
(``AppRequests.Name``). A rename in the code silently blinds an alert, so every name a query uses must
be a string the code logs or a function the blueprints register. docs/alerts.md explains each alert.
"""

from __future__ import annotations

import ast
import re

import pytest

from tests.infra.bicep import INFRA, ROOT, blueprint_functions, parse_bicep

ALERTS = parse_bicep(INFRA / "modules" / "alerts.bicep")
QUERIES = {name: v["value"] for name, v in ALERTS["variables"].items() if name.endswith("Query")}
CODE_DIRS = ("bootstrap", "shared", "queue_builder", "transformation_runner", "watchdog")


def _code_strings() -> set[str]:
    strings: set[str] = set()
    files = [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")]
    for path in files:
        if path.is_file():
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    strings.add(node.value)
    return strings


def test_the_seven_alerts_have_queries_or_metrics() -> None:
    assert set(QUERIES) == {
        "failedQuery",
        "heartbeatQuery",
        "bothActiveQuery",
        "staleQuery",
        "stuckQuery",
        "retentionQuery",
    }
    assert ALERTS["resources"]["deadLetter"]["type"] == "Microsoft.Insights/metricAlerts"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_event_names_in_queries_are_logged_by_the_code(name: str) -> None:
    query = QUERIES[name]
    events = set(re.findall(r'"([a-z_]+\.[a-z_]+)"', query))
    assert events, f"{name} reads no event"
    missing = events - _code_strings()
    assert not missing, f"{name} reads events the code never logs: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_function_names_in_queries_are_registered(name: str) -> None:
    functions = set(re.findall(r'Name == "([a-z_]+)"', QUERIES[name]))
    assert functions <= blueprint_functions(), sorted(functions - blueprint_functions())


def test_the_region_is_read_from_the_app_name_the_template_gives() -> None:
    formats = parse_bicep(INFRA / "naming.bicep")["variables"]["nameFormats"]["value"]
    app = formats["functionApp"].format("bridge", "dc04", "x7q2")
    pattern = re.search(r'extract\(@"(.+?)", 1, AppRoleName\)', QUERIES["bothActiveQuery"])
    assert pattern, "bothActiveQuery must derive the region from AppRoleName"
    match = re.search(pattern.group(1), app)
    assert match and match.group(1) == "dc04"


def test_the_docs_describe_every_alert() -> None:
    text = (ROOT / "docs" / "alerts.md").read_text()
    for heading in ("## Dead-letter depth", "## FAILED records", "## Heartbeat missing"):
        assert heading in text
    for heading in ("## Both regions active", "## QueueBuilder stale", "## Reconciliation stuck"):
        assert heading in text
    assert "## WAL retention failing" in text


def test_runbook_routes_exist() -> None:
    blueprint = (ROOT / "watchdog" / "blueprint.py").read_text()
    for route in ("status", "failover", "replay"):
        assert re.search(rf'route="{route}"', blueprint), route
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    assert "x-functions-key" in runbook
