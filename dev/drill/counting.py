"""What happened to every message, counted from the outside (never from the code under test's logs).

Sources, and which figure comes from which (docs/drill.md defines each figure):

* **produced** — the drill's own record of every put (:class:`~dev.drill.generator.Produced`);
* **outbox** — ``<key>.fin`` files (one per delivery key, create-only) and ``deliveries.log`` (one line
  per attempt, ``delivered`` or ``repeat``, with region, epoch and time); keys are mapped back to
  message ids with :func:`shared.model.delivery_key_for` over the *produced* ids;
* **quarantine** — blob names in both regions' ``quarantine`` containers (read with azure-storage-blob);
* **Cosmos** — the idempotency records of the bad messages (state ``FAILED``) and ``attempts`` > 1 of
  any record (a claim taken over: the message was in doubt at least once), read with azure-cosmos.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError
from azure.cosmos import CosmosClient
from azure.storage.blob import ContainerClient

from dev.adapters.messageway_folder import read_log
from dev.drill.generator import Produced
from shared.model import delivery_key_for


@dataclass
class Delivery:
    """One line of ``deliveries.log``."""

    key: str
    message_id: str
    session_id: str
    region: str
    epoch: int
    at: float  # seconds since the epoch
    outcome: str


@dataclass
class Counts:
    """The figures of one run (see docs/drill.md)."""

    produced: int = 0
    good: int = 0
    bad: int = 0
    delivered_unique: int = 0
    lost: int = 0
    lost_ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    foreign_keys: int = 0
    in_doubt_statements: int = 0
    same_key_repeats: int = 0
    inversions: int = 0
    quarantined: int = 0
    good_quarantined: int = 0
    bad_failed: int = 0
    seconds_two_active: float = 0.0
    by_region: dict[str, int] = field(default_factory=dict)


def read_deliveries(outbox: Path) -> list[Delivery]:
    """Every attempt in ``deliveries.log``, in append order."""
    result = []
    for line in read_log(outbox):
        epoch = line.get("epoch") or "0"
        result.append(
            Delivery(
                key=line["key"],
                message_id=line.get("message_id", ""),
                session_id=line.get("session_id", ""),
                region=line.get("region", ""),
                epoch=int(epoch) if str(epoch).isdigit() else 0,
                at=datetime.fromisoformat(line["at"]).timestamp(),
                outcome=line.get("outcome", ""),
            )
        )
    return result


def fin_keys(outbox: Path) -> set[str]:
    """Delivery keys of every published ``<key>.fin``."""
    return {path.name[: -len(".fin")] for path in outbox.glob("*.fin")}


def quarantined_names(connection_strings: Iterable[str], container: str = "quarantine") -> set[str]:
    """Message ids quarantined in ``container`` of every storage account: the runner's ``<id>`` and the
    QueueBuilder's ``mq-backout/<id>`` (a missing container holds nothing)."""
    names: set[str] = set()
    for connection in connection_strings:
        client = ContainerClient.from_connection_string(connection, container)
        with contextlib.suppress(AzureError):
            names.update(blob.name.removeprefix("mq-backout/") for blob in client.list_blobs())
    return names


def cosmos_records(
    connection_string: str, message_ids: Sequence[str], database: str = "bridge", container: str = "records"
) -> dict[str, dict[str, Any]]:
    """The idempotency items of ``message_ids`` (absent ids have no record)."""
    parts = dict(item.partition("=")[::2] for item in connection_string.split(";") if item)
    client = CosmosClient(
        parts["AccountEndpoint"], credential=parts["AccountKey"], enable_endpoint_discovery=False
    )
    items = client.get_database_client(database).get_container_client(container)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(message_ids), 50):
        ids = list(message_ids[start : start + 50])
        names = [f"@id{n}" for n in range(len(ids))]
        query = f"SELECT * FROM c WHERE c.id IN ({', '.join(names)})"  # noqa: S608 - generated names only
        parameters: list[dict[str, object]] = [
            {"name": n, "value": v} for n, v in zip(names, ids, strict=True)
        ]
        with contextlib.suppress(AzureError):  # no container: no records (reported as such)
            for item in items.query_items(query, parameters=parameters, enable_cross_partition_query=True):
                found[item["id"]] = item
    return found


