"""How every benchmark here times: fixed threads, warm-up discarded, repeated and interleaved runs, spread.

A figure is never one run. `interleave` first runs the warm-up items (discarded), then each timed
item once per side, the sides alternating within an item (A, B, A, B, ...), so whatever load the
machine carries hits every side alike. `interleave_until` repeats the same work until each ratio it
is asked for is known to +-`PRECISION` (95 % interval), or its time budget is spent with every
interval within twice that (a wider one, left by a slow spell, gets up to `PATIENCE` budgets): on a
machine whose speed drifts by 20-30 % within seconds, a fixed 5 repetitions left ratios 10-18 %
apart between two runs, and a fixed budget left the longest clips' growth factors at +-12-125 %.
`Stats` summarises one side's samples (minimum, median, quartiles); `Ratio` two sides' paired
samples: the median of the per-repetition ratios (the same work repeated; each ratio is taken
between neighbours in time, so drift cancels) or the ratio of the totals (different items: the
throughput ratio), each with the quartiles of the paired ratios and a 95 % interval.
`passes_until` does the same with passes over different items (each pass one repetition).
`fix_process` pins thread pools and sets the allocator as the `audioqual` command does
(`audioqual.allocator`), so that timings do not depend on what the process ran before. `calls_for`
sizes how often a short call repeats inside one timing. `process_and_turn` splits a ratio's variation
between processes taking turns into the process's part, the turn's part and the rest. `PeakMemory`
records the resident memory a block of code reaches; `run_fresh` times a command in a new process and
reads that process's own peak resident memory. `HostUse` records how busy the machine was apart from
the benchmark (CPU steal and other processes); `SpeedAround` times two fixed workloads (`MachineSpeed`)
before and after, which show whether the machine's own speed moved.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

MIN_REPETITIONS = 5
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")  # fmt: skip

Item = TypeVar("Item")


def fix_process(count: int) -> str:
    """Pin the thread pools to `count` and set the allocator as the command line does; returns what was set."""
    from audioqual.allocator import retain_freed_memory

    return f"{fix_threads(count)}; {retain_freed_memory()}"


def fix_threads(count: int) -> str:
    """Pin torch's, BLAS's and OpenMP's thread pools to `count` (here and in child processes); returns what was set."""
    from threadpoolctl import threadpool_info, threadpool_limits

    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(count)
    threadpool_limits(count)  # libraries already loaded; the variables cover those loaded later
    import torch

    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(count)
    except RuntimeError:  # only settable before torch's first parallel work; then it is reported as it is
        pass
    pools = sorted({f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpool_info()})
    return (f"{count} thread(s): torch intra-op {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}; "
            f"{', '.join(pools) or 'no BLAS/OpenMP pool loaded yet'}; {'/'.join(THREAD_VARIABLES[:3])}={count}")


@dataclass(frozen=True)
class Stats:
    """Timed samples of one side (seconds, or seconds per unit after `per`)."""

    samples: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no samples")
        return cls(tuple(float(v) for v in values))

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def quartiles(self) -> tuple[float, float]:
        low, high = np.percentile(self.samples, [25, 75])
        return float(low), float(high)

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        low, high = self.quartiles
        return (high - low) / self.median if self.median else math.inf

    def per(self, sizes: Sequence[float]) -> Stats:
        """Each sample divided by its item's size (e.g. seconds per audio-second)."""
        if len(sizes) != self.n:
            raise ValueError(f"{len(sizes)} sizes for {self.n} samples")
        return Stats(tuple(s / size for s, size in zip(self.samples, sizes)))

    def describe(self, unit: str = "s") -> str:
        return (f"median {self.median:.4g} {unit} (min {self.minimum:.4g}, IQR {100 * self.spread:.0f} %, "
                f"n={self.n})")

    def to_dict(self) -> dict[str, Any]:
        low, high = self.quartiles
        return {"n": self.n, "min": self.minimum, "median": self.median, "q1": low, "q3": high,
                "max": max(self.samples), "samples": list(self.samples)}  # fmt: skip


