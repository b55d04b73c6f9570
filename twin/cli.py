"""The ``tank-twin`` command line: command line and environment -> one config -> the service."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

import structlog

from twin.config import PlantConfig, default_plant, load_plant_file
from twin.errors import ConfigError
from twin.logs import configure_logging
from twin.modbus.register_export import export_registers
from twin.opcua.user_command import add_user_command
from twin.scenario_config import DEFAULT_SAVE_INTERVAL as DEFAULT_INTERVAL
from twin.scenario_config import Session, with_seed
from twin.table_format import FORMATS
from twin.tag_export import export_tags

log = structlog.get_logger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_FORCED = 130
STOP_TIMEOUT = 10.0  # s a graceful stop may take before the process gives up


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tank-twin", description="A digital twin of process tanks (OPC UA, Modbus, Prometheus)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the twin until stopped (SIGTERM or Ctrl-C)")
    run.add_argument("--config", help="plant file (TOML); default: the embedded one-tank plant")
    run.add_argument("--dev", action="store_true", help="send internal error details to clients")
    run.add_argument("--log-format", choices=("auto", "json", "console"), help="log format")
    run.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    _session_arguments(run)
    run.add_argument("--save-interval", type=float, default=DEFAULT_INTERVAL, metavar="S",
                     help=f"wall-clock seconds between state saves (default {DEFAULT_INTERVAL:g})")
    run.add_argument("--resume", action="store_true",
                     help="continue from the state file (--state) where the last run stopped")
    simulate = sub.add_parser(
        "simulate", help="run a plant (and a scenario) headless, as fast as the core goes")
    simulate.add_argument("--config", help="plant file (TOML); default: the embedded plant")
    simulate.add_argument("--until", type=float, required=True, metavar="T",
                          help="stop at this simulation time (s)")
    simulate.add_argument("--seed", type=int, help="plant seed (overrides [simulation] seed)")
    simulate.add_argument("--log-format", choices=("auto", "json", "console"), help="log format")
    simulate.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                          default="warning")
    _session_arguments(simulate)
    check = sub.add_parser("check", help="validate a plant file")
    check.add_argument("file")
    tags = sub.add_parser("tags", help="print the tag table of a plant")
    tags.add_argument("--config", help="plant file (TOML); default: the embedded plant")
    tags.add_argument("--format", choices=FORMATS, default="md")
    tags.add_argument("--tank", help="only this tank's tags (and the simulation's)")
    registers = sub.add_parser("registers", help="print the Modbus register map of a plant")
    registers.add_argument("--config", help="plant file (TOML); default: the embedded plant")
    registers.add_argument("--format", choices=FORMATS, default="md")
    registers.add_argument("--tank", help="only this tank's registers (and the simulation's)")
    user = sub.add_parser("user", help="manage OPC UA users (salted password hashes)")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    user_add = user_sub.add_parser("add", help="add or replace a user (asks for the password)")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=("observer", "operator", "engineer"))
    user_add.add_argument("--config", help="plant file naming the users file; default: embedded")
    user_add.add_argument("--users-file", help="the users file to write (overrides --config)")
    user_add.add_argument("--password-stdin", action="store_true",
                          help="read the password from standard input instead of asking")
    return parser


def _session_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", metavar="FILE", help="play this scenario (TOML)")
    parser.add_argument("--record", metavar="FILE", help="record every tag to this CSV file")
    parser.add_argument("--record-period", type=float, metavar="S",
                        help="simulation seconds between records (default: every scan)")
    parser.add_argument("--state", metavar="FILE",
                        help="state file: saved periodically and on stop, read by --resume")


def _session(args: argparse.Namespace, config: PlantConfig) -> Session:
    from twin.scenario_config import load_scenario

    if getattr(args, "resume", False) and not args.state:
        raise ConfigError("command line", "--resume", "needs --state FILE")
    if args.record_period is not None and not args.record_period > 0:
        raise ConfigError("command line", "--record-period", "must be > 0 s")
    interval = getattr(args, "save_interval", DEFAULT_INTERVAL)
    if not interval > 0:
        raise ConfigError("command line", "--save-interval", "must be > 0 s")
    scenario = load_scenario(args.scenario, config) if args.scenario else None
    return Session(scenario, args.record, args.record_period, args.state, interval,
                   getattr(args, "resume", False))


def load_config(path: str | None, env: Mapping[str, str]) -> PlantConfig:
    """The plant file named on the command line, else by TWIN_CONFIG, else the embedded one."""
    path = path or env.get("TWIN_CONFIG") or None
    return default_plant() if path is None else load_plant_file(path)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            return _check(args.file)
        if args.command == "tags":
            config = load_config(args.config, env)
            sys.stdout.write(export_tags(config, args.format, args.tank))
            return EXIT_OK
        if args.command == "user":
            path = args.users_file or load_config(args.config, env).opcua.users_file
            return add_user_command(path, args.name, args.role, args.password_stdin)
        if args.command == "registers":
            config = load_config(args.config, env)
            sys.stdout.write(export_registers(config, args.format, args.tank))
            return EXIT_OK
        if args.command == "simulate" and args.seed is not None:
            config = with_seed(load_config(args.config, env), args.seed)
        else:
            config = load_config(args.config, env)
        session = _session(args, config)
    except ConfigError as exc:
        print(f"tank-twin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    fmt = args.log_format or env.get("TWIN_LOG_FORMAT") or config.logging.format
    configure_logging(fmt, args.log_level or config.logging.level)
    if args.command == "simulate":
        return _simulate(config, session, args.until)
    dev = args.dev or env.get("TWIN_DEV", "") in ("1", "true")
    return asyncio.run(serve(config, dev, session))


def _simulate(config: PlantConfig, session: Session, until: float) -> int:
    from twin.simulate import simulate

    try:
        return asyncio.run(simulate(config, session, until))
    except ConfigError as exc:
        print(f"tank-twin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"tank-twin: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _check(path: str) -> int:
    try:
        config = load_plant_file(path)
    except ConfigError as exc:
        print(f"tank-twin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sim = config.simulation
    print(
        f"{path}: OK: {len(config.tanks)} tank(s), scan {sim.scan_period:g} s "
        f"({sim.steps_per_scan} steps of {sim.dt:g} s), time scale {sim.time_scale:g}"
    )
    return EXIT_OK


class StopSignals:
    """SIGTERM or SIGINT asks for a graceful stop; a second SIGINT forces exit."""

    def __init__(self, event: asyncio.Event, force_exit: Callable[[int], object] = os._exit):
        self.event = event
        self._force_exit = force_exit
        self._count = 0

    def handle(self, signum: int) -> None:
        self._count += 1
        if signum == signal.SIGINT and self._count > 1:
            log.error("forced_exit", reason="second SIGINT")
            self._force_exit(EXIT_FORCED)
            return
        log.info("stop_requested", signal=signal.Signals(signum).name)
        self.event.set()


async def serve(config: PlantConfig, dev: bool = False, session: Session | None = None) -> int:
    """Run a twin until SIGTERM or SIGINT; a second SIGINT forces exit."""
    from twin.app import Twin  # imports the compiled core only when serving
    from twin.simulate import attach

    loop = asyncio.get_running_loop()
    stop = StopSignals(asyncio.Event())
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.handle, signum)
    try:
        twin = Twin(config, dev=dev)
        parts = attach(twin, session or Session())
        await twin.__aenter__()
        if parts.keeper is not None:
            parts.keeper.start()
    except ConfigError as exc:
        print(f"tank-twin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. a port in use
        log.error("start_failed", reason=str(exc))
        return EXIT_FAILURE
    except Exception:
        log.exception("start_failed")
        return EXIT_FAILURE
    await stop.event.wait()
    try:
        if parts.keeper is not None:
            await parts.keeper.stop()
            await asyncio.wait_for(parts.keeper.save(), STOP_TIMEOUT)
        await asyncio.wait_for(twin.__aexit__(None, None, None), STOP_TIMEOUT)
    except TimeoutError:
        log.error("stop_timeout", timeout_s=STOP_TIMEOUT)
        return EXIT_FAILURE
    finally:
        parts.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
