"""The register map generated from the tag table: tables, layouts, limits, scaling,
encodings, the ``registers`` export, and the image path matching the per-value path."""

from __future__ import annotations

import csv
import io
import json
import math
import struct

import pytest
from plants import test_plant

from twin.cli import main
from twin.config import parse_plant
from twin.errors import ConfigError
from twin.modbus.encoding import (
    Encoding,
    Scaling,
    decode_float32,
    encode_float32,
    encode_uint64,
    scaling_for,
)
from twin.modbus.image import ImageCache
from twin.modbus.register_export import register_rows
from twin.modbus.register_map import RegisterMap, Table
from twin.tags import DataType, Kind, TagTable

HR, IR, COILS, DI = (Table.HOLDING_REGISTERS, Table.INPUT_REGISTERS, Table.COILS,
                     Table.DISCRETE_INPUTS)


def regmap(data: dict | None = None) -> RegisterMap:
    config = parse_plant(data or {}, "<test>")
    return RegisterMap(config.modbus, TagTable(), [t.settings for t in config.tanks])


def test_every_tank_tag_is_mapped_once_in_the_table_its_kind_and_access_choose() -> None:
    blocks = regmap().tank_blocks
    placed = {}
    for table, block in blocks.items():
        for slot in block.slots:
            if slot.encoding is not Encoding.INT16:
                assert slot.tag.name not in placed
                placed[slot.tag.name] = (table, slot.encoding)
    for tag in TagTable().tank:
        table, encoding = placed[tag.name]
        if tag.dtype is DataType.BOOLEAN:
            pulse_or_writable = tag.writable or tag.kind is Kind.COMMAND
            assert table is (COILS if pulse_or_writable else DI)
        else:
            assert table is (HR if tag.writable else IR)
            assert encoding is (Encoding.FLOAT32 if tag.dtype is DataType.DOUBLE
                                else Encoding.UINT16)
    mirrored = {s.tag.name for b in blocks.values() for s in b.slots
                if s.encoding is Encoding.INT16}
    assert mirrored == {t.name for t in TagTable().tank if t.dtype is DataType.DOUBLE}


def test_the_published_default_map_starts_where_the_readme_says() -> None:
    blocks = regmap().tank_blocks
    first = {table: (b.slots[0].tag.name, b.slots[0].encoding) for table, b in blocks.items()}
    assert first[HR] == ("setpoint", Encoding.FLOAT32)
    assert first[IR] == ("level", Encoding.FLOAT32)
    assert first[COILS][0] == "reset" and first[DI][0] == "overflowing"
    floats = [s for s in blocks[HR].slots if s.encoding is Encoding.FLOAT32]
    assert [s.offset for s in floats] == list(range(0, 2 * len(floats), 2))


def test_blocks_are_contiguous_with_floats_then_mirrors_then_codes() -> None:
    order = [Encoding.FLOAT32, Encoding.INT16, Encoding.UINT16, Encoding.UINT64]
    for block in regmap().tank_blocks.values():
        offset = 0
        for slot in block.slots:
            assert slot.offset == offset
            offset = slot.end
        ranks = [order.index(s.encoding) for s in block.slots if s.encoding in order]
        assert ranks == sorted(ranks)


def test_layouts_and_unit_ids() -> None:
    one = regmap()
    assert one.layout.name == "per_unit" and one.target(1) is not None
    assert one.target(2) is None and one.target(0) is None
    assert one.target(255) is not None and one.target(255).simulation
    many = regmap({"fleets": [{"count": 200}]})
    assert many.layout.name == "per_unit" and many.target(200).first == 199
    fleet = regmap({"fleets": [{"count": 1000}]})
    assert fleet.layout.name == "block"
    per_unit = fleet.layout.tanks_per_unit
    assert per_unit * fleet.tank_blocks[HR].size <= 65536
    assert fleet.target(2).first == per_unit and fleet.target(2).count == 1000 - per_unit
    fixed = regmap({"fleets": [{"count": 1000}], "modbus": {"tanks_per_unit": 100}})
    assert fixed.layout.units == 10 and fixed.target(10).first == 900


