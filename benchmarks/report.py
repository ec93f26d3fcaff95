"""Benchmark results as sections: one table each, printed, saved as JSON, rendered as Markdown, compared.

A section's cells are formatted from measurements of the run that made it; `ratios` names every
ratio it measured (stable keys) and `intervals` keeps their 95 % intervals, so that `compare` can
check two runs against each other and say whether a difference lies within the runs' own precision.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

BEGIN = "<!-- BEGIN BENCHMARK RESULTS"
END = "<!-- END BENCHMARK RESULTS -->"


@dataclass
class Section:
    """One benchmark's table, how it was measured, its named ratios and its raw samples."""

    key: str
    title: str
    method: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, list[float]] = field(default_factory=dict)  # each ratio's 95 % interval [low, high]
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # wall time the section took

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(cell) for cell in cells])

    def record(self, name: str, ratio: Any) -> None:
        """Keep `ratio` (a `timing.Ratio`) under `name`: its value and its 95 % interval, for `compare`."""
        self.ratios[name] = ratio.value
        self.intervals[name] = [ratio.low, ratio.high]

    def table(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def markdown(self) -> str:
        parts = [f"### {self.title}", "", self.method]
        if self.columns:
            parts += ["", self.table()]
        if self.notes:
            parts += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Section:
        return cls(**data)


def number(value: float, digits: int = 3) -> str:
    """`value` to `digits` significant digits, without an exponent for everyday magnitudes."""
    if value == 0 or 1e-4 <= abs(value) < 1e6:
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
    return f"{value:.{digits - 1}e}"


def overhead(ratio) -> str:
    """A wrapped/bare `Ratio` as an overhead cell with its 95 % interval; a negative one says why it is negative."""
    cell = f"{100 * (ratio.value - 1):+.1f} % (95 % {100 * (ratio.low - 1):+.1f} to {100 * (ratio.high - 1):+.1f} %)"
    if ratio.value >= 1:
        return cell
    if ratio.high >= 1:
        return cell + ": below zero within the 95 % interval of the paired runs, i.e. no measurable overhead"
    return cell + ": faster than its bare baseline in most runs, unexplained (check that both do the same work)"


def interval(ratio) -> str:
    """A `Ratio` as 'value (95 % low-high)'."""
    return f"{number(ratio.value)} (95 % {number(ratio.low)}-{number(ratio.high)})"


def write_sections(path: Path, sections: list[Section], header: dict[str, Any] | None = None) -> Path:
    """Sections (and a header: machine, threads, options) as one JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**(header or {}), "sections": [s.to_dict() for s in sections]}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return path


def read_sections(path: Path) -> tuple[dict[str, Any], list[Section]]:
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    sections = [Section.from_dict(s) for s in payload.pop("sections")]
    return payload, sections


def render(header: dict[str, Any], sections: list[Section]) -> str:
    """The whole result as Markdown: where and when it was measured, then every section."""
    machine = header["machine"]
    lines = [
        f"Measured {machine['date']} with `{header['command']}` on {machine['cpu']}, "
        f"{machine['cores_usable']} usable cores, {machine['memory_gib']} GiB memory, load average "
        f"{' / '.join(str(v) for v in machine['load_average'])} (1 / 5 / 15 min) at the start; {machine['os']}, "
        f"Python {machine['python']}, numpy {machine['numpy']}, torch {machine['torch']}. "
        f"Threads: {header['threads']}.",
    ]
    if header.get("host"):
        workloads = next((state["speed"]["workloads"] for state in header["host"].values() if "speed" in state), "")
        lines += ["", "The machine while each group ran (use apart from the benchmark, `timing.HostUse`"
                  + (f"; milliseconds of two fixed workloads just before and after it, `timing.SpeedAround`: "
                     f"{workloads}" if workloads else "") + "): "
                  + "; ".join(f"{name}: {describe_host(percent)}" for name, percent in header["host"].items()) + "."]
    if header.get("quick"):
        lines += ["", "**`--quick` run: fewer pairs, clips and lengths; its figures are indicative only.**"]
    for section in sections:
        lines += ["", section.markdown()]
    return "\n".join(lines) + "\n"


def speed_samples(state: dict[str, Any]) -> list[dict[str, float]]:
    """A group's `timing.SpeedAround` samples (none in a run from before it)."""
    return state.get("speed", {}).get("samples", [])


def median_speed(state: dict[str, Any], name: str) -> float:
    """The median time of one of `timing.MachineSpeed`'s workloads over a group's samples, in ms."""
    return float(np.median([sample[name] for sample in speed_samples(state)]))


def describe_host(state: dict[str, Any]) -> str:
    """A group's machine state in words: `timing.host_use`'s percentages (under "use"; a run from
    before the workloads were timed kept them alone) and the workloads' times before -> after."""
    percent = state["use"] if "speed" in state else state
    words = ("use not known (no /proc/stat)" if not percent else
             f"CPU steal {percent['steal']:.1f} %, other processes {percent['others']:.1f} % of all cores")
    samples = speed_samples(state)
    if samples:
        words += "; " + ", ".join(f"{name} {samples[0][name]:.1f} -> {samples[-1][name]:.1f} ms"
                                  for name in ("compute", "memory"))
    return words


def speed_change(first: dict[str, Any], second: dict[str, Any]) -> str:
    """How much slower (+) or faster (-) the second run's machine was than the first's during one
    group: the change of each workload's median time (of before and after); empty if either run lacks them."""
    if not speed_samples(first) or not speed_samples(second):
        return ""
    if first["speed"]["workloads"] != second["speed"]["workloads"]:
        return "other workloads, not comparable"
    return ", ".join(f"{name} {100 * (median_speed(second, name) / median_speed(first, name) - 1):+.1f} %"
                     for name in ("compute", "memory"))


def update_markdown(doc: Path, markdown: str) -> None:
    """Replace what lies between the result markers of `doc` with `markdown` (the prose around them stays)."""
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END)
    first_line_end = text.index("\n", start) + 1
    doc.write_text(text[:first_line_end] + "\n" + markdown + "\n" + text[end:], encoding="utf-8")


