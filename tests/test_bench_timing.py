"""The benchmarks' shared timing and reporting helpers (benchmarks/timing.py, benchmarks/report.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import report  # noqa: E402
import timing  # noqa: E402


def test_interleave_alternates_sides_and_discards_warmup():
    calls = []
    sides = {"a": lambda item: calls.append(("a", item)), "b": lambda item: calls.append(("b", item))}
    stats = timing.interleave(sides, items=[1, 2, 3], warmup=[0])
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
    assert stats["a"].n == stats["b"].n == 3


def test_repeat_times_only_the_repetitions():
    calls = []
    stats = timing.repeat(lambda: calls.append(1), repetitions=5, warmup=2)
    assert len(calls) == 7 and stats.n == 5


def test_stats_match_numpy():
    values = [0.3, 0.1, 0.4, 0.15, 0.9, 0.26]
    stats = timing.Stats.of(values)
    q1, q3 = np.percentile(values, [25, 75])
    assert stats.minimum == min(values)
    assert stats.median == pytest.approx(np.median(values))
    assert stats.quartiles == pytest.approx((q1, q3))
    assert stats.spread == pytest.approx((q3 - q1) / np.median(values))
    assert stats.per([2.0] * 6).median == pytest.approx(np.median(values) / 2)
    with pytest.raises(ValueError):
        stats.per([1.0])
    with pytest.raises(ValueError):
        timing.Stats.of([])


def test_paired_ratio_is_the_median_of_per_repetition_ratios_with_an_order_statistic_interval():
    numerator = timing.Stats.of([2.0, 4.0, 6.0, 8.0, 10.0])
    denominator = timing.Stats.of([1.0, 1.0, 2.0, 2.0, 2.0])
    ratio = timing.Ratio.paired(numerator, denominator)
    paired = [2.0, 4.0, 3.0, 4.0, 5.0]
    assert ratio.value == pytest.approx(np.median(paired))  # not 6 / 2, the ratio of the medians
    assert (ratio.q1, ratio.q3) == pytest.approx(tuple(np.percentile(paired, [25, 75])))
    assert (ratio.low, ratio.high) == (2.0, 5.0)  # five values: no narrower interval reaches 95 %
    with pytest.raises(ValueError):
        timing.Ratio.paired(numerator, timing.Stats.of([1.0]))


def test_median_interval_matches_the_binomial_table_and_its_coverage():
    values = [float(v) for v in range(1, 21)]
    assert timing.median_interval(values) == (6.0, 15.0)  # n = 20: ranks 6 and 15 (textbook table)
    assert timing.median_interval(values[:6]) == (1.0, 6.0)
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(2000):  # the interval covers the true median (0 for a standard normal) at least 95 % of the time
        low, high = timing.median_interval(rng.standard_normal(25))
        covered += low <= 0.0 <= high
    assert 0.94 <= covered / 2000 <= 0.995


def test_ratio_of_totals_is_throughput_with_a_bootstrap_interval_around_it():
    numerator = timing.Stats.of([2.0, 4.0, 6.0, 8.0, 10.0])
    denominator = timing.Stats.of([1.0, 1.0, 2.0, 2.0, 2.0])
    ratio = timing.Ratio.of_totals(numerator, denominator)
    assert ratio.value == pytest.approx(30.0 / 8.0)
    assert ratio.low <= ratio.value <= ratio.high
    assert min(2.0, 4.0, 3.0, 5.0) <= ratio.low and ratio.high <= 5.0  # within the range of the per-item ratios
    equal = timing.Ratio.of_totals(timing.Stats.of([3.0, 6.0, 9.0]), timing.Stats.of([1.0, 2.0, 3.0]))
    assert (equal.low, equal.value, equal.high) == pytest.approx((3.0, 3.0, 3.0))
    assert equal.precision == pytest.approx(0.0)


def test_interleave_until_stops_once_the_ratio_is_precise_and_at_the_budget_otherwise():
    steady = {"a": lambda _: None, "b": lambda _: None}
    stats = timing.interleave_until(steady, [("a", "b")], budget=60.0, minimum=6, precision=10.0)
    assert stats["a"].n == 6  # a loose precision is met as soon as the minimum is reached

    def noisy(rng=np.random.default_rng(0)):
        return lambda _: time.sleep(float(rng.uniform(0.0, 0.002)))

    started = time.perf_counter()
    stats = timing.interleave_until({"a": noisy(), "b": noisy()}, [("a", "b")], budget=0.2, minimum=5,
                                    precision=1e-6, maximum=10_000, patience=2.0)  # fmt: skip
    assert 5 < stats["a"].n == stats["b"].n < 10_000  # an unreachable precision stops at patience x budget
    assert 0.4 <= time.perf_counter() - started < 1.0
    calls = []
    timing.interleave_until({"a": lambda _: calls.append("a"), "b": lambda _: calls.append("b")}, [("a", "b")],
                            budget=60.0, minimum=3, maximum=3, warmup=1)  # fmt: skip
    assert calls == ["a", "b"] * 4  # one warm-up round, then three alternating repetitions
    calls.clear()
    timing.interleave_until({"a": lambda _: calls.append("a"), "b": lambda _: calls.append("b")}, [("a", "b")],
                            budget=60.0, minimum=4, maximum=4, alternate=True)  # fmt: skip
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]  # each side follows the other as often
    calls.clear()
    timing.interleave({"a": lambda item: calls.append(("a", item)), "b": lambda item: calls.append(("b", item))},
                      [1, 2, 1, 2], reverse_every=2)  # fmt: skip
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("b", 1), ("a", 1), ("b", 2), ("a", 2)]  # passes


class FakeClock:
    """perf_counter for timing.py that only moves when a side 'runs' for a given number of seconds."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def side(self, durations):
        durations = iter(durations)

        def run(_) -> None:
            self.now += next(durations)

        return run


