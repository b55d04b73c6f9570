"""History: batched SQLite storage, retention, restarts, and HistoryRead over real OPC UA."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asyncua import Client, Server, ua
from asyncua.ua import uaerrors

from twin.alarms import LevelAlarms
from twin.clock import FakeClock
from twin.commands import Source
from twin.config import parse_plant
from twin.engine import Engine
from twin.opcua.history import VARIANTS, OpcUaHistory
from twin.opcua.history_config import HistoryConfig
from twin.opcua.history_store import HistoryStore
from twin.plant_builder import build_plant
from twin.tags import Role, TagTable

ENGINEER = Source("test", "setup", "erik", Role.ENGINEER)
US = 1_000_000
AGG = ua.ObjectIds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# -- the store ------------------------------------------------------------------------------
async def test_rows_are_written_in_batched_transactions(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h.sqlite"), retention=86_400, batch_size=140,
                         flush_interval=30.0)
    keys = [(f"ns=2;s=T{i}.level", 11) for i in range(14)]
    series = await store.open(keys)
    sids = np.array([series[k] for k, _ in keys], dtype=np.int64)
    now = int(time.time() * US)
    for k in range(100):  # 100 samples of 14 series: 1400 rows
        assert store.append(now + k * US, float(k), sids, np.full(14, float(k)))
    await store.flush()
    assert store.transactions == 10, "140 rows per transaction, not one per row or sample"
    rows = await store.raw(int(sids[3]), None, None, 1000, reverse=False)
    assert [v for _, v in rows] == [float(k) for k in range(100)]
    await store.close()


async def test_a_full_queue_drops_samples_instead_of_blocking() -> None:
    dropped: list[int] = []

    class Observer:
        def written(self, rows: int, seconds: float) -> None: ...
        def dropped(self, rows: int) -> None:
            dropped.append(rows)
        def expired(self, rows: int) -> None: ...

    store = HistoryStore(":memory:", retention=60, max_pending_rows=10, flush_interval=30.0,
                         observer=Observer())
    series = await store.open([("a", 11)])
    sids = np.full(6, series["a"], dtype=np.int64)
    assert store.append(1, 0.0, sids, np.zeros(6))
    assert not store.append(2, 0.0, sids, np.zeros(6))
    assert dropped == [6]
    await store.close()


async def test_retention_deletes_old_rows_on_request_and_periodically(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h.sqlite"), retention=3600, flush_interval=0.01)
    sid = (await store.open([("x", 11)]))["x"]
    now = int(time.time() * US)
    for age_h in (30, 25, 2, 0):
        store.append(now - age_h * 3600 * US, 0.0, ids(sid), np.array([float(age_h)]))
    await store.flush()
    assert await store.expire(now - 24 * 3600 * US) == 2
    assert [v for _, v in await store.raw(sid, None, None, 10, False)] == [2.0, 0.0]
    await store.close()
    # A short retention: the writer's own periodic pass removes what is too old.
    store = HistoryStore(str(tmp_path / "h.sqlite"), retention=0.5, flush_interval=0.01)
    sid = (await store.open([("x", 11)]))["x"]
    store.append(int(time.time() * US), 0.0, ids(sid), np.array([9.0]))  # wakes the writer
    await store.flush()
    for _ in range(50):
        await asyncio.sleep(0.05)
        store.append(int(time.time() * US) + 10 * US, 0.0, ids(sid), np.array([7.0]))
        await store.flush()
        old = await store.raw(sid, None, int(time.time() * US), 10, False)
        if not old:
            break
    assert old == [], "samples older than the retention were deleted"
    await store.close()


async def test_history_survives_a_restart_with_the_same_series(tmp_path: Path) -> None:
    path = str(tmp_path / "h.sqlite")
    keys = [("ns=2;s=T101.level", 11), ("ns=2;s=T101.mode", 7)]
    store = HistoryStore(path, retention=86_400)
    first = await store.open(keys)
    store.append(1_000 * US, 0.0, ids(*first.values()), np.array([2.5, 1.0]))
    await store.close()
    store = HistoryStore(path, retention=86_400)
    again = await store.open(list(reversed(keys)))
    assert again == first
    assert await store.raw(again["ns=2;s=T101.level"], None, None, 10, False) == [(1_000 * US,
                                                                                   2.5)]
    await store.close()


# -- over OPC UA ----------------------------------------------------------------------------
@dataclass
class Rig:
    engine: Engine
    history: OpcUaHistory
    client: Client
    node: Any  # (tag, tank) -> client Node

    async def scans(self, count: int) -> None:
        self.engine.request_steps(count, ENGINEER)
        await self.engine.wait_scans(count)
        await self.history.store.flush()


async def make_rig(path: str, **history: Any) -> AsyncIterator[Rig]:
    config = parse_plant({"simulation": {"start_paused": True},
                          "tanks": [{"name": "T101"}, {"name": "T102", "setpoint": 3.0}]}, "<t>")
    engine = Engine(build_plant(config), config, TagTable(), FakeClock(), None,
                    extensions=(LevelAlarms(config),))
    server = Server()
    await server.init()
    server.iserver.disabled_clock = True  # no CurrentTime task: stops at once
    url = f"opc.tcp://127.0.0.1:{free_port()}/history"
    server.set_endpoint(url)
    ns = await server.register_namespace("urn:test:history")
    names = ("T101", "T102")
    for tank in names:
        obj = await server.nodes.objects.add_object(ua.NodeId(tank, ns), tank)
        for tag in engine.tags.tank:
            zero = ua.Variant(False if tag.dtype.value == "Boolean" else 0,
                              VARIANTS[tag.dtype])
            await obj.add_variable(ua.NodeId(f"{tank}.{tag.name}", ns), tag.name, zero)

    def node_id(tag: str, tank: int) -> ua.NodeId:
        return ua.NodeId(f"{names[tank]}.{tag}", ns)

    cfg = HistoryConfig(path=path, **history)
    hist = OpcUaHistory(server, engine, cfg, node_id)
    async with engine, server, hist, Client(url) as client:
        yield Rig(engine, hist, client, lambda tag, tank: client.get_node(node_id(tag, tank)))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in make_rig(str(tmp_path / "history.sqlite")):
        yield r


def when(dv: ua.DataValue) -> datetime:
    assert dv.SourceTimestamp is not None
    return dv.SourceTimestamp


async def test_raw_history_of_sampled_values_over_a_real_client(rig: Rig) -> None:
    await rig.scans(95)  # 9.5 s of simulation: samples at 0, 1, ..., 9 s
    level = rig.node("level", 1)
    values = await level.read_raw_history(datetime(2000, 1, 1, tzinfo=UTC),
                                          datetime.now(UTC) + timedelta(hours=1))
    assert len(values) == 10
    times = [when(dv) for dv in values]
    assert times == sorted(times) and len(set(times)) == 10
    assert all(isinstance(dv.Value.Value, float) for dv in values)
    assert values[0].Value.Value == pytest.approx(2.5, abs=0.01)  # T102 starts at 2.5 m
    mode = await rig.node("mode", 0).read_raw_history(datetime(2000, 1, 1, tzinfo=UTC),
                                                      datetime.now(UTC) + timedelta(hours=1))
    assert mode[0].Value.VariantType is ua.VariantType.UInt32 and mode[0].Value.Value == 0
    assert await level.read_attribute(ua.AttributeIds.Historizing) is not None


async def test_num_values_per_node_pages_with_continuation_points(rig: Rig) -> None:
    await rig.scans(95)
    level = rig.node("level", 0)
    details = ua.ReadRawModifiedDetails(IsReadModified=False,
                                        StartTime=datetime(2000, 1, 1, tzinfo=UTC),
                                        EndTime=datetime.now(UTC) + timedelta(hours=1),
                                        NumValuesPerNode=3)
    pages, point = [], None
    while True:
        result = await level.history_read(details, point)
        result.StatusCode.check()
        pages.append(result.HistoryData.DataValues)
        point = result.ContinuationPoint
        if point is None:
            break
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    everything = [when(dv) for page in pages for dv in page]
    assert everything == sorted(everything) and len(set(everything)) == 10
    latest = await level.read_raw_history(None, datetime.now(UTC) + timedelta(hours=1), 2)
    assert [when(dv) for dv in latest] == everything[::-1][:2], "only EndTime: newest first"
    window = await level.read_raw_history(everything[2], everything[5])
    assert [when(dv) for dv in window] == everything[2:5], "[StartTime, EndTime)"


async def test_processed_minimum_maximum_average_and_count(rig: Rig) -> None:
    rig.engine.submit("setpoint", 0, 4.0, ENGINEER)
    await rig.scans(195)  # the level rises towards 4 m: 20 samples
    level = rig.node("level", 0)
    raw = await level.read_raw_history(datetime(2000, 1, 1, tzinfo=UTC),
                                       datetime.now(UTC) + timedelta(hours=1))
    start, end = when(raw[0]), when(raw[-1]) + timedelta(microseconds=1)
    half = (end - start) / 2
    values = [dv.Value.Value for dv in raw]
    first = [dv.Value.Value for dv in raw if when(dv) < start + half]
    results = {}
    for name in ("Minimum", "Maximum", "Average", "Count"):
        details = ua.ReadProcessedDetails(
            StartTime=start, EndTime=end,
            ProcessingInterval=half.total_seconds() * 1000,
            AggregateType=[ua.NodeId(getattr(AGG, f"AggregateFunction_{name}"))])
        results[name] = await read_processed(rig.client, level.nodeid, details)
    assert results["Minimum"][0].Value.Value == pytest.approx(min(first))
    assert results["Maximum"][0].Value.Value == pytest.approx(max(first))
    assert results["Average"][0].Value.Value == pytest.approx(sum(first) / len(first))
    counts = [dv.Value.Value for dv in results["Count"]]
    assert sum(counts) == len(values) and counts[0] == len(first)
    assert when(results["Average"][0]) == start  # the interval's start
    status = results["Average"][0].StatusCode.value
    assert status & 0xFFFF == 0x0401, "Good, InfoType DataValue, Calculated"


async def read_processed(client: Client, node: ua.NodeId,
                         details: ua.ReadProcessedDetails) -> list[ua.DataValue]:
    params = ua.HistoryReadParameters()
    params.HistoryReadDetails = details
    params.TimestampsToReturn = ua.TimestampsToReturn.Source
    params.ReleaseContinuationPoints = False
    params.NodesToRead.append(ua.HistoryReadValueId(NodeId=node))
    result = (await client.uaclient.history_read(params))[0]
    result.StatusCode.check()
    return list(result.HistoryData.DataValues)


async def test_unsupported_aggregates_and_nodes_without_history_are_refused(rig: Rig) -> None:
    await rig.scans(15)
    now = datetime.now(UTC)
    details = ua.ReadProcessedDetails(StartTime=now - timedelta(hours=1), EndTime=now,
                                      ProcessingInterval=60_000,
                                      AggregateType=[ua.NodeId(AGG.AggregateFunction_Range)])
    with pytest.raises(uaerrors.BadAggregateNotSupported):
        await read_processed(rig.client, rig.node("level", 0).nodeid, details)
    with pytest.raises(uaerrors.BadHistoryOperationUnsupported):
        await rig.node("gain", 0).read_raw_history(now - timedelta(hours=1), now)


async def test_history_continues_after_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "history.sqlite")
    async for first in make_rig(path):
        await first.scans(25)  # samples at 0, 1, 2 s
    async for second in make_rig(path):
        await second.scans(5)  # one more sample at start
        values = await second.node("level", 0).read_raw_history(
            datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1))
        assert len(values) == 4


async def test_the_twins_own_server_serves_history(tmp_path: Path) -> None:
    """End to end: the twin's OPC UA server with its [history] section."""
    from twin.app import Twin

    data = {"metrics": {"enabled": False}, "modbus": {"enabled": False},
            "simulation": {"start_paused": True},
            "history": {"path": str(tmp_path / "h.sqlite"), "sample_period": 0.5},
            "opcua": {"port": 0, "allow_none": True, "anonymous": "observer",
                      "pki_dir": str(tmp_path / "pki"), "users_file": str(tmp_path / "users")},
            "tanks": [{"name": "T101"}]}
    async with Twin(parse_plant(data, "<test>")) as twin:
        assert twin.opcua is not None and twin.opcua.nodes is not None
        twin.engine.request_steps(20, ENGINEER)  # 2 s: samples at 0, 0.5, 1, 1.5, 2 s
        await twin.engine.wait_scans(20)
        async with Client(twin.opcua.endpoint) as client:
            level = client.get_node(twin.opcua.nodes.node_id("level", 0))
            access = await level.read_attribute(ua.AttributeIds.AccessLevel)
            assert access.Value.Value & ua.AccessLevel.HistoryRead.mask
            for _ in range(50):  # the writer commits within flush_interval
                values = await level.read_raw_history(datetime(2000, 1, 1, tzinfo=UTC),
                                                      datetime.now(UTC) + timedelta(hours=1))
                if len(values) == 5:
                    break
                await asyncio.sleep(0.1)
            assert len(values) == 5
            assert values[0].Value.Value == pytest.approx(2.5, abs=0.01)


async def test_an_unusable_history_file_is_a_clear_start_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("plain text, not SQLite")
    store = HistoryStore(str(tmp_path / "not-a-db"), retention=60)
    with pytest.raises(OSError, match=r"history: cannot use .*not-a-db"):
        await store.open([("x", 11)])


async def test_a_file_in_use_by_another_twin_is_not_shared(tmp_path: Path) -> None:
    path = str(tmp_path / "h.sqlite")
    first, second = HistoryStore(path, retention=60), HistoryStore(path, retention=60)
    await first.open([("x", 11)])
    await second.open([("x", 11)])
    assert second.path == ":memory:" and first.path == path
    await second.close()
    await first.close()
    third = HistoryStore(path, retention=60)
    await third.open([("x", 11)])
    assert third.path == path, "free again once the first one closed"
    await third.close()
