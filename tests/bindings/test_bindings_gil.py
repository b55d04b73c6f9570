"""step() releases the GIL: a Python thread keeps running during a long step."""

import threading
import time

from twin import _core


def test_step_releases_the_gil() -> None:
    plant = _core.Plant([_core.TankParams() for _ in range(100_000)])
    plant.step(1)
    started = time.perf_counter()
    plant.step(20)
    per_step = (time.perf_counter() - started) / 20
    steps = max(20, int(0.6 / per_step))  # a call of about 0.6 s

    counter = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal counter
        while not stop.is_set():
            counter += 1

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.05)
    before = counter
    started = time.perf_counter()
    plant.step(steps)
    elapsed = time.perf_counter() - started
    during = counter - before
    stop.set()
    thread.join()
    assert elapsed > 0.2
    # Holding the GIL, the thread would get at most a switch interval or two (~10 ms)
    # of the call; released, it spins through the whole call: millions of increments.
    assert during > 100_000, (during, elapsed)
