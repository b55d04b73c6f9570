"""Fixtures for the Modbus tests: a running twin on ephemeral ports, and raw MBAP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from plants import test_plant
from protocol.modbus.modbus_client import RawClient

from twin.app import Twin

TwinFactory = Callable[..., AbstractAsyncContextManager[Twin]]


@pytest.fixture
def make_twin() -> TwinFactory:
    """``async with make_twin(modbus={...}, **plant) as twin``: a twin with Modbus on port 0."""

    @asynccontextmanager
    async def factory(modbus: dict[str, Any] | None = None, **plant: Any) -> AsyncIterator[Twin]:
        data = dict(plant)
        data["modbus"] = {"port": 0, **(modbus or {})}
        data.setdefault("opcua", {"enabled": False})  # a Modbus test needs no OPC UA server
        async with Twin(test_plant(data)) as twin:
            yield twin

    return factory


@pytest.fixture
async def raw_clients() -> AsyncIterator[Callable[[int], Any]]:
    """``await raw_clients(port)`` opens a RawClient; all are closed after the test."""
    opened: list[RawClient] = []

    async def connect(port: int) -> RawClient:
        client = await RawClient.connect(port)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        await client.close()