@pytest.mark.parametrize("precision, stops_after", [(0.03, 10.0), (0.02, 30.0)])
def test_interleave_until_keeps_going_past_the_budget_while_an_interval_is_too_wide(monkeypatch, precision,
                                                                                    stops_after):
    # per-repetition ratios 1.0, 1.1, 1.0, ... : median 1.0 or 1.05, 95 % interval 1.0-1.1, i.e. +-4.8-5 %;
    # within twice 3 % it stops at the budget, not within twice 2 %: it goes on to 3 budgets
    clock = FakeClock()
    monkeypatch.setattr(timing, "time", clock)
    a = clock.side(1.0 + 0.1 * (i % 2) for i in range(10_000))
    b = clock.side(1.0 for _ in range(10_000))
    stats = timing.interleave_until({"a": a, "b": b}, [("a", "b")], budget=10.0, precision=precision,
                                    patience=3.0, maximum=10_000)  # fmt: skip
    reached = timing.Ratio.paired(stats["a"], stats["b"]).precision
    assert 0.045 < reached < 0.051  # wider than `precision` in both cases
    elapsed = clock.now
    assert stops_after <= elapsed < stops_after + 2.2  # stopped at the first repetition past the limit


def test_passes_until_repeats_whole_passes_and_pairs_their_totals(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "time", clock)
    calls = []

    def side(name: str, cost: float):
        def run(item: float) -> None:
            calls.append((name, item))
            clock.now += cost * item

        return run

    per_item, totals = timing.passes_until({"a": side("a", 2.0), "b": side("b", 1.0)}, [1.0, 3.0], [("a", "b")],
                                           budget=100.0, minimum=5)  # fmt: skip
    assert calls[:8] == [("a", 1.0), ("b", 1.0), ("a", 3.0), ("b", 3.0),  # pass 1
                         ("b", 1.0), ("a", 1.0), ("b", 3.0), ("a", 3.0)]  # pass 2, sides reversed  # fmt: skip
    assert totals["a"].samples == (8.0,) * 5 and totals["b"].samples == (4.0,) * 5  # steady: 5 passes are enough
    assert per_item["a"].samples == (2.0, 6.0) * 5
    assert timing.Ratio.paired(totals["a"], totals["b"]).value == 2.0


def test_process_and_turn_matches_a_double_loop_analysis_of_variance():
    values = np.random.default_rng(3).normal(size=(4, 6))
    rows, columns = values.shape
    grand = sum(values[i, j] for i in range(rows) for j in range(columns)) / (rows * columns)
    row_means = [sum(values[i, j] for j in range(columns)) / columns for i in range(rows)]
    column_means = [sum(values[i, j] for i in range(rows)) / rows for j in range(columns)]
    ss_row = sum(columns * (row_means[i] - grand) ** 2 for i in range(rows))
    ss_column = sum(rows * (column_means[j] - grand) ** 2 for j in range(columns))
    ss_total = sum((values[i, j] - grand) ** 2 for i in range(rows) for j in range(columns))
    ms_row, ms_column = ss_row / (rows - 1), ss_column / (columns - 1)
    ms_residual = (ss_total - ss_row - ss_column) / ((rows - 1) * (columns - 1))
    parts = timing.process_and_turn(values)
    from scipy.stats import f

    assert parts["residual"] == pytest.approx(ms_residual**0.5)
    assert parts["process"] == pytest.approx(max(ms_row - ms_residual, 0) ** 0.5 / columns**0.5)
    assert parts["turn"] == pytest.approx(max(ms_column - ms_residual, 0) ** 0.5 / rows**0.5)
    assert parts["process_p"] == pytest.approx(f.sf(ms_row / ms_residual, rows - 1, (rows - 1) * (columns - 1)))
    assert parts["turn_p"] == pytest.approx(f.sf(ms_column / ms_residual, columns - 1, (rows - 1) * (columns - 1)))
    with pytest.raises(ValueError):
        timing.process_and_turn(values[:1])