def _by_name(sections: list[Section], field_name: str) -> dict[str, Any]:
    """Every entry of each section's `ratios` or `intervals`, named "section: ratio"."""
    return {f"{s.key}: {name}": value for s in sections for name, value in getattr(s, field_name).items()}


def compare(runs: Mapping[str, list[Section]], tolerance: float = 0.10) -> tuple[list[str], bool]:
    """Every ratio of two or more runs (named) side by side; whether all agree within `tolerance`
    (largest / smallest over the runs - 1).

    A ratio that differs gets told apart by its 95 % intervals, where every run kept them: intervals
    with a common part say the runs did not pin the ratio down; otherwise at least two runs measured
    different things (on this machine: the machine's speed, see `time_changes`). Either way it counts as
    differing. A ratio missing from some runs is listed, and does not count."""
    values = {name: _by_name(sections, "ratios") for name, sections in runs.items()}
    spans = {name: _by_name(sections, "intervals") for name, sections in runs.items()}
    keys = sorted(set().union(*values.values()))
    width = max((len(key) for key in keys), default=10)
    lines = [f"{'ratio':{width}s}  " + "  ".join(f"{name:>9s}" for name in runs) + "  largest / smallest"]
    agree = True
    for key in keys:
        missing = [name for name in runs if key not in values[name]]
        if missing:
            lines.append(f"{key:{width}s}  not in {', '.join(missing)}")
            continue
        measured = [values[name][key] for name in runs]
        low, high = min(abs(x) for x in measured), max(abs(x) for x in measured)
        difference = high / low - 1 if low > 0 else (0.0 if high == 0 else float("inf"))
        ok = difference <= tolerance and len({x >= 0 for x in measured}) == 1
        agree &= ok
        verdict = "ok" if ok else "DIFFERS"
        if not ok and all(key in spans[name] for name in runs):
            intervals = [spans[name][key] for name in runs]
            common = max(lo for lo, _ in intervals) <= min(hi for _, hi in intervals)
            verdict += (" (95 % " + " and ".join(f"{number(lo)}-{number(hi)}" for lo, hi in intervals) + ": "
                        + ("overlapping, not pinned down" if common else "disjoint") + ")")
        lines.append(f"{key:{width}s}  " + "  ".join(f"{number(x, 4):>9s}" for x in measured)
                     + f"  {100 * difference:6.1f} %  {verdict}")
    return lines, agree


