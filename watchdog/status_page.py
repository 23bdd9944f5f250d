"""The status page: one server-rendered, read-only HTML page of what an operator checks first.

Both regions (active or passive, health per probe, heartbeat age, QueueBuilder freshness), the active
region, epoch and (when the authority has one) lease, backlog, last failover, the last
reconciliation with its counts and its stuck statements, the requests waiting for a second person,
and two LIVE lists read from the idempotency records when the page is asked for (:class:`LiveLists`):
the FAILED statements of the last :data:`FAILED_WINDOW` and the in-doubt ones (a ``PENDING`` claim
older than the claim lease, ``CLAIM_LEASE_S``: its worker stopped between claim and record), each one
bounded query (``IdempotencyStore.failed_since`` / ``claimed_before``, at most :data:`LIVE_LIMIT`
rows), each statement linked to its trace. No script, no external asset (inline CSS only; the
response's Content-Security-Policy forbids everything else), every value HTML-escaped. The same
figures come from telemetry in the Azure Monitor workbook (infra/modules/workbook.bicep).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

from shared.errors import BridgeError
from shared.model import ClaimRecord
from shared.ports import IdempotencyStore
from shared.telemetry import mask

#: The live FAILED list looks this far back.
FAILED_WINDOW = timedelta(hours=24)
#: At most this many rows per live list (one ``TOP`` query each; the reconciliation lists them all).
LIVE_LIMIT = 50

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


Columns = Sequence[tuple[str, str]]  # (row key, heading) after the statement's trace link
_WAL_COLUMNS: Columns = (("account", "account"), ("ingested_at", "ingested"), ("state", "state"))
_FAILED_COLUMNS: Columns = (
    ("account", "account"),
    ("at", "failed at"),
    ("region", "region"),
    ("reason", "reason"),
)
_IN_DOUBT_COLUMNS: Columns = (
    ("account", "account"),
    ("at", "claimed at"),
    ("region", "region"),
    ("epoch", "epoch"),
    ("attempts", "attempts"),
    ("lease_until", "lease until"),
)


def _statements(title: str, anchor: str, rows: object, columns: Columns, note: str = "") -> str:
    """A table of statements, each linked to its trace; ``rows`` may be ``{"error": …}``."""
    if isinstance(rows, dict) and rows.get("error"):
        return (
            f'<h2 id="{anchor}">{escape(title)}</h2>'
            f'<p class="bad">unavailable: {_text(rows.get("error"))}</p>'
        )
    items = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    hint = f'<p class="muted">{escape(note)}</p>' if note else ""
    if not items:
        return f'<h2 id="{anchor}">{escape(title)}</h2>{hint}<p class="muted">none</p>'
    heads = "".join(f"<th>{escape(heading)}</th>" for _, heading in columns)
    body = "".join(
        f"<tr><td>{_trace_link(r.get('message_id'))}</td>"
        + "".join(f"<td>{_text(r.get(key))}</td>" for key, _ in columns)
        + "</tr>"
        for r in items[:LIVE_LIMIT]
    )
    return (
        f'<h2 id="{anchor}">{escape(title)} ({len(items)})</h2>{hint}<table><tr><th>statement</th>'
        f"{heads}</tr>{body}</table>"
    )


def _live_row(record: ClaimRecord) -> dict[str, object]:
    return {
        "message_id": record.message_id,
        "account": mask(record.session_id),
        "at": record.updated_at.isoformat() if record.updated_at else None,
        "region": record.region,
        "epoch": record.epoch,
        "attempts": record.attempts,
        "reason": record.reason,
        "lease_until": record.lease_until.isoformat(),
    }


@dataclass
class LiveLists:
    """The page's live lists: recent FAILED records and old PENDING claims, one bounded query each."""

    store: IdempotencyStore
    in_doubt_after_s: float  # CLAIM_LEASE_S: a claim older than its lease is in doubt
    limit: int = LIVE_LIMIT
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __call__(self) -> dict[str, object]:
        """``{"failed": rows | {"error"}, "in_doubt": rows | {"error"}, "in_doubt_after_s", "at"}``."""
        now = self.clock()
        return {
            "at": now.isoformat(),
            "in_doubt_after_s": self.in_doubt_after_s,
            "failed": self._rows(lambda: self.store.failed_since(now - FAILED_WINDOW, self.limit)),
            "in_doubt": self._rows(
                lambda: self.store.claimed_before(now - timedelta(seconds=self.in_doubt_after_s), self.limit)
            ),
        }

    @staticmethod
    def _rows(query: Callable[[], list[ClaimRecord]]) -> object:
        try:
            return [_live_row(record) for record in query()]
        except BridgeError as error:  # the page still shows everything else
            return {"error": str(error)}


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


def _live(live: Mapping[str, object]) -> str:
    limit = f"newest {LIVE_LIMIT} shown; the reconciliation lists them all"
    window = f"last {FAILED_WINDOW.total_seconds() / 3600:g} h, live at {_text(live.get('at'))}; {limit}"
    claims = (
        f"PENDING claims older than {_text(live.get('in_doubt_after_s'))} s (the claim lease): the "
        "worker stopped between claim and record; a redelivery or the straggler replay finishes "
        f"them; {limit}"
    )
    return _statements(
        "Failed statements", "failed", live.get("failed"), _FAILED_COLUMNS, window
    ) + _statements("In-doubt statements", "in-doubt", live.get("in_doubt"), _IN_DOUBT_COLUMNS, claims)


def render(
    status: Mapping[str, object],
    reconciliation: Mapping[str, object] | None,
    pending: Sequence[Mapping[str, object]] = (),
    live: Mapping[str, object] | None = None,
) -> str:
    """The page for ``status`` (``OperatorApi.status()``), the latest reconciliation report, the
    requests waiting for an approver and the live lists (:class:`LiveLists`)."""
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
        + _live(live or {})
        + _statements("Stuck statements (last reconciliation)", "stuck", report.get("stuck"), _WAL_COLUMNS)
        + _pending(pending)
        + "<p class='muted'>read-only; actions: docs/runbook.md</p></body></html>"
    )
