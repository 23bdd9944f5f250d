"""The status page: one server-rendered, read-only HTML page of what an operator checks first.

Both regions (active or passive, health per probe, heartbeat age, QueueBuilder freshness), the active
region, epoch and (when the authority has one) lease, backlog, last failover, the last
reconciliation with its counts and its FAILED, in-doubt and stuck statements, each linked to its
trace, and the requests waiting for a second person. No script, no external asset (inline CSS
only; the response's Content-Security-Policy forbids everything else), every value HTML-escaped.
The same figures come from telemetry in the Azure Monitor workbook (infra/modules/workbook.bicep).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import quote

#: Sent with the page: nothing but the inline style may load or run.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"
)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#fafafa}
h1{font-size:20px;margin:0 0 .2em}h2{font-size:16px;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#eee}.ok{color:#0a6b2d;font-weight:600}.bad{color:#b00020;font-weight:600}
.muted{color:#666}
.pill{display:inline-block;padding:.1em .6em;border-radius:1em;background:#0a6b2d;color:#fff}
.regions{display:flex;gap:1em;flex-wrap:wrap}.region{border:1px solid #ccc;background:#fff;padding:.6em 1em}
"""


def _text(value: object) -> str:
    return escape("—" if value is None or value == "" else str(value))


def _flag(ok: bool, yes: str = "ok", no: str = "failing") -> str:
    return f'<span class="{"ok" if ok else "bad"}">{escape(yes if ok else no)}</span>'


def _age(seconds: object) -> str:
    if seconds is None:
        return '<span class="bad">none (expired or never)</span>'
    return f"{_text(seconds)} s ago"


def _pairs(value: object) -> str:
    if isinstance(value, dict):
        return " · ".join(f"{_text(k)}: {_text(v)}" for k, v in value.items()) or "—"
    return _text(value)


def _trace_link(message_id: object) -> str:
    text = str(message_id)
    return f'<a href="trace?message_id={quote(text, safe="")}">{escape(text)}</a>'


def _probe_detail(result: object) -> object:
    if not isinstance(result, dict):
        return result
    return result.get("error") or result.get("detail")


def _region(name: str, info: Mapping[str, object], active: object) -> str:
    health = info.get("health") if isinstance(info.get("health"), dict) else {}
    assert isinstance(health, dict)
    probes = health.get("probes") if isinstance(health.get("probes"), dict) else {}
    assert isinstance(probes, dict)
    rows = "".join(
        f"<tr><td>{_text(probe)}</td><td>{_flag(isinstance(r, dict) and bool(r.get('ok')))}"
        f"</td><td class='muted'>{_text(_probe_detail(r))}</td></tr>"
        for probe, r in sorted(probes.items())
    )
    builder = info.get("queue_builder") if isinstance(info.get("queue_builder"), dict) else {}
    assert isinstance(builder, dict)
    role = '<span class="pill">ACTIVE</span>' if name == active else '<span class="muted">passive</span>'
    return (
        f'<div class="region" id="region-{escape(name)}"><h2>{escape(name)} {role}</h2>'
        f"<p>health: {_flag(bool(health.get('healthy')), 'healthy', 'unhealthy')} · heartbeat: "
        f"{_age(info.get('heartbeat_age_s'))} · QueueBuilder last run: {_text(builder.get('at'))}"
        f" ({_text(builder.get('summary'))})</p>"
        f"<table><tr><th>probe</th><th>state</th><th>detail</th></tr>{rows}</table></div>"
    )


def _statements(title: str, anchor: str, rows: object, extra: str) -> str:
    items = rows if isinstance(rows, list) else []
    if not items:
        return f'<h2 id="{anchor}">{escape(title)}</h2><p class="muted">none</p>'
    body = "".join(
        f"<tr><td>{_trace_link(r.get('message_id'))}</td><td>{_text(r.get('account'))}</td>"
        f"<td>{_text(r.get('ingested_at'))}</td><td>{_text(r.get(extra))}</td></tr>"
        for r in items[:50]
        if isinstance(r, dict)
    )
    return (
        f'<h2 id="{anchor}">{escape(title)} ({len(items)})</h2><table><tr><th>statement</th>'
        f"<th>account</th><th>ingested</th><th>{escape(extra)}</th></tr>{body}</table>"
    )


