"""``make status``: both regions' ``GET /api/status``, as a short summary for a person (or ``--json``).

Both regions are asked, because each answers from its own process and its own copy of the gate: a
region that does not answer is said so, and two regions that disagree on the active region or epoch
are a problem. Record counts (delivered, FAILED, in doubt) come from the idempotency records, the
same in every region, not from a process's own counters (which start at zero with the process).

The summary names the active region and epoch, each region's role, health (the failing probes),
heartbeat age and QueueBuilder age, the MQ backlog, the record counts, then the problems, then the
recent normal events (failovers, operator calls) apart from them. ``--json`` prints both answers
verbatim: ``{"DC04": {...}, "DC06": {...}}`` (``{"error": ...}`` for a region that did not answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shared.model import REGIONS

#: Answers of a region's ``GET /api/status``: (HTTP status, body); an ``OSError`` if it is down.
Call = Callable[[str], tuple[int, dict[str, Any]]]
#: One line each, for the summary's legend.
IN_DOUBT = (
    "in doubt = a worker stopped between claiming a statement and recording it; it was reconciled "
    "or redelivered under the same delivery key, which MessageWay drops if it already had it"
)
MAX_LISTED = 3


def ask_both(call: Call) -> dict[str, dict[str, Any]]:
    """Every region's status body; ``{"error": ...}`` (and ``http_status``) for one that failed."""
    answers: dict[str, dict[str, Any]] = {}
    for region in REGIONS:
        try:
            status, body = call(region)
        except OSError as error:
            answers[region] = {"error": f"does not answer ({error.strerror or error})"}
            continue
        answers[region] = body if status < 400 else {"http_status": status, **body}
    return answers


