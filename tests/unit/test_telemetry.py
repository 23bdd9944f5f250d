"""Logs never carry account numbers or bodies in clear; counters reach OpenTelemetry when configured."""

import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared.telemetry import Metrics, configure_observability, mask
from tests.unit.twins import Shared, inbound

ACCOUNT = "CH9300762011623852957"


def test_mask_keeps_only_the_last_four_characters() -> None:
    assert mask(ACCOUNT) == "*" * 17 + "2957"
    assert mask("abc") == "***"


def test_a_statement_through_both_handlers_logs_no_account_and_no_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    shared = Shared()
    shared.activate("DC04")
    secret_body = f"{ACCOUNT}|SECRET-NARRATIVE-1234 salary of J. Doe"
    shared.mq.put("ab" * 24, secret_body.encode())
    shared.mq.put("cd" * 24, f"{ACCOUNT}|BAD body".encode())
    shared.queue_builder().run(budget_s=5)
    runner = shared.runner()
    for statement in shared.publisher.sent:
        runner.handle(inbound(statement))
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "statement.ingested" in text and "statement.delivered" in text and "statement.failed" in text
    assert ACCOUNT not in text
    assert "SECRET-NARRATIVE" not in text and "J. Doe" not in text
    assert "2957" in text  # masked, still correlatable
    for record in caplog.records:
        if record.getMessage().startswith("statement."):
            fields = vars(record)
            assert fields["message_id"] and fields["region"] == "DC04"  # structured fields on every event


def test_counters_are_mirrored_to_opentelemetry() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("bridge-test")
    metrics = Metrics()
    metrics.export_to(meter)
    metrics.incr("delivered", 3)
    metrics.incr("delivered")
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        m.name: getattr(m.data.data_points[0], "value", None)  # a counter's NumberDataPoint
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert points == {"bridge.delivered": 4}
    assert metrics.snapshot() == {"delivered": 4}


def test_gauges_are_mirrored_to_opentelemetry() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("bridge-test")
    metrics = Metrics()
    metrics.export_to(meter)
    metrics.gauge("reconcile_stuck", 3.0)
    metrics.gauge("reconcile_stuck", 2.0)
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        m.name: m.data.data_points[0].value  # type: ignore[union-attr]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert points == {"bridge.reconcile_stuck": 2.0}


def test_observability_is_off_without_a_connection_string() -> None:
    assert configure_observability({}) is False