CONFIDENCE = 0.95
PRECISION = 0.04  # relative half-width of a ratio's 95 % interval that interleave_until repeats for
PATIENCE = 3.0  # interleave_until goes on up to this many budgets while an interval is wider than 2 PRECISION
BOOTSTRAP_RESAMPLES = 2000


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free interval of the median from order statistics: [x_(k), x_(n+1-k)].

    k is the largest rank whose interval covers the median with at least `confidence`
    (coverage 1 - 2 P(Binomial(n, 1/2) < k)); below 6 values even [min, max] covers less, and is returned.
    """
    from scipy.stats import binom

    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    k = 1
    while k < n // 2 + 1 and 2 * binom.cdf(k, n, 0.5) <= 1 - confidence:
        k += 1
    return float(ordered[k - 1]), float(ordered[n - k])


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator of two sides timed together: the value, per-item quartiles and a 95 % interval."""

    value: float
    q1: float
    q3: float
    n: int
    low: float
    high: float

    @staticmethod
    def _paired(numerator: Stats, denominator: Stats) -> np.ndarray:
        if numerator.n != denominator.n:
            raise ValueError(f"unpaired samples: {numerator.n} against {denominator.n}")
        return np.asarray(numerator.samples) / np.asarray(denominator.samples)

    @classmethod
    def paired(cls, numerator: Stats, denominator: Stats) -> Ratio:
        """The same work repeated: the median of the per-repetition ratios, its order-statistic interval."""
        ratios = cls._paired(numerator, denominator)
        low, high = np.percentile(ratios, [25, 75])
        return cls(float(np.median(ratios)), float(low), float(high), len(ratios), *median_interval(ratios))

    @classmethod
    def of_totals(cls, numerator: Stats, denominator: Stats) -> Ratio:
        """Different items: total over total (throughput), its percentile-bootstrap interval over the items."""
        ratios = cls._paired(numerator, denominator)
        top, bottom = np.asarray(numerator.samples), np.asarray(denominator.samples)
        draws = np.random.default_rng(0).integers(0, len(ratios), size=(BOOTSTRAP_RESAMPLES, len(ratios)))
        resampled = top[draws].sum(axis=1) / bottom[draws].sum(axis=1)
        alpha = (1 - CONFIDENCE) / 2
        low, high = np.percentile(ratios, [25, 75])
        interval = np.quantile(resampled, [alpha, 1 - alpha])
        return cls(float(top.sum() / bottom.sum()), float(low), float(high), len(ratios), *map(float, interval))

    @property
    def precision(self) -> float:
        """Half the 95 % interval's width relative to the value."""
        return (self.high - self.low) / (2 * abs(self.value)) if self.value else math.inf

    def describe(self, digits: int = 3) -> str:
        return (f"{self.value:.{digits}g} (95 % {self.low:.{digits}g}-{self.high:.{digits}g}, "
                f"IQR {self.q1:.{digits}g}-{self.q3:.{digits}g}, n={self.n})")

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "q1": self.q1, "q3": self.q3, "n": self.n, "low": self.low, "high": self.high}


def process_and_turn(log_ratios: np.ndarray) -> dict[str, float]:
    """Where a ratio's variation lives, from log ratios measured by several processes (rows) taking turns
    (columns: the same work at the same time for every process): a two-way additive analysis of
    variance without replication. Returns each part's standard deviation in log units (`process`,
    `turn`: time and whatever the turn's work was, `residual`) and the F-test p-values of both effects."""
    from scipy.stats import f

    values = np.asarray(log_ratios, dtype=float)
    rows, columns = values.shape
    if rows < 2 or columns < 2:
        raise ValueError(f"need at least 2 processes and 2 turns, got {rows} x {columns}")
    grand = values.mean()
    row_effect, column_effect = values.mean(axis=1) - grand, values.mean(axis=0) - grand
    residual = values - grand - row_effect[:, None] - column_effect[None, :]
    df_row, df_column, df_residual = rows - 1, columns - 1, (rows - 1) * (columns - 1)
    ms_row = columns * float((row_effect**2).sum()) / df_row
    ms_column = rows * float((column_effect**2).sum()) / df_column
    ms_residual = float((residual**2).sum()) / df_residual
    return {"process": math.sqrt(max(ms_row - ms_residual, 0.0) / columns),
            "turn": math.sqrt(max(ms_column - ms_residual, 0.0) / rows),
            "residual": math.sqrt(ms_residual),
            "process_p": float(f.sf(ms_row / ms_residual, df_row, df_residual)) if ms_residual else 0.0,
            "turn_p": float(f.sf(ms_column / ms_residual, df_column, df_residual)) if ms_residual else 0.0}