def two_active_seconds(deliveries: Sequence[Delivery]) -> float:
    """Seconds during which both regions delivered (docs/drill.md, "seconds_two_active").

    A region's *delivery window in an epoch* is [first, last] time of its attempts stamped with that
    epoch. The figure is the total overlap between any window of one region and any of the other.
    """
    windows: dict[tuple[str, int], list[float]] = {}
    for delivery in deliveries:
        window = windows.setdefault((delivery.region, delivery.epoch), [delivery.at, delivery.at])
        window[0], window[1] = min(window[0], delivery.at), max(window[1], delivery.at)
    total = 0.0
    items = list(windows.items())
    for i, ((region_a, _), (start_a, end_a)) in enumerate(items):
        for (region_b, _), (start_b, end_b) in items[i + 1 :]:
            if region_a != region_b:
                total += max(0.0, min(end_a, end_b) - max(start_a, start_b))
    return round(total, 3)


def inversions(produced: Sequence[Produced], deliveries: Sequence[Delivery]) -> int:
    """First deliveries that come after a delivery of a later-produced message of the same account."""
    order = {delivery_key_for(p.message_id): (p.account, p.order) for p in produced}
    highest: dict[str, int] = {}
    seen: set[str] = set()
    count = 0
    for delivery in deliveries:
        if delivery.outcome != "delivered" or delivery.key in seen or delivery.key not in order:
            continue
        seen.add(delivery.key)
        account, position = order[delivery.key]
        if position < highest.get(account, -1):
            count += 1
        highest[account] = max(highest.get(account, -1), position)
    return count


def count(
    produced: Sequence[Produced],
    outbox: Path,
    quarantine: set[str],
    records: Mapping[str, Mapping[str, Any]],
) -> Counts:
    """Every figure of the report from the four sources (module documentation)."""
    deliveries = read_deliveries(outbox)
    published = fin_keys(outbox)
    by_key = {delivery_key_for(p.message_id): p for p in produced}
    result = Counts(produced=len(produced))
    result.good = sum(1 for p in produced if not p.bad)
    result.bad = result.produced - result.good
    delivered_lines: dict[str, int] = defaultdict(int)
    for delivery in deliveries:
        if delivery.outcome == "delivered":
            delivered_lines[delivery.key] += 1
        elif delivery.outcome == "repeat":
            result.same_key_repeats += 1
    result.foreign_keys = len(published - set(by_key))
    result.duplicates = sum(n - 1 for n in delivered_lines.values() if n > 1) + result.foreign_keys
    for key, item in by_key.items():
        if item.bad:
            result.duplicates += int(key in published)  # a bad body must never be delivered at all
            in_quarantine = item.message_id in quarantine
            failed = records.get(item.message_id, {}).get("state") == "FAILED"
            result.quarantined += int(in_quarantine)
            result.bad_failed += int(in_quarantine and failed)
            if not in_quarantine:
                result.lost += 1
                result.lost_ids.append(item.message_id)
        elif key in published:
            result.delivered_unique += 1
        elif item.message_id in quarantine:  # kept and reported (e.g. the MQ backout queue): not lost
            result.quarantined += 1
            result.good_quarantined += 1
        else:
            result.lost += 1
            result.lost_ids.append(item.message_id)
    result.in_doubt_statements = sum(1 for item in records.values() if int(item.get("attempts", 1)) > 1)
    result.inversions = inversions(produced, deliveries)
    result.seconds_two_active = two_active_seconds(deliveries)
    regions: dict[str, int] = defaultdict(int)
    for delivery in deliveries:
        if delivery.outcome == "delivered":
            regions[delivery.region] += 1
    result.by_region = dict(regions)
    return result
