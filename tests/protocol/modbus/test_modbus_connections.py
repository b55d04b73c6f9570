"""Connections: pipelined requests answered in order; garbage, abrupt disconnects and
half-open sockets disturbing neither other clients nor the engine; the connection
limit; the idle timeout."""

from __future__ import annotations

import asyncio
import socket
import struct

from protocol.modbus.modbus_client import RawClient, float_words, read_pdu

from twin.app import Twin

LEVEL_READ = read_pdu(4, 0, 2)


async def test_pipelined_requests_are_all_answered_in_order(make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        tids = [7, 65535, 0, 300, 12, 13, 14, 1000, 2, 99]
        pdus = [read_pdu(3, 0, 2), read_pdu(4, 0, 2), bytes([0x2B, 0, 0, 0, 1]),
                read_pdu(3, 0, 0), read_pdu(1, 0, 3), read_pdu(2, 0, 2), read_pdu(3, 0, 125),
                read_pdu(3, 0, 4), read_pdu(4, 0, 34), read_pdu(3, 0, 2)]
        await client.send(b"".join(client.frame(p, tid=t) for p, t in zip(pdus, tids, strict=True)))
        replies = [await client.receive() for _ in tids]
        assert [tid for tid, _, _ in replies] == tids
        assert [pdu[0] for _, _, pdu in replies] == [3, 4, 0xAB, 0x83, 1, 2, 0x83, 3, 4, 3]


async def test_a_flood_of_pipelined_requests_is_served_without_starving_the_engine(
        make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        count = 5000
        scans = twin.engine.snapshot.scan
        frame = client.frame(read_pdu(3, 0, 64), tid=1)
        sender = asyncio.create_task(client.send(frame * count))
        for _ in range(count):
            tid, _, pdu = await client.receive(timeout=10)
            assert tid == 1 and pdu[:2] == b"\x03\x80"
        await sender
        assert twin.engine.alive and twin.engine.snapshot.scan > scans


async def test_garbage_closes_that_connection_only(make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        good = await raw_clients(twin.modbus.port)
        assert (await good.request(LEVEL_READ))[:2] == b"\x04\x04"
        for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x01\x00\x00\x00\x01\x01",
                        b"\x00\x01\x00\x00\xff\xff\x01\x03", bytes(range(256))):
            bad = await raw_clients(twin.modbus.port)
            await bad.send(garbage)
            assert await bad.closed()
            assert (await good.request(LEVEL_READ))[:2] == b"\x04\x04"
        malformed = twin.registry.get_sample_value("twin_modbus_malformed_frames_total")
        assert malformed == 4
        assert twin.engine.alive


async def test_a_valid_frame_before_garbage_is_still_answered(make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        await client.send(client.frame(LEVEL_READ, tid=5) + b"\x00\x06\x00\x07\x00\x06\x01")
        tid, _, pdu = await client.receive()
        assert tid == 5 and pdu[:2] == b"\x04\x04"
        assert await client.closed()


async def test_abrupt_disconnects_and_half_frames_do_not_disturb_others(
        make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        good = await raw_clients(twin.modbus.port)
        for cut in (1, 6, 9):
            sock = socket.create_connection(("127.0.0.1", twin.modbus.port))
            sock.setblocking(False)
            sock.send(good.frame(read_pdu(3, 0, 2))[:cut])
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST mid-frame
            assert (await good.request(LEVEL_READ))[:2] == b"\x04\x04"
        _, writer = await asyncio.open_connection("127.0.0.1", twin.modbus.port)
        writer.write(good.frame(read_pdu(3, 0, 125)) * 2000)  # replies nobody reads
        writer.transport.abort()
        for _ in range(20):
            assert (await good.request(LEVEL_READ))[:2] == b"\x04\x04"
        await asyncio.sleep(0.1)
        assert twin.registry.get_sample_value("twin_modbus_connections") == 1
        assert twin.engine.alive


async def test_a_client_that_never_reads_its_replies_stalls_only_itself(
        make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        good = await raw_clients(twin.modbus.port)
        stalled = socket.create_connection(("127.0.0.1", twin.modbus.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        frame = good.frame(read_pdu(3, 0, 125))
        sent = 0
        try:
            for _ in range(20000):  # until the server stops reading and the socket fills
                sent += stalled.send(frame)
                await asyncio.sleep(0)
        except BlockingIOError:
            pass
        scans = twin.engine.snapshot.scan
        for _ in range(50):
            assert (await good.request(LEVEL_READ))[:2] == b"\x04\x04"
        await twin.engine.wait_scans(2)
        assert twin.engine.snapshot.scan >= scans + 2
        assert sent > 0
        stalled.close()


async def test_the_connection_limit_closes_extra_clients(make_twin) -> None:
    async with make_twin(modbus={"max_connections": 2}) as twin:
        first = await RawClient.connect(twin.modbus.port)
        second = await RawClient.connect(twin.modbus.port)
        third = await RawClient.connect(twin.modbus.port)
        assert await third.closed()
        assert (await first.request(LEVEL_READ))[:2] == b"\x04\x04"
        assert (await second.request(LEVEL_READ))[:2] == b"\x04\x04"
        await first.close()
        await asyncio.sleep(0.05)
        fourth = await RawClient.connect(twin.modbus.port)
        assert (await fourth.request(LEVEL_READ))[:2] == b"\x04\x04"
        assert twin.registry.get_sample_value("twin_modbus_connections_refused_total") == 1
        assert twin.registry.get_sample_value("twin_modbus_connections") == 2
        for client in (second, third, fourth):
            await client.close()


async def test_an_idle_connection_is_closed(make_twin) -> None:
    async with make_twin(modbus={"idle_timeout": 0.2}) as twin:
        client = await RawClient.connect(twin.modbus.port)
        assert (await client.request(LEVEL_READ))[:2] == b"\x04\x04"
        assert await client.closed(timeout=2.0)
        await client.close()


async def test_stopping_the_twin_closes_its_clients(make_twin) -> None:
    async with make_twin() as twin:
        client = await RawClient.connect(twin.modbus.port)
        assert (await client.request(LEVEL_READ))[:2] == b"\x04\x04"
        port = twin.modbus.port
    assert await client.closed()
    await client.close()
    assert isinstance(twin, Twin) and twin.modbus.port is None
    try:
        await RawClient.connect(port)
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError("the listener is still open")
    assert float_words(1.0)


async def test_listening_beyond_loopback_logs_a_warning(make_twin) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        async with make_twin():
            pass
    assert not [e for e in logs if e["event"] == "modbus_exposed"]
    with capture_logs() as logs:
        async with make_twin(modbus={"host": "0.0.0.0"}) as twin:
            assert twin.modbus.port
    exposed = [e for e in logs if e["event"] == "modbus_exposed"]
    assert len(exposed) == 1 and exposed[0]["log_level"] == "warning"
    assert exposed[0]["host"] == "0.0.0.0"
