"""Level alarms: hysteresis, exclusivity, acknowledgement, limit writes, two twins."""

from __future__ import annotations

import numpy as np
import pytest
from structlog.testing import capture_logs

from twin.alarms import HH, LL, NORMAL, AlarmColumns, H, L, LevelAlarms
from twin.app import Twin
from twin.clock import FakeClock
from twin.commands import Command, Source
from twin.config import parse_plant
from twin.errors import AccessDeniedError, ConfigError, OutOfRangeError
from twin.tags import Role, TagTable

ENGINEER = Source("test", "t1", "erik", Role.ENGINEER)
OPERATOR = Source("test", "t2", "olga", Role.OPERATOR)
OBSERVER = Source("test", "t3", "otto", Role.OBSERVER)
TAGS = TagTable()
NO_FRONT_ENDS = {"opcua": {"enabled": False}, "modbus": {"enabled": False}}


def alarms_for(*levels: float, **tank: object) -> LevelAlarms:
    tanks = [{"name": f"T{i}", **tank} for i in range(len(levels))]
    return LevelAlarms(parse_plant({"tanks": tanks}, "<test>"))


def run(alarms: LevelAlarms, *levels: float) -> dict[str, np.ndarray]:
    return alarms.evaluate({"level": np.array(levels, dtype=float)}, {}, 0.0)


def command(name: str, value: object, tank: int = 0) -> Command:
    return Command(TAGS.tank_tag(name), tank, value, OPERATOR)  # type: ignore[arg-type]


def test_defaults_follow_the_tank_height() -> None:
    cols = run(alarms_for(2.5), 2.5)
    assert cols["alarm.low_low"][0] == 0.5 and cols["alarm.low"][0] == 1.0
    assert cols["alarm.high"][0] == 4.0 and cols["alarm.high_high"][0] == 4.5
    assert cols["alarm.deadband"][0] == 0.05
    tall = run(alarms_for(2.5, height=10.0, initial_level=2.5), 2.5)
    assert tall["alarm.high_high"][0] == 9.0


def test_high_alarm_has_deadband_hysteresis() -> None:
    alarms = alarms_for(0.0)
    # H = 4.0, deadband 0.05: active at >= 4.0, clears below 3.95.
    trace = [(3.99, False), (4.0, True), (3.97, True), (3.95, True), (3.949, False),
             (3.99, False), (4.01, True)]
    for level, expected in trace:
        assert bool(run(alarms, level)["alarm.h_active"][0]) is expected, level


def test_low_alarm_has_deadband_hysteresis() -> None:
    alarms = alarms_for(0.0)
    # L = 1.0: active at <= 1.0, clears above 1.05.
    trace = [(1.01, False), (1.0, True), (1.04, True), (1.05, True), (1.051, False)]
    for level, expected in trace:
        assert bool(run(alarms, level)["alarm.l_active"][0]) is expected, level


def test_state_is_exclusive_and_most_severe_while_booleans_nest() -> None:
    levels = (0.2, 0.8, 2.5, 4.2, 4.8)
    cols = run(alarms_for(*levels), *levels)
    assert cols["alarm.state"].tolist() == [LL, L, NORMAL, H, HH]
    assert cols["alarm.ll_active"].tolist() == [True, False, False, False, False]
    assert cols["alarm.l_active"].tolist() == [True, True, False, False, False]
    assert cols["alarm.h_active"].tolist() == [False, False, False, True, True]
    assert cols["alarm.hh_active"].tolist() == [False, False, False, False, True]


