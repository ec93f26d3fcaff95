"""The benchmarks' shared timing and reporting helpers (benchmarks/timing.py, benchmarks/report.py)."""

from __future__ import annotations

import sys
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


def test_ratio_is_the_ratio_of_medians_with_paired_quartiles():
    numerator = timing.Stats.of([2.0, 4.0, 6.0, 8.0, 10.0])
    denominator = timing.Stats.of([1.0, 1.0, 2.0, 2.0, 2.0])
    ratio = timing.Ratio.between(numerator, denominator)
    assert ratio.value == pytest.approx(6.0 / 2.0)
    paired = [2.0, 4.0, 3.0, 4.0, 5.0]
    assert (ratio.q1, ratio.q3) == pytest.approx(tuple(np.percentile(paired, [25, 75])))
    with pytest.raises(ValueError):
        timing.Ratio.between(numerator, timing.Stats.of([1.0]))


def test_short_runs_get_more_repetitions():
    assert timing.repetitions_for(10.0) == timing.MIN_REPETITIONS
    assert timing.repetitions_for(0.1, budget=2.0) == 20
    assert timing.repetitions_for(1e-6) == 50


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
    lines, agree = report.compare([first], [second], tolerance=0.10)
    assert not agree
    assert any(line.startswith("fr: x") and line.endswith("ok") for line in lines)
    assert any(line.startswith("fr: y") and line.endswith("DIFFERS") for line in lines)
    assert any("only in the first run" in line for line in lines)
    assert report.compare([first], [first])[1]


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
    assert report.overhead(timing.Ratio(1.05, 1.02, 1.08, 5)) == "+5.0 % (IQR +2.0 to +8.0 %)"
    assert "within the spread" in report.overhead(timing.Ratio(0.99, 0.97, 1.01, 5))
    assert "unexplained" in report.overhead(timing.Ratio(0.9, 0.88, 0.95, 5))