@pytest.mark.parametrize("seed", range(5))
def test_process_and_turn_tells_a_process_effect_from_a_time_effect(seed):
    rng = np.random.default_rng(seed)
    noise = rng.normal(scale=0.02, size=(4, 8))
    process_shift, time_shift = np.array([0.0, 0.1, -0.1, 0.05]), np.linspace(-0.1, 0.1, 8)
    by_process = timing.process_and_turn(noise + process_shift[:, None])
    by_time = timing.process_and_turn(noise + time_shift[None, :])
    assert by_process["process_p"] < 0.01 and by_time["turn_p"] < 0.01
    assert by_process["process"] == pytest.approx(np.std(process_shift, ddof=1), rel=0.3)
    assert by_time["turn"] == pytest.approx(np.std(time_shift, ddof=1), rel=0.3)
    assert by_process["turn"] < by_process["process"] / 3 and by_time["process"] < by_time["turn"] / 3


def test_short_calls_are_repeated_to_fill_a_timing():
    assert timing.calls_for(0.006, 0.3) == 50  # 6 ms: 50 calls make one 0.3 s timing
    assert timing.calls_for(0.11, 0.3) == 3
    assert timing.calls_for(0.5, 0.3) == 1  # already long enough
    assert timing.calls_for(0.0, 0.3) == 1  # an unmeasurably fast call is timed once, not forever


def test_peak_memory_sees_an_allocation_inside_the_block():
    # in a fresh interpreter: inside a long test session the allocator may hand back pages freed earlier,
    # and the block would then need no new resident memory (the class's docstring says so)
    import subprocess

    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import timing\n"
            "with timing.PeakMemory() as peak:\n"
            "    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched\n"
            "    block.sum()\n"
            "print(peak.growth_mb)")  # fmt: skip
    benchmarks = str(Path(__file__).resolve().parents[1] / "benchmarks")
    result = subprocess.run([sys.executable, "-c", code, benchmarks], capture_output=True, text=True, timeout=60)
    assert float(result.stdout.split()[-1]) > 48, result.stderr


def test_run_fresh_reports_the_child_and_names_a_failure():
    run = timing.run_fresh([sys.executable, "-c", "import numpy; numpy.ones(2**24).sum()"])
    assert run.seconds > 0 and run.peak_mb > 100  # 128 MiB array in the child
    ballast = np.ones(2**25)  # 256 MiB here must not count as the child's
    ballast.sum()
    assert timing.run_fresh([sys.executable, "-c", "pass"]).peak_mb < 100
    with pytest.raises(RuntimeError, match="boom"):
        timing.run_fresh([sys.executable, "-c", "raise SystemExit('boom')"])


def test_compare_flags_ratios_that_move_more_than_the_tolerance():
    first = report.Section("fr", "t", "m", ["a"], ratios={"x": 10.0, "y": 1.0, "only": 1.0})
    second = report.Section("fr", "t", "m", ["a"], ratios={"x": 10.9, "y": 1.2})
    lines, agree = report.compare({"a": [first], "b": [second]}, tolerance=0.10)
    assert not agree
    assert any(line.startswith("fr: x") and line.endswith("ok") for line in lines)
    assert any(line.startswith("fr: y") and line.endswith("DIFFERS") for line in lines)
    assert any(line.startswith("fr: only") and line.endswith("not in b") for line in lines)
    assert report.compare({"a": [first], "b": [first]})[1]
    # over three runs the spread is the largest over the smallest: 10.0, 10.9, 11.5 differ by 15 %
    third = report.Section("fr", "t", "m", ["a"], ratios={"x": 11.5, "y": 1.0})
    lines, agree = report.compare({"a": [first], "b": [second], "c": [third]}, tolerance=0.10)
    assert next(line for line in lines if line.startswith("fr: x")).endswith(" 15.0 %  DIFFERS")