def test_escalation_needs_acknowledgement_and_confirmation() -> None:
    alarms = alarms_for(2.5)
    assert run(alarms, 2.5)["alarm.acked"][0]
    cols = run(alarms, 4.1)
    assert cols["alarm.state"][0] == H and not cols["alarm.acked"][0]
    assert cols["alarm.confirmed"][0]
    alarms.apply(command("level_alarm_acknowledge", True))
    cols = run(alarms, 4.1)
    assert cols["alarm.acked"][0] and not cols["alarm.confirmed"][0]
    cols = run(alarms, 4.6)  # escalation to HH: unacknowledged again
    assert cols["alarm.state"][0] == HH and not cols["alarm.acked"][0]
    alarms.apply(command("level_alarm_acknowledge", True))
    cols = run(alarms, 4.2)  # de-escalation HH -> H keeps the acknowledgement
    assert cols["alarm.state"][0] == H and cols["alarm.acked"][0]
    alarms.apply(command("level_alarm_confirm", True))
    cols = run(alarms, 2.5)
    assert cols["alarm.state"][0] == NORMAL
    assert cols["alarm.acked"][0] and cols["alarm.confirmed"][0]


def test_confirm_before_acknowledge_changes_nothing() -> None:
    alarms = alarms_for(2.5)
    run(alarms, 4.1)
    alarms.apply(command("level_alarm_confirm", True))
    cols = run(alarms, 4.1)
    assert not cols["alarm.acked"][0] and cols["alarm.confirmed"][0]


def test_unchanged_columns_keep_their_identity_for_cheap_change_detection() -> None:
    alarms = alarms_for(2.5, 2.5)
    first = AlarmColumns(**{k: v for k, v in _alarm_cols(run(alarms, 2.5, 2.5)).items()})
    second = AlarmColumns(**_alarm_cols(run(alarms, 2.6, 2.5)))
    assert second.state is first.state and second.acked is first.acked
    assert second.changed_since(first).tolist() == []
    third = AlarmColumns(**_alarm_cols(run(alarms, 2.6, 4.7)))
    assert third.changed_since(second).tolist() == [1]
    assert third.changed_since(None).tolist() == [0, 1]


def _alarm_cols(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"state": cols["alarm.state"], "acked": cols["alarm.acked"],
            "confirmed": cols["alarm.confirmed"]}