@pytest.mark.parametrize(("modbus", "tanks", "field"), [
    ({"layout": "per_unit"}, 248, "modbus.layout"),
    ({"layout": "per_unit", "unit_id": 200}, 60, "modbus.layout"),
    ({"layout": "block", "tanks_per_unit": 1000}, 1000, "modbus.tanks_per_unit"),
    ({"layout": "block", "tanks_per_unit": 4}, 1000, "modbus.tanks_per_unit"),  # 250 unit ids
    ({"simulation_unit_id": 3}, 5, "modbus.simulation_unit_id"),
    ({"layout": "block", "simulation_unit_id": 1}, 5, "modbus.simulation_unit_id"),
    ({"tls": True}, 1, "modbus.tls"),
    ({"rtu": True}, 1, "modbus.rtu_device"),
    ({"word_order": "BADC"}, 1, "modbus.word_order"),
])
def test_maps_that_cannot_be_served_are_config_errors(modbus, tanks, field) -> None:
    with pytest.raises(ConfigError) as error:
        parse_plant({"modbus": modbus, "fleets": [{"count": tanks}]}, "plant.toml")
    assert error.value.field == field
    assert str(error.value).startswith(f"plant.toml: {field}: ")


def test_a_disabled_front_end_does_not_limit_the_plant() -> None:
    parse_plant({"modbus": {"enabled": False, "layout": "per_unit"},
                 "fleets": [{"count": 300}]}, "<test>")


def test_int16_scaling_rule() -> None:
    assert scaling_for(0.0, 5.0, None) == Scaling(-3)  # level, 0..5 m: 1 mm
    assert scaling_for(0.0, 1.0, None) == Scaling(-4)  # ratios
    assert scaling_for(0.1, 1000.0, None) == Scaling(-1)  # time_scale
    assert scaling_for(0.0, 3.2767, None) == Scaling(-4)
    assert scaling_for(None, None, -1.0) == Scaling(-3)  # gain: +-10 x its value -> +-32.767
    assert scaling_for(None, None, 120.0) == Scaling(-1)  # area: +-1200 -> 0.1 m2
    assert scaling_for(0.0, None, 0.0) == Scaling(-3)  # at least +-10
    assert scaling_for(0.0, None, None) == Scaling(0)  # sim_time: whole seconds
    mm = Scaling(-3)
    assert (mm.to_raw(2.5), mm.to_raw(-0.0014), mm.to_raw(40.0), mm.to_raw(-40.0)) == (
        2500, -1, 32767, -32767)
    assert mm.to_raw(math.nan) == -32768 and mm.to_raw(math.inf) == 32767
    assert mm.from_raw(2700) == 2.7 and Scaling(2).from_raw(3) == 300.0


def test_float32_and_uint64_encodings() -> None:
    assert encode_float32(2.5, cdab=False) == bytes.fromhex("40200000")
    assert encode_float32(2.5, cdab=True) == bytes.fromhex("00004020")
    assert decode_float32(bytes.fromhex("00004020"), cdab=True) == 2.5
    assert decode_float32(struct.pack(">f", 2.7), cdab=False) == 2.7  # not 2.70000005
    assert decode_float32(struct.pack(">f", 1e-7), cdab=False) == 1e-7
    assert math.isnan(decode_float32(struct.pack(">f", math.nan), cdab=False))
    assert encode_float32(1e300, cdab=False) == struct.pack(">f", math.inf)
    assert encode_uint64(0x0102030405060708, cdab=False) == bytes.fromhex("0102030405060708")
    assert encode_uint64(0x0102030405060708, cdab=True) == bytes.fromhex("0708050603040102")


def run_cli(capsys, *args: str) -> str:
    assert main(["registers", *args]) == 0
    return capsys.readouterr().out


