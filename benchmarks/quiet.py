"""Whether the machine is quiet enough for timings to mean anything.

On a loaded machine a busy core slows one variant and not the next, so ratios
between them are noise (a 2-core machine under a load of 3 once gave the same
16 ms for every W3 variant). Two signs, both needed: the 1-minute load average
(slow to move) and the spread of a fixed busy loop timed a few times (it
shows a load that started a second ago).
"""
import os
import time

MAX_SPREAD = 1.3  # slowest over fastest of the calibration loop


def default_max_load():
    """A quarter of the cores (at least 0.5): the kernels' threads need the rest."""
    return max(0.5, 0.25 * (os.cpu_count() or 1))


def calibration_spread(samples=7, n=200_000):
    """Slowest over fastest time of a pure-Python loop (about 10 ms) run ``samples`` times."""
    times = []
    for _ in range(samples):
        start, total = time.perf_counter(), 0
        for i in range(n):
            total += i
        times.append(time.perf_counter() - start)
    return max(times) / min(times)


def check(max_load):
    """(load average, calibration spread, quiet?)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    spread = calibration_spread()
    return load, spread, load <= max_load and spread <= MAX_SPREAD


def describe(load, spread, max_load):
    return (f"load average {load:.1f} (at most {max_load:g} wanted on {os.cpu_count()} cores), "
            f"calibration spread {spread:.2f} (at most {MAX_SPREAD:g})")


def wait_until_quiet(max_load, wait_s, poll_s=10.0, say=print):
    """Check until the machine is quiet or ``wait_s`` seconds have passed; the last check."""
    deadline = time.monotonic() + wait_s
    while True:
        load, spread, quiet = check(max_load)
        if quiet or time.monotonic() + poll_s > deadline:
            return load, spread, quiet
        say(f"waiting for a quiet machine: {describe(load, spread, max_load)}")
        time.sleep(poll_s)