def test_transitions_are_logged_once() -> None:
    alarms = alarms_for(2.5)
    with capture_logs() as logs:
        run(alarms, 4.6)
        run(alarms, 4.6)
    events = [e for e in logs if e["event"] == "level_alarm_transition"]
    assert len(events) == 1
    assert events[0]["state"] == "HH" and events[0]["tank"] == "T0"


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"alarm_high": 0.9}, "alarm_high", "must be > alarm_low (1 m)"),
        ({"alarm_low_low": 1.2}, "alarm_low_low", "must be < alarm_low (1 m)"),
        ({"alarm_high_high": 5.5}, "alarm_high_high", "must be <= height (5 m)"),
        ({"alarm_deadband": 3.0}, "alarm_deadband", "must be < alarm_high - alarm_low (3 m)"),
        ({"alarm_low": -1.0}, "alarm_low", "must be >= 0"),
    ],
)
def test_plant_file_limits_are_checked_with_clear_errors(
    overrides: dict[str, float], field: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_plant({"tanks": [{"name": "A", **overrides}]}, "plant.toml")
    assert info.value.field == f"tanks[0].{field}"
    assert reason in info.value.reason


def twin(name: str, **tank: object) -> Twin:
    data = {"metrics": {"enabled": False}, "simulation": {"start_paused": True},
            **NO_FRONT_ENDS, "tanks": [{"name": name, **tank}]}
    return Twin(parse_plant(data, "<test>"), clock=FakeClock())


async def step(t: Twin) -> None:
    t.engine.request_steps(1, ENGINEER)
    await t.engine.wait_scans(1)


async def test_limit_writes_are_validated_before_queueing_and_act_at_the_next_scan() -> None:
    async with twin("A") as a:
        with pytest.raises(OutOfRangeError, match=r"must be < alarm_high_high \(4.5 m\)"):
            a.engine.submit("alarm_high", 0, 4.6, ENGINEER)
        with pytest.raises(OutOfRangeError, match="must be <= 5 m"):
            a.engine.submit("alarm_high_high", 0, 5.5, ENGINEER)
        with pytest.raises(AccessDeniedError):
            a.engine.submit("alarm_high", 0, 3.0, OPERATOR)
        with pytest.raises(OutOfRangeError, match=r"must be > alarm_high \(4 m\)"):
            a.engine.submit("alarm_high_high", 0, 2.6, ENGINEER)
        a.engine.submit("alarm_high", 0, 2.4, ENGINEER)
        a.engine.submit("alarm_high_high", 0, 2.6, ENGINEER)  # against the queued 2.4
        with pytest.raises(OutOfRangeError, match=r"must be < alarm_high_high \(2.6 m\)"):
            a.engine.submit("alarm_high", 0, 2.7, ENGINEER)
        high_high = a.tags.tank_tag("alarm_high_high")
        assert a.engine.current(high_high, 0) == 2.6  # queued, shown at once
        await step(a)
        snap = a.engine.snapshot
        assert snap.value(high_high, 0) == 2.6
        assert snap.value(a.tags.tank_tag("level_alarm_state"), 0) == H  # level 2.5 >= 2.4


async def test_acknowledge_is_a_logged_operator_command() -> None:
    async with twin("A", initial_level=4.2, setpoint=4.2) as a:
        state = a.tags.tank_tag("level_alarm_state")
        acked = a.tags.tank_tag("level_alarm_acked")
        assert a.engine.snapshot.value(state, 0) == H
        assert a.engine.snapshot.value(acked, 0) is False
        with pytest.raises(AccessDeniedError):
            a.engine.submit("level_alarm_acknowledge", 0, True, OBSERVER)
        with capture_logs() as logs:
            a.engine.submit("level_alarm_acknowledge", 0, True, OPERATOR)
            await step(a)
        assert a.engine.snapshot.value(acked, 0) is True
        applied = [e for e in logs if e["event"] == "command_applied"]
        assert [e["target"] for e in applied] == ["tank 0: level_alarm_acknowledge"]
        counted = a.registry.get_sample_value(
            "twin_commands_total", {"source": "test", "result": "applied"})
        assert counted == 1.0


async def test_two_twins_keep_their_own_alarms() -> None:
    async with twin("A", initial_level=4.2, setpoint=4.2) as a, twin("B") as b:
        a.engine.submit("alarm_high", 0, 4.3, ENGINEER)
        await step(a)
        await step(b)
        assert a.alarms is not b.alarms
        state = a.tags.tank_tag("level_alarm_state")
        assert a.engine.snapshot.value(state, 0) == NORMAL  # 4.2 < new H 4.3
        assert b.engine.snapshot.value(a.tags.tank_tag("alarm_high"), 0) == 4.0
        assert b.engine.snapshot.value(state, 0) == NORMAL
        a.engine.submit("alarm_high", 0, 4.1, ENGINEER)
        await step(a)
        assert a.engine.snapshot.value(state, 0) == H
        assert b.engine.snapshot.value(state, 0) == NORMAL


async def test_alarm_states_are_prometheus_gauges() -> None:
    data = {"metrics": {"port": 0}, **NO_FRONT_ENDS,
            "tanks": [{"name": "A", "initial_level": 0.3, "setpoint": 0.3}]}
    async with Twin(parse_plant(data, "<test>"), clock=FakeClock()) as a:
        sample = a.registry.get_sample_value
        assert sample("tank_level_alarm_low_low", {"tank": "A"}) == 1.0
        assert sample("tank_level_alarm_low", {"tank": "A"}) == 1.0
        assert sample("tank_level_alarm_high", {"tank": "A"}) == 0.0
        assert sample("tank_level_alarm_state", {"tank": "A"}) == LL
        assert sample("tank_level_alarm_acked", {"tank": "A"}) == 0.0