def test_registers_export_formats(capsys, tmp_path) -> None:
    rows = list(csv.DictReader(io.StringIO(run_cli(capsys, "--format", "csv"))))
    setpoint = next(r for r in rows if r["tag"] == "setpoint" and r["type"] == "float32")
    assert (setpoint["table"], setpoint["address"]) == (
        "holding_register", "0")
    assert (setpoint["register"], setpoint["word_order"], setpoint["unit"]) == ("40001", "ABCD",
                                                                                "m")
    assert setpoint["access"] == "operator" and setpoint["unit_id"] == "1"
    mirror = next(r for r in rows if r["tag"] == "level" and r["type"] == "int16")
    assert mirror["table"] == "input_register"
    assert (float(mirror["scale"]), float(mirror["offset"])) == (0.001, 0.0)
    mode = next(r for r in rows if r["tag"] == "mode")
    assert mode["type"] == "uint16" and mode["states"] == "0=AUTO 1=MANUAL 2=EXTERNAL"
    reset = next(r for r in rows if r["tag"] == "reset")
    assert (reset["table"], reset["register"]) == ("coil", "00001")
    assert {r["unit_id"] for r in rows if r["tank"] == ""} == {"255"}
    document = json.loads(run_cli(capsys, "--format", "json"))
    assert len(document) == len(rows) and document[0]["address"] == 0
    markdown = run_cli(capsys, "--format", "md")
    assert markdown.splitlines()[0].startswith("| tank | unit_id | tag | table | address |")
    plant = tmp_path / "fleet.toml"
    plant.write_text("[modbus]\nread_only = true\n[[fleets]]\ncount = 1000\n")
    fleet = json.loads(run_cli(capsys, "--format", "json", "--config", str(plant)))
    last = [r for r in fleet if r["tank"] == "T1000" and r["tag"] == "setpoint"]
    assert last[0]["unit_id"] == 2 and last[0]["register"].startswith("4")
    assert len(last[0]["register"]) == 6 and {r["access"] for r in fleet} == {"read-only"}
    addresses = {(r["unit_id"], r["table"], r["address"]) for r in fleet}
    assert len(addresses) == len(fleet)  # no two values share a register


def test_registers_export_of_one_tank_keeps_the_simulation(tmp_path) -> None:
    config = test_plant({"tanks": [{"name": "A"}, {"name": "B"}]})
    rows = register_rows(config, "B")
    assert {r["tank"] for r in rows} == {"B", ""} and {r["unit_id"] for r in rows} == {2, 255}


async def test_register_images_encode_exactly_what_the_per_value_path_does(make_twin) -> None:
    plant = {"tanks": [{"name": "A"}, {"name": "B", "height": 12.0, "area": 400.0,
                                        "initial_level": 6.0, "setpoint": 6.0,
                                        "noise_std": 0.01, "mode": "manual"},
                       {"name": "C", "initial_level": 5.0, "inlet_flow": 3.0}],
             "fleets": [{"count": 300, "disturbance": "brownian"}]}
    for order in ("ABCD", "CDAB"):
        async with make_twin(modbus={"word_order": order, "layout": "block"}, **plant) as twin:
            await twin.engine.wait_scans(3)
            device, snapshot = twin.modbus.handler, twin.engine.snapshot
            images = ImageCache(twin.modbus.map)
            for table, block in twin.modbus.map.tank_blocks.items():
                for tank in (*range(4), 255, 256, 302):
                    fast = images.row(snapshot, table, tank)
                    if table.bits:
                        slow = [bool(twin.engine.current(s.tag, tank)) for s in block.slots]
                        assert [bool(b) for b in fast] == slow, (order, table, tank)
                    else:
                        slow_bytes = device._registers(tank, block, 0, block.size)
                        assert fast.tobytes() == slow_bytes, (order, table, tank)


def test_the_readme_shows_the_default_plants_current_map() -> None:
    from pathlib import Path

    from twin.config import default_plant
    from twin.modbus.register_export import export_registers

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    shown = readme.split("<!-- registers:begin -->\n")[1].split("<!-- registers:end -->")[0]
    assert shown == export_registers(default_plant(), "md"), (
        "regenerate the README's map with: tank-twin registers --format md")