def side_means(section: Section) -> dict[str, dict[str, float]]:
    """The mean of every timed side's samples in `section.data`, by group: the section's own sides
    (stats at its top level), and each nested group of sides ("fr (60 pairs)", "extract (mert-base)")."""
    def means(data: Mapping[str, Any]) -> dict[str, float]:
        return {side: float(np.mean(value["samples"])) for side, value in data.items()
                if isinstance(value, dict) and value.get("samples")}

    groups = {section.key: means(section.data)}
    for name, value in section.data.items():
        if isinstance(value, dict) and "samples" not in value:
            groups[f"{section.key} ({name})"] = means(value)
    return {group: sides for group, sides in groups.items() if sides}


def time_changes(runs: Mapping[str, list[Section]]) -> list[str]:
    """How much slower (+) or faster (-) each side ran in every run than in the first, group by group.

    Between runs on a virtual machine every side of a group can slow down together (the machine), by
    amounts that differ between sides; a regression in one side shows as that side alone moving. With
    three or more runs and sides, it also says how much of the between-run variance of the sides' log
    times one common slow-down explains (each side's log time, centred over the runs, fitted as a
    multiple of the sides' mean), and each side's multiple: how strongly it follows the machine."""
    first, *others = runs
    tables = {name: {group: sides for section in sections for group, sides in side_means(section).items()}
              for name, sections in runs.items()}
    lines = []
    for group, sides in tables[first].items():
        if not all(group in tables[name] for name in others):
            continue
        common = [side for side in sides if all(side in tables[name][group] for name in others)]
        if not common:
            continue
        lines.append(f"{group}:")
        for name in others:
            changes = ", ".join(f"{side} {100 * (tables[name][group][side] / sides[side] - 1):+.1f} %"
                                for side in common)
            lines.append(f"  {name} against {first}: {changes}")
        if len(runs) >= 3 and len(common) >= 3:
            logs = np.log([[tables[name][group][side] for side in common] for name in runs])
            centred = logs - logs.mean(axis=0)
            machine = centred.mean(axis=1)
            if not np.any(machine):
                continue
            follows = centred.T @ machine / float(machine @ machine)
            explained = 1 - float(((centred - np.outer(machine, follows)) ** 2).sum()) / float((centred**2).sum())
            lines.append(f"  one common slow-down explains {100 * explained:.1f} % of the between-run variance; "
                         "each side follows it by: " + ", ".join(f"{side} {x:.2f}" for side, x in zip(common, follows)))
    return lines


def add_output_arguments(parser) -> None:
    """The options every benchmark script shares: its thread count and where its sections go."""
    parser.add_argument("--threads", type=int, default=2, help="threads of every pool (torch, BLAS, OpenMP)")
    parser.add_argument("--json", type=Path, help="write the sections to this JSON file (run_all.py reads it)")


def emit(sections: list[Section], json_path: Path | None, header: dict[str, Any] | None = None) -> None:
    """Print every section as Markdown and, with a path, save them."""
    for section in sections:
        print("\n" + section.markdown(), flush=True)
    if json_path is not None:
        write_sections(json_path, sections, header)