def interleave(sides: Mapping[str, Callable[[Item], Any]], items: Sequence[Item],
               warmup: Sequence[Item] = (), reverse_every: int = 0) -> dict[str, Stats]:
    """Run every side on each warm-up item (discarded), then time every side on each item, sides alternating.

    `reverse_every` = k reverses the order of the sides on items k..2k-1, 3k..4k-1, ..., so that each
    side runs after the others as often: a run can pay for what the run before it left behind.
    """
    for item in warmup:
        for run in sides.values():
            run(item)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for index, item in enumerate(items):
        _time_once(_ordered(sides, index, reverse_every), item, times)
    return {name: Stats.of(values) for name, values in times.items()}


def _ordered(sides: Mapping[Any, Any], index: int, reverse_every: int) -> Mapping[Any, Any]:
    """`sides` in their order, or reversed in every other block of `reverse_every` items (0: never)."""
    if reverse_every and (index // reverse_every) % 2:
        return dict(reversed(list(sides.items())))
    return sides


def _time_once(sides: Mapping[str, Callable[[Item], Any]], item: Item, times: dict[str, list[float]]) -> None:
    for name, run in sides.items():
        start = time.perf_counter()
        run(item)
        times[name].append(time.perf_counter() - start)


def interleave_until(sides: Mapping[Any, Callable[[None], Any]], ratios: Sequence[tuple[Any, Any]], *,
                     budget: float, minimum: int = MIN_REPETITIONS, maximum: int = 200,
                     precision: float = PRECISION, warmup: int = 0, alternate: bool = False,
                     patience: float = PATIENCE) -> dict[Any, Stats]:
    """Repeat the same work, sides interleaved, until every (numerator, denominator) in `ratios` has a
    `Ratio.paired` interval within +-`precision` (at least `minimum`, at most `maximum` repetitions).

    After `budget` seconds it stops once every interval is within +-2 `precision`; one still wider (a
    slow spell hit the run) keeps it going up to `patience` x `budget`. The returned samples tell what
    was reached: `Ratio.paired(...).precision`.
    `alternate` reverses the order of the sides on every other repetition (A, B, B, A, A, B, ...), so
    that each side runs after the other as often: a short run right after a long one can pay for the
    memory the long one freed, by an amount that differs from process to process.
    """
    for _ in range(warmup):
        for run in sides.values():
            run(None)
    return passes_until(sides, [None], ratios, budget=budget, minimum=minimum, maximum=maximum,
                        precision=precision, patience=patience, alternate=alternate)[1]  # fmt: skip


def passes_until(sides: Mapping[Any, Callable[[Item], Any]], items: Sequence[Item], ratios: Sequence[tuple[Any, Any]],
                 *, budget: float, minimum: int = MIN_REPETITIONS, maximum: int = 50, precision: float = PRECISION,
                 patience: float = PATIENCE, alternate: bool = True) -> tuple[dict[Any, Stats], dict[Any, Stats]]:
    """Pass over `items` with `interleave` (with `alternate`, the order of the sides reversed on every
    other pass), repeated as `interleave_until` describes: each pass is one repetition of the same
    work, so a ratio of two sides is `Ratio.paired` of their per-pass totals (what differs between two
    benchmark runs is the machine, not the items). Returns every item's timings (pass after pass) and
    the per-pass totals.
    """
    per_item: dict[Any, list[float]] = {name: [] for name in sides}
    totals: dict[Any, list[float]] = {name: [] for name in sides}
    started = time.perf_counter()
    for done in range(1, maximum + 1):
        for name, stats in interleave(_ordered(sides, done - 1, 1 if alternate else 0), items).items():
            per_item[name] += stats.samples
            totals[name].append(sum(stats.samples))
        if done < minimum:
            continue
        stats = {name: Stats.of(values) for name, values in totals.items()}
        widest = max((Ratio.paired(stats[a], stats[b]).precision for a, b in ratios), default=0.0)
        elapsed = time.perf_counter() - started
        if widest <= precision or (elapsed >= budget and widest <= 2 * precision) or elapsed >= patience * budget:
            break
    return ({name: Stats.of(values) for name, values in per_item.items()},
            {name: Stats.of(values) for name, values in totals.items()})


def repeat(run: Callable[[], Any], repetitions: int = MIN_REPETITIONS, warmup: int = 1) -> Stats:
    """`run()` timed `repetitions` times after `warmup` discarded runs."""
    return interleave({"run": lambda _: run()}, [None] * repetitions, [None] * warmup)["run"]


def calls_for(seconds: float, target: float) -> int:
    """How many calls of about `seconds` one timed repetition makes so that it lasts about `target` seconds."""
    return max(1, math.ceil(target / seconds)) if seconds > 0 else 1


def resident_mb() -> float:
    """The process's resident memory now (MiB)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def lifetime_peak_mb() -> float:
    """The process's peak resident memory since it started (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak resident memory reached inside a `with` block (sampled every `interval` s, exact if a lifetime peak).

    Memory freed earlier but kept by the allocator may be reused inside the block, so `growth_mb` can
    understate what the block needs on its own; a fresh process (`run_fresh`) gives the whole figure.
    """

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.before_mb = self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        self.before_mb = self.peak_mb = resident_mb()
        self._lifetime_before = lifetime_peak_mb()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, resident_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak_mb = max(self.peak_mb, resident_mb())
        lifetime = lifetime_peak_mb()
        if lifetime > self._lifetime_before:  # the process's all-time peak was set inside the block: exact
            self.peak_mb = max(self.peak_mb, lifetime)

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.before_mb


@dataclass(frozen=True)
class FreshRun:
    """One command in a new process: its wall time and its own peak resident memory."""

    seconds: float
    peak_mb: float


# Runs a command and reports its wall time and peak memory. A child inherits the peak memory of the
# process that forks it (Linux counts the forking process's memory in the child's ru_maxrss), so the
# command is forked from this small launcher, not from the benchmark, which may hold gigabytes.
_LAUNCHER = """import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
print(json.dumps([code, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))
"""


def run_fresh(command: Sequence[str], env: Mapping[str, str] | None = None) -> FreshRun:
    """Run `command` in a new process; raises RuntimeError with its stderr's tail when it fails."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True,
                          env=None if env is None else dict(env))  # fmt: skip
    code, seconds, peak_kb = json.loads(done.stdout.strip().splitlines()[-1])
    if code != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(command)} exited with {code}: {' | '.join(tail)}")
    return FreshRun(seconds, peak_kb / 1024)


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far, all cores, in clock ticks (/proc/stat: user, nice, system, idle,
    iowait, irq, softirq, steal); empty where there is no /proc/stat."""
    try:
        with open("/proc/stat") as handle:
            return [int(value) for value in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def own_cpu_seconds() -> float:
    """CPU seconds used so far by this process and the child processes it has waited for."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def host_use(before: Sequence[int], after: Sequence[int], own_seconds: float,
             ticks_per_second: float) -> dict[str, float]:
    """How busy the machine was apart from the benchmark between two `cpu_ticks` readings, in percent of
    all cores' time: `steal` (time the hypervisor gave these cores to other machines) and `others`
    (CPU time of processes other than this one and its children: busy time minus `own_seconds`)."""
    if len(before) < 8 or len(after) < 8:
        return {}
    user, nice, system, idle, iowait, irq, softirq, steal = (b - a for a, b in zip(before, after))
    total = user + nice + system + idle + iowait + irq + softirq + steal
    if total <= 0:
        return {}
    busy = user + nice + system + irq + softirq
    others = max(0.0, busy - own_seconds * ticks_per_second)
    return {"steal": 100 * steal / total, "others": 100 * others / total}