_ALARMING = frozenset({"stuck", "failed", "in_doubt", "missing_at_target", "out_of_order"})


def _failover(last: Mapping[str, object]) -> str:
    if not last:
        return "none recorded"
    return (
        f"{_text(last.get('from'))} → {_text(last.get('to'))} (epoch {_text(last.get('epoch'))}) at "
        f"{_text(last.get('at'))} by {_text(last.get('by'))}: {_text(last.get('reason'))}"
    )


def _pending(requests: Sequence[Mapping[str, object]]) -> str:
    if not requests:
        return '<h2 id="pending">Requests waiting for an approver</h2><p class="muted">none</p>'
    rows = "".join(
        f"<tr><td>{_text(r.get('id'))}</td><td>{_text(r.get('kind'))}</td>"
        f"<td>{_text(r.get('message_id') or r.get('target'))}</td><td>{_text(r.get('requested_by'))}</td>"
        f"<td>{_text(r.get('reason'))}</td></tr>"
        for r in requests[:50]
    )
    return (
        f'<h2 id="pending">Requests waiting for an approver ({len(requests)})</h2><table><tr><th>request</th>'
        f"<th>kind</th><th>statement / target</th><th>asked by</th><th>reason</th></tr>{rows}</table>"
    )


def render(
    status: Mapping[str, object],
    reconciliation: Mapping[str, object] | None,
    pending: Sequence[Mapping[str, object]] = (),
) -> str:
    """The page for ``status`` (``OperatorApi.status()``), the latest reconciliation report and the
    requests waiting for an approver."""
    regions = status.get("regions") if isinstance(status.get("regions"), dict) else {}
    assert isinstance(regions, dict)
    active = status.get("active_dc")
    failover = status.get("last_failover") if isinstance(status.get("last_failover"), dict) else {}
    assert isinstance(failover, dict)
    report = reconciliation or {}
    counts = report.get("counts") if isinstance(report.get("counts"), dict) else {}
    assert isinstance(counts, dict)
    heads = "".join(f"<th>{_text(str(k).replace('_', ' '))}</th>" for k in counts)
    cells = "".join(
        f"<td class='{'bad' if v and k in _ALARMING else ''}'>{_text(v)}</td>" for k, v in counts.items()
    )
    held = status.get("lease") if isinstance(status.get("lease"), dict) else {}
    assert isinstance(held, dict)
    lease = held.get("lease_until")
    boxes = "".join(_region(n, i, active) for n, i in sorted(regions.items()) if isinstance(i, dict))
    title = f"Statement bridge status — {_text(status.get('region'))}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_STYLE}</style></head>"
        "<body><h1>Statement bridge — status</h1>"
        f"<p id='summary'>active region: <strong id='active'>{_text(active)}</strong> · epoch "
        f"<strong id='epoch'>{_text(status.get('epoch'))}</strong>"
        + (f" · lease until {_text(lease)}" if lease else "")
        + f" · answered by {_text(status.get('region'))} at {_text(status.get('at'))}</p>"
        f"<div class='regions'>{boxes}</div>"
        f"<h2>Backlog</h2><p id='backlog'>{_pairs(status.get('backlog'))}</p>"
        f"<h2>Last failover</h2><p id='failover'>{_failover(failover)}</p>"
        f"<h2>Last reconciliation</h2><p id='reconciliation'>{_text(report.get('from'))} – "
        f"{_text(report.get('to'))} (run {_text(report.get('at'))} by {_text(report.get('region'))}, "
        f"stored as {_text(report.get('stored_as'))})</p>"
        f"<table id='counts'><tr>{heads}</tr><tr>{cells}</tr></table>"
        + _statements("Failed statements", "failed", report.get("failed"), "reason")
        + _statements("In-doubt statements", "in-doubt", report.get("in_doubt"), "state")
        + _statements("Stuck statements", "stuck", report.get("stuck"), "state")
        + _pending(pending)
        + "<p class='muted'>read-only; actions: docs/runbook.md</p></body></html>"
    )