def test_compare_tells_an_imprecise_difference_from_a_disjoint_one():
    def section(value: float, low: float, high: float) -> report.Section:
        ratio = timing.Ratio(value, value, value, 5, low, high)
        made = report.Section("length", "t", "m", ["a"])
        made.record("g", ratio)
        return made

    wide = report.compare({"a": [section(1.3, 0.9, 4.1)], "b": [section(1.6, 1.5, 1.9)]})
    apart = report.compare({"a": [section(1.26, 1.25, 1.29)], "b": [section(1.42, 1.34, 1.43)]})
    assert not wide[1] and not apart[1]  # both still count as differing
    assert wide[0][1].endswith("overlapping, not pinned down)") and apart[0][1].endswith("disjoint)")
    # three runs: two of the three intervals overlap, but no value lies in all three: disjoint
    three = report.compare({"a": [section(1.3, 1.2, 1.4)], "b": [section(1.35, 1.3, 1.5)],
                            "c": [section(1.5, 1.45, 1.6)]})  # fmt: skip
    assert three[0][1].endswith("disjoint)")
    restored = report.Section.from_dict(section(1.3, 0.9, 4.1).to_dict())
    assert restored.intervals == {"g": [0.9, 4.1]} and restored.ratios == {"g": 1.3}


def _timed_section(times: dict[str, list[float]], nested: dict[str, dict[str, list[float]]] | None = None):
    made = report.Section("fr", "t", "m", ["a"])
    made.data = {side: timing.Stats.of(values).to_dict() for side, values in times.items()}
    for group, sides in (nested or {}).items():
        made.data[group] = {side: timing.Stats.of(values).to_dict() for side, values in sides.items()}
    return made


def test_side_means_finds_top_level_and_nested_groups_of_timed_sides():
    made = _timed_section({"a": [1.0, 3.0], "b": [2.0]}, {"60 pairs": {"c": [4.0, 6.0]}})
    made.data["note"] = "not timed"
    assert report.side_means(made) == {"fr": {"a": 2.0, "b": 2.0}, "fr (60 pairs)": {"c": 5.0}}


def test_time_changes_tell_a_common_slow_down_from_one_side_moving_alone():
    base = {"a": 1.0, "b": 2.0, "c": 4.0}
    follows = {"a": 0.5, "b": 1.0, "c": 1.5}
    machine = {"r1": 1.0, "r2": 1.2, "r3": 0.9}
    runs = {name: [_timed_section({side: [base[side] * speed ** follows[side]] * 3 for side in base})]
            for name, speed in machine.items()}  # fmt: skip
    lines = report.time_changes(runs)
    assert lines[0] == "fr:"
    assert lines[1] == "  r2 against r1: " + ", ".join(f"{side} {100 * (1.2 ** x - 1):+.1f} %"
                                                        for side, x in follows.items())
    # log times are exact multiples of one machine factor: all of the variance, each side's multiple
    # relative to the sides' mean (textbook least-squares slope of its centred log time on their mean)
    logs = np.log([[base[side] * speed ** follows[side] for side in base] for speed in machine.values()])
    centred = logs - logs.mean(axis=0)
    slopes = [np.polyfit(centred.mean(axis=1), centred[:, k], 1)[0] for k in range(3)]
    assert slopes == pytest.approx([0.5, 1.0, 1.5])
    assert lines[3] == ("  one common slow-down explains 100.0 % of the between-run variance; "
                        "each side follows it by: a 0.50, b 1.00, c 1.50")
    # one side regressing alone in one run is not explained by the machine
    runs["r3"] = [_timed_section({"a": [1.0] * 3, "b": [2.0] * 3, "c": [4.0 * 1.3] * 3})]
    explained = float(report.time_changes(runs)[3].split("explains ")[1].split(" %")[0])
    assert explained < 90.0
    # groups or sides missing from a run are left out; two runs give no variance split
    assert report.time_changes({"r1": runs["r1"], "r2": [_timed_section({"z": [1.0]})]}) == []
    assert len(report.time_changes({"r1": runs["r1"], "r2": runs["r2"]})) == 2