class HostUse:
    """`host_use` over a `with` block (`.percent` after it), so that a slow spell of a shared or
    virtual machine can be told from a change in the code: between two full runs here the medians
    of one run rose by 10-20 % with its minimums unchanged, and nothing in the run said why. What
    neighbours take of shared caches and memory bandwidth shows in neither figure."""

    def __enter__(self) -> HostUse:
        self.percent: dict[str, float] = {}
        self._ticks, self._own = cpu_ticks(), own_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.percent = host_use(self._ticks, cpu_ticks(), own_cpu_seconds() - self._own, os.sysconf("SC_CLK_TCK"))


class MachineSpeed:
    """Two fixed workloads whose times say how fast the machine is at the moment, in milliseconds:
    `compute` (`products` products of 384 x 384 float32 matrices: the cores' arithmetic) and `memory`
    (summing a `megabytes` array, larger than any cache: the memory bandwidth). A host whose cores or
    memory got slower (a neighbour's cache and bandwidth use, a slower clock) moves them without any
    CPU steal, which `HostUse` alone cannot see."""

    def __init__(self, products: int = 32, megabytes: int = 256):
        self.matrix = np.random.default_rng(0).standard_normal((384, 384), dtype=np.float32)
        self.block = np.ones(megabytes * 2**18, dtype=np.float32)
        self.products = products
        self.description = f"{products} products of 384 x 384 float32 matrices; a sum over {megabytes} MB"

    def time(self, repetitions: int = 7) -> dict[str, float]:
        """Each workload's minimum over `repetitions` timings after a warm-up, in milliseconds."""
        workloads = {"compute": lambda: [self.matrix @ self.matrix for _ in range(self.products)],
                     "memory": lambda: float(self.block.sum())}  # fmt: skip
        return {name: 1000 * repeat(run, repetitions).minimum for name, run in workloads.items()}


