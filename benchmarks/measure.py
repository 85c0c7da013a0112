"""Timing and memory helpers of the benchmark scripts: round-robin medians, other processes' load, peak RSS."""

from __future__ import annotations

import gc
import os
import re
import statistics
import time
from pathlib import Path

MiB = 2**20
GiB = 2**30


def memory_status() -> dict[str, int]:
    """Current and peak resident set of this process, bytes."""
    text = Path("/proc/self/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", text).group(1)) * 1024 for key in ("VmRSS", "VmHWM")}


def reset_peak() -> None:
    """Reset this process's peak resident set to its current value (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def available_memory() -> int:
    text = Path("/proc/meminfo").read_text()
    return int(re.search(r"MemAvailable:\s+(\d+)", text).group(1)) * 1024


class ForeignLoad:
    """CPU time used by *other* processes, in cores, between ``start()`` and ``stop()``."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _busy_jiffies() -> int:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields) - fields[3] - fields[4]  # all but idle and iowait

    def start(self) -> None:
        times = os.times()
        self._start = (self._busy_jiffies(), times.user + times.system, time.perf_counter())

    def stop(self) -> float:
        busy, own, wall = self._start
        times = os.times()
        other = (self._busy_jiffies() - busy) / self.hz - (times.user + times.system - own)
        return max(other, 0.0) / max(time.perf_counter() - wall, 1e-9)


def wait_until_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait up to ``max_wait`` s until other processes use < ``threshold`` cores for 2 s."""
    deadline = time.perf_counter() + max_wait
    probe = ForeignLoad()
    while True:
        probe.start()
        time.sleep(2.0)
        load = probe.stop()
        if load < threshold or time.perf_counter() >= deadline:
            return load
        time.sleep(3.0)


def round_robin(functions: dict[str, callable], repeats: int, warmup: int = 1, cores: dict | None = None):
    """Median seconds of each function, the functions called in turn each round.

    If ``cores`` is a dict, it receives each function's process CPU time over
    wall time (the cores it kept busy on average) summed over the repeats.
    """
    for _ in range(warmup):
        for function in functions.values():
            function()
    times = {name: [] for name in functions}
    cpu = {name: 0.0 for name in functions}
    for _ in range(repeats):
        gc.collect()
        for name, function in functions.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            cpu[name] += time.process_time() - start_cpu
            times[name].append(time.perf_counter() - start)
    if cores is not None:
        cores.update({name: cpu[name] / sum(times[name]) for name in functions})
    return {name: statistics.median(values) for name, values in times.items()}


def one_thread(function):
    """``function()`` with torch's intra-op parallelism limited to one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return function()
    finally:
        torch.set_num_threads(threads)


def mb(nbytes: float) -> str:
    return f"{nbytes / MiB:,.1f}"
