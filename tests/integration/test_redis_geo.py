"""dev.redis_geo on two real, independent redis-servers: the semantics of Azure Managed Redis active
geo-replication the drill relies on (last writer wins for strings, counters summed, a stall keeps both
sides writable and diverging, a restarted instance is re-seeded)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dev.redis_geo import GeoReplicator
from dev.stack import ROOT, Stack, free_port_base

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Stack, GeoReplicator, redis.Redis, redis.Redis]]:
    stack = Stack(ROOT, free_port_base(), state_dir=tmp_path / "state")
    try:
        stack.start_service("redis-dc04")
        stack.start_service("redis-dc06")
        ports = {"DC04": stack.port("redis-dc04"), "DC06": stack.port("redis-dc06")}
        geo = GeoReplicator(ports)  # driven by sync_once(), no thread: deterministic rounds
        dc04 = redis.Redis(port=ports["DC04"], decode_responses=True)
        dc06 = redis.Redis(port=ports["DC06"], decode_responses=True)
        yield stack, geo, dc04, dc06
    finally:
        geo.stop()
        stack.down()


def test_a_write_on_either_side_reaches_the_other_with_its_ttl(pair: tuple) -> None:
    _, geo, dc04, dc06 = pair
    geo.sync_once()
    dc04.set("a", "from-dc04", px=60_000)
    dc06.set("b", "from-dc06")
    geo.sync_once()
    assert (dc06.get("a"), dc04.get("b")) == ("from-dc04", "from-dc06")
    assert 0 < dc06.pttl("a") <= 60_000 and dc04.pttl("b") == -1
    dc06.delete("a")
    geo.sync_once()
    assert dc04.get("a") is None


def test_a_stall_lets_both_sides_diverge_then_the_last_writer_wins(pair: tuple) -> None:
    _, geo, dc04, dc06 = pair
    dc04.set("active_dc", "DC04")
    geo.sync_once()
    geo.stall()
    dc04.set("active_dc", "DC04-renewed")
    geo.sync_once()  # observed on DC04 (its write time), not propagated
    time.sleep(0.05)
    dc06.set("active_dc", "DC06")  # a later write on the other side, during the stall
    geo.sync_once()
    assert (dc04.get("active_dc"), dc06.get("active_dc")) == ("DC04-renewed", "DC06")  # two truths
    geo.resume()
    geo.sync_once()
    assert dc04.get("active_dc") == dc06.get("active_dc") == "DC06"


def test_counters_changed_on_both_sides_are_summed(pair: tuple) -> None:
    _, geo, dc04, dc06 = pair
    dc04.set("epoch", 1)
    geo.sync_once()
    geo.stall()
    dc04.incr("epoch")  # each region's compare-and-set is atomic only in its own instance
    dc06.incr("epoch")
    geo.sync_once()
    geo.resume()
    geo.sync_once()
    assert dc04.get("epoch") == dc06.get("epoch") == "3"  # not 2: Active-Active counters add up


def test_a_restarted_empty_instance_is_reseeded_from_the_other(pair: tuple) -> None:
    stack, geo, dc04, dc06 = pair
    dc04.set("kept", "yes")
    geo.sync_once()
    assert dc06.get("kept") == "yes"
    stack.stop_service("redis-dc06")
    geo.sync_once()  # DC06 does not answer: nothing is deleted on DC04
    assert dc04.get("kept") == "yes"
    stack.start_service("redis-dc06")
    geo.sync_once()  # DC06 is back, empty
    geo.sync_once()
    assert redis.Redis(port=stack.port("redis-dc06"), decode_responses=True).get("kept") == "yes"
    assert dc04.get("kept") == "yes"