def _answering(answers: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The answers of the regions that answered."""
    return {region: answer for region, answer in answers.items() if "error" not in answer}


def _view_of(region: str, views: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """``regions.<region>`` from the first answer that has it (each region reports both)."""
    return next((a["regions"][region] for a in views.values() if region in a.get("regions", {})), None)


def _age(seconds: object) -> str:
    return f"{seconds} s ago" if isinstance(seconds, int | float) else "EXPIRED"


def _failing_probes(health: object) -> list[str]:
    probes = health.get("probes", {}) if isinstance(health, Mapping) else {}
    return [f"{name}: {p.get('detail') or '?'}" for name, p in probes.items() if not p.get("ok")]


def _since(finished: object, at: object) -> str:
    """``finished``'s age at ``at`` (both ISO 8601, as the status route writes them)."""
    try:
        age = (datetime.fromisoformat(str(at)) - datetime.fromisoformat(str(finished))).total_seconds()
    except ValueError:
        return "never"
    return f"{age:.1f} s ago"


def _region_line(region: str, view: Mapping[str, Any], active: object, at: object) -> str:
    health = view.get("health")
    if not isinstance(health, Mapping) or "healthy" not in health:
        state = "health unknown"
    else:
        state = "healthy" if health.get("healthy") else "UNHEALTHY"
    queue_builder = view.get("queue_builder")
    qb = _since(queue_builder.get("at"), at) if isinstance(queue_builder, Mapping) else "never"
    role = "active" if region == active else "passive"
    beat = _age(view.get("heartbeat_age_s"))
    return f"  {region}  {role:<7}  {state:<14}  heartbeat {beat}  QueueBuilder last run {qb}"


def _records_line(records: object) -> str:
    if not isinstance(records, Mapping) or "error" in records:
        why = records.get("error") if isinstance(records, Mapping) else "not reported"
        return f"Records: cannot be counted ({why})"
    return (
        f"Records, last {records.get('window_h')} h (idempotency records, the same from either region, "
        f"counted {records.get('counted_s_ago')} s ago): "
        f"{records.get('delivered')} delivered, {records.get('failed')} FAILED (quarantined), "
        f"{records.get('pending')} pending, {records.get('in_doubt')} in doubt, "
        f"{records.get('lease_expired')} in doubt now (lease expired, waiting for redelivery)"
    )


def problems(answers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What needs a person's attention, one line each; empty when all is well."""
    found: list[str] = []
    views = _answering(answers)
    for region, answer in answers.items():
        if "error" in answer:
            found.append(f"{region} {answer['error']}")
    pairs = {(a.get("active_dc"), a.get("epoch")) for a in views.values()}
    if len(pairs) > 1:
        said = ", ".join(f"{r} says {a.get('active_dc')}@{a.get('epoch')}" for r, a in views.items())
        found.append(f"the regions disagree on the active region: {said}")
    for region in REGIONS:
        view = _view_of(region, views)
        if view is None:
            continue
        if view.get("heartbeat_age_s") is None:
            found.append(f"{region}'s heartbeat has expired (its Watchdog is not running)")
        found.extend(f"{region} probe {line}" for line in _failing_probes(view.get("health")))
    records = next((a.get("records") for a in views.values() if isinstance(a.get("records"), Mapping)), None)
    if isinstance(records, Mapping) and "error" not in records:
        if records.get("failed"):
            found.append(f"{records['failed']} FAILED statement(s): runbook, Quarantine handling")
        if records.get("lease_expired"):
            found.append(
                f"{records['lease_expired']} statement(s) in doubt now (lease expired): their next "
                "delivery reconciles or redelivers them; if the count stays, runbook Dead-letter redrive"
            )
    for region, answer in views.items():
        listed = answer.get("recent_problems") or []
        for problem in listed[-MAX_LISTED:]:
            found.append(f"{region} logged {problem.get('event')} at {problem.get('at')}")
        if len(listed) > MAX_LISTED:
            found.append(
                f"{region}: {len(listed) - MAX_LISTED} earlier problem(s); `make status ARGS=--json`"
            )
    return found


def summary(answers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The human summary of both regions' answers."""
    views = _answering(answers)
    if not views:
        return ["No region answers: start them with `make host`.", *(f"  {p}" for p in problems(answers))]
    first = next(iter(views.values()))
    active, epoch = first.get("active_dc"), first.get("epoch")
    askers = " and ".join(views)
    lines = [f"Active region: {active} (epoch {epoch}), as read by {askers}"]
    last = first.get("last_failover")
    if isinstance(last, Mapping) and last.get("at"):
        lines.append(
            f"  last failover {last.get('from')} -> {last.get('to')} at {last.get('at')} by "
            f"{last.get('by')}: {last.get('reason')}"
        )
    for region in REGIONS:
        lines.append(_region_line(region, _view_of(region, views) or {}, active, first.get("at")))
    backlog = first.get("backlog")
    depth = backlog.get("mq_depth") if isinstance(backlog, Mapping) else None
    lines.append(f"Backlog: {depth if depth is not None else '?'} message(s) waiting on the MQ input queue")
    lines.append(_records_line(first.get("records")))
    lines.append(f"  ({IN_DOUBT})")
    found = problems(answers)
    lines.append("Problems: none" if not found else "Problems:")
    lines.extend(f"  - {line}" for line in found)
    events = [(r, e) for r, a in views.items() for e in (a.get("recent_events") or [])[-MAX_LISTED:]]
    if events:
        lines.append("Recent events (normal, for the record):")
        lines.extend(
            f"  {r} {e.get('at')} {e.get('event')}"
            for r, e in sorted(events, key=lambda x: str(x[1].get("at")))
        )
    return lines


def main(call: Call, as_json: bool, out: Callable[[str], None] = print) -> int:
    """Print the summary (or both answers as JSON). Exit 0 when both regions answer, 1 when one does
    not, 2 when none does; problems are reported, they do not fail the command."""
    answers = ask_both(call)
    if as_json:
        out(json.dumps(answers, indent=2, default=str))
    else:
        for line in summary(answers):
            out(line)
    down = sum("error" in a for a in answers.values())
    return 2 if down == len(answers) else 1 if down else 0