def test_markdown_between_the_markers_is_replaced_and_the_prose_kept(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text(f"intro\n{report.BEGIN} (written by run_all) -->\nold table\n{report.END}\nafter\n")
    report.update_markdown(doc, "new table")
    text = doc.read_text()
    assert "old table" not in text and "new table" in text
    assert text.startswith("intro\n") and text.endswith(f"{report.END}\nafter\n")


def test_section_round_trips_through_json(tmp_path):
    section = report.Section("k", "title", "method", ["a", "b"])
    section.add(1, "x")
    path = report.write_sections(tmp_path / "s.json", [section], {"quick": True})
    header, sections = report.read_sections(path)
    assert header == {"quick": True} and sections == [section]
    with pytest.raises(ValueError):
        section.add(1)


def test_a_negative_overhead_says_why():
    assert report.overhead(timing.Ratio(1.05, 1.03, 1.07, 9, 1.02, 1.08)) == "+5.0 % (95 % +2.0 to +8.0 %)"
    assert "within the 95 % interval" in report.overhead(timing.Ratio(0.99, 0.98, 1.0, 9, 0.97, 1.01))
    assert "unexplained" in report.overhead(timing.Ratio(0.9, 0.89, 0.92, 9, 0.88, 0.95))
    assert report.interval(timing.Ratio(2.5, 2.4, 2.6, 9, 2.25, 2.75)) == "2.5 (95 % 2.25-2.75)"



def test_host_use_is_the_share_of_all_cores_not_spent_by_the_benchmark():
    # /proc/stat deltas: user 300, nice 0, system 100, idle 500, iowait 0, irq 0, softirq 0, steal 100 ticks
    before = [1000, 5, 200, 9000, 10, 0, 3, 50]
    after = [1300, 5, 300, 9500, 10, 0, 3, 150]
    percent = timing.host_use(before, after, own_seconds=2.5, ticks_per_second=100)
    assert percent["steal"] == pytest.approx(100 * 100 / 1000)
    assert percent["others"] == pytest.approx(100 * (400 - 250) / 1000)
    assert timing.host_use(before, after, own_seconds=9.0, ticks_per_second=100)["others"] == 0.0
    assert timing.host_use([], after, 0.0, 100) == {}
    header = {"machine": {"date": "d", "cpu": "c", "cores_usable": 2, "memory_gib": 1, "load_average": [0, 0, 0],
                          "os": "o", "python": "p", "numpy": "n", "torch": "t"},
              "command": "c", "threads": "2", "host": {"fr": percent}}  # fmt: skip
    assert "fr: CPU steal 10.0 %, other processes 15.0 % of all cores" in report.render(header, [])


def test_host_use_does_not_count_the_benchmarks_own_children_as_other_load():
    burn = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
    with timing.HostUse() as host:
        subprocess.run([sys.executable, "-c", burn], check=True)
    if not host.percent:
        pytest.skip("no /proc/stat on this system")
    # the child's 0.6 CPU seconds are about half of 2 cores' time over the block: counted as "others"
    # they would read ~40 %; other processes on an idle test machine take a few percent
    assert 0.0 <= host.percent["steal"] <= 100.0
    assert host.percent["others"] < 20.0


def test_machine_speed_times_both_workloads():
    speed = timing.MachineSpeed(products=4, megabytes=32)
    times = speed.time(repetitions=3)
    assert set(times) == {"compute", "memory"} and all(0 < ms < 10_000 for ms in times.values())
    # one call runs each workload four times (warm-up and three timings), so it must last longer than the
    # two minimums it reports: figures that were not timed (a constant, a unit slip of 1000) fail this
    started = time.perf_counter()
    times = speed.time(repetitions=3)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    assert elapsed_ms > times["compute"] + times["memory"] > elapsed_ms / 40


def test_speed_change_compares_the_median_samples_of_the_same_workloads():
    def state(*samples: tuple[float, float], workloads: str = "w") -> dict:
        return {"use": {"steal": 0.0, "others": 1.0},
                "speed": {"workloads": workloads,
                          "samples": [{"at": 10.0 * i, "compute": c, "memory": m} for i, (c, m) in enumerate(samples)]}}

    first = state((10.0, 20.0), (10.0, 20.0))
    second = state((11.0, 20.0), (12.0, 19.0))
    assert report.speed_change(first, second) == "compute +15.0 %, memory -2.5 %"  # 10 -> 11.5, 20 -> 19.5
    assert report.speed_change(first, state((5.0, 5.0), workloads="smaller")) == "other workloads, not comparable"
    assert report.describe_host(second).endswith("; compute 11.0 -> 12.0 ms, memory 20.0 -> 19.0 ms")
    old = {"steal": 0.5, "others": 2.0}  # a run from before the workloads were timed: the percentages alone
    assert report.speed_change(old, second) == ""
    assert report.describe_host(old) == "CPU steal 0.5 %, other processes 2.0 % of all cores"


def test_speed_around_times_the_workloads_before_and_after_the_block():
    with timing.SpeedAround() as speed:
        time.sleep(0.3)
    record = speed.record()
    assert record["workloads"] == "32 products of 384 x 384 float32 matrices; a sum over 256 MB"
    assert record["samples"][0]["at"] == 0.0 and record["samples"][1]["at"] >= 0.3
    assert all(sample["compute"] > 0 and sample["memory"] > 0 for sample in record["samples"])
