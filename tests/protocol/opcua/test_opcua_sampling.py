"""The vectorised monitored items: filters, queues and the wire encoding, without a server."""

from __future__ import annotations

import numpy as np
from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import struct_from_binary

from twin.opcua.address_space import Point
from twin.opcua.sampling import Block, BlockKey, NewItem
from twin.opcua.values import EPOCH_TICKS, ticks
from twin.tags import TagTable

TAGS = TagTable()
LEVEL = TAGS.tank_tag("level")
MODE = TAGS.tank_tag("mode")
STATUS_VALUE = ua.DataChangeTrigger.StatusValue


def block(tag=LEVEL, queue: int = 1, discard_oldest: bool = True,
          trigger: ua.DataChangeTrigger = STATUS_VALUE) -> Block:
    return Block(BlockKey(tag, 0.1, queue, discard_oldest, trigger))


def items(n: int, threshold: float = 0.0, tag=LEVEL) -> list[NewItem]:
    vtype = ua.VariantType.Double if tag is LEVEL else ua.VariantType.UInt32
    return [NewItem(100 + k, k, Point(tag, k, vtype, (0.0, 5.0)), threshold, True)
            for k in range(n)]


def decode(parts: list[bytes]) -> list[ua.MonitoredItemNotification]:
    data = b"".join(parts)
    buffer = Buffer(data)
    found = []
    while buffer.cur_pos < len(data):
        found.append(struct_from_binary(ua.MonitoredItemNotification, buffer))
    return found


def test_records_decode_as_monitored_item_notifications() -> None:
    b = block()
    b.add(items(3), np.array([1.0, 2.0, 3.0]), ticks(1_700_000_000.25))
    parts, count = b.pop(ticks(1_700_000_000.5))
    notes = decode(parts)
    assert count == 3 and [n.ClientHandle for n in notes] == [2, 1, 0]  # slots: reused LIFO
    values = {n.ClientHandle: n.Value for n in notes}
    assert values[0].Value == ua.Variant(1.0, ua.VariantType.Double)
    assert values[0].SourceTimestamp.timestamp() == 1_700_000_000.25
    assert values[0].ServerTimestamp.timestamp() == 1_700_000_000.5
    assert values[0].StatusCode is None or values[0].StatusCode.is_good()


def test_enumerations_are_uint32() -> None:
    b = block(MODE)
    b.add(items(1, tag=MODE), np.array([2], np.int32), EPOCH_TICKS)
    (note,) = decode(b.pop(EPOCH_TICKS)[0])
    assert note.Value.Value == ua.Variant(2, ua.VariantType.UInt32)


def test_only_changes_are_queued_and_the_deadband_counts_from_the_last_report() -> None:
    b = block()
    b.add(items(2, threshold=0.1), np.array([1.0, 1.0]), 1)
    b.pop(1)
    column = np.array([1.0, 1.0])
    reported = []
    for step in range(1, 8):  # item 0 drifts 0.04 per scan; item 1 stays
        column = np.array([1.0 + 0.04 * step, 1.0])
        assert b.sample(column, step) in (0, 1)
        reported += [n.Value.Value.Value for n in decode(b.pop(step)[0])]
    assert reported == [1.12, 1.24]  # > 0.1 away from the last *reported* value


def test_a_queue_keeps_the_latest_samples_and_flags_the_overflow() -> None:
    b = block(queue=3)
    b.add(items(1), np.array([0.0]), 0)
    for k in range(1, 6):
        b.sample(np.array([float(k)]), k)
    notes = decode(b.pop(9)[0])
    assert [n.Value.Value.Value for n in notes] == [3.0, 4.0, 5.0]
    assert notes[0].Value.StatusCode.value == 0x0480  # Good, InfoType DataValue, Overflow
    assert all(n.Value.StatusCode is None or n.Value.StatusCode.value == 0 for n in notes[1:])
    assert b.pop(10) == ([], 0)


def test_discard_newest_keeps_the_oldest() -> None:
    b = block(queue=2, discard_oldest=False)
    b.add(items(1), np.array([0.0]), 0)
    for k in range(1, 4):
        b.sample(np.array([float(k)]), k)
    assert [n.Value.Value.Value for n in decode(b.pop(9)[0])] == [0.0, 3.0]


def test_a_queue_of_one_replaces_its_value_silently() -> None:
    b = block(queue=1)
    b.add(items(1), np.array([0.0]), 0)
    b.sample(np.array([1.0]), 1)
    (note,) = decode(b.pop(2)[0])
    assert note.Value.Value.Value == 1.0 and note.Value.StatusCode.value == 0  # no overflow


def test_removed_items_free_their_slot() -> None:
    b = block()
    b.add(items(2), np.array([1.0, 2.0]), 0)
    b.pop(0)
    b.remove(100)
    assert len(b) == 1 and b.sample(np.array([5.0, 6.0]), 1) == 1
    b.add([NewItem(200, 7, Point(LEVEL, 0, ua.VariantType.Double, None), 0.0, True)],
          np.array([5.0, 6.0]), 2)
    assert len(b.tanks) == 2  # the freed slot was reused