class SpeedAround:
    """`MachineSpeed` timed just before and just after a `with` block (`.record()`), while nothing of
    the benchmark runs. Not sampled during the block: on 2 fully used cores a sample taken while the
    benchmark runs measures the benchmark's own load (in a --quick run, 8 products took 5.2-6.4 ms at
    their fastest and up to 16.3 ms within one group). So the two figures are snapshots: on this machine
    the compute workload read 21-40 ms at group ends within one 43-minute run, CPU steal under 0.4 %, and
    a run whose ends read 33 % slower than another's measured the same ratios within 3 %: they show the
    machine moving, they do not say how much a ratio moved with it."""

    def __enter__(self) -> SpeedAround:
        self._speed = MachineSpeed()
        self._started = time.perf_counter()
        self.samples = [{"at": 0.0, **self._speed.time()}]
        return self

    def __exit__(self, *exc: object) -> None:
        self.samples.append({"at": round(time.perf_counter() - self._started, 1), **self._speed.time()})

    def record(self) -> dict[str, Any]:
        """What to keep in the results: both samples and which workloads they timed."""
        return {"workloads": self._speed.description, "samples": self.samples}


def machine() -> dict[str, Any]:
    """What the figures were measured on: date, CPU, cores, memory, load, library versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    memory_gib = None
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as handle:
            memory_gib = round(int(next(line.split()[1] for line in handle if line.startswith("MemTotal"))) / 2**20, 1)
    except OSError:
        pass
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": memory_gib,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
