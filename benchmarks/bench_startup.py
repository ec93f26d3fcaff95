"""Start-up of each command in a fresh process: wall time and that process's own peak memory.

  python benchmarks/bench_startup.py [--repetitions 5] [--jobs NAME ...] [--threads 2] [--json OUT]

Every command runs as `python -m audioqual.cli.main ...` in a new process with the thread
variables of --threads, HF_HUB_OFFLINE=1 and its own empty output folder and feature cache, so no
run reuses another's results. Two groups: `--help` of the command line and of every command
(what it costs to see the options); and one small real job per scoring command on one GenSVS
pair of 5 s (imports, model loading and the job): compare with the default model and with
default-v1, metric visqol, score with the default no-reference model (not available where none
ships) and extract with musicnn. Within a group the commands run interleaved (A, B, C, A, B, C
...) after one warm-up round (discarded: it fills the OS file cache and numba's compilation
cache). Per command: median and minimum wall seconds, IQR relative to the median, and the
largest peak resident memory of its runs (read from the operating system for that process).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devdata import ROOT, gensvs_pairs  # noqa: E402
from report import Section, add_output_arguments, emit, number  # noqa: E402
from timing import MIN_REPETITIONS, FreshRun, fix_process, interleave, run_fresh  # noqa: E402

COLUMNS = ["command", "runs", "wall s: median", "min", "IQR", "peak memory MB"]


def jobs(reference: str, test: str, manifest: Path) -> dict[str, list[str]]:
    """Command lines of the small real jobs; OUT stands for the run's own empty folder."""
    return {
        "compare (default model)": ["compare", "--ref", reference, test],
        "compare --model default-v1": ["compare", "--model", "default-v1", "--ref", reference, test],
        "metric visqol": ["metric", "visqol", "--manifest", str(manifest), "-o", "OUT/visqol.csv"],
        "score (default no-reference model)": ["score", test, "-o", "OUT/score.jsonl", "--quiet"],
        "extract --backbone musicnn": ["extract", test, "--backbone", "musicnn", "--cache", "OUT/cache"],
    }


def help_commands(names: list[str] | None) -> dict[str, list[str]]:
    """`audioqual --help` and `audioqual NAME --help` for the named commands (None: every command)."""
    from audioqual.cli.main import COMMANDS

    return {"--help": ["--help"], **{f"{name} --help": [name, "--help"] for name in COMMANDS
                                     if names is None or name in names}}  # fmt: skip


def fresh_sides(commands: dict[str, list[str]], folder: Path, peaks: dict[str, list[float]]) -> dict:
    """One interleave side per command: a new process with its own output folder and cache."""
    def side(label: str, arguments: list[str]):
        def run(_) -> FreshRun:
            out = Path(tempfile.mkdtemp(dir=folder))
            env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "AUDIOQUAL_CACHE": str(out / "cache")}
            result = run_fresh([sys.executable, "-m", "audioqual.cli.main",
                                *[a.replace("OUT", str(out)) for a in arguments]], env)  # fmt: skip
            peaks.setdefault(label, []).append(result.peak_mb)
            return result

        return run

    return {label: side(label, arguments) for label, arguments in commands.items()}


def startup_section(repetitions: int, job_names: list[str] | None = None, help_of: list[str] | None = None
                    ) -> Section:
    started = time.perf_counter()
    section = Section("startup", "Start-up of each command in a fresh process",
                      __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(), COLUMNS)  # fmt: skip
    pairs, source = gensvs_pairs(1)
    section.notes.append(f"The real jobs score one pair of {source}.")
    with tempfile.TemporaryDirectory(prefix="audioqual-bench-") as tmp:
        folder = Path(tmp)
        manifest = folder / "pair.csv"
        with open(manifest, "w", newline="") as handle:
            csv.writer(handle).writerows([["test", "reference"], [pairs[0].test, pairs[0].reference]])
        real = jobs(pairs[0].reference, pairs[0].test, manifest)
        real = {label: arguments for label, arguments in real.items() if job_names is None or label in job_names}
        for commands in (help_commands(help_of), real):
            peaks: dict[str, list[float]] = {}
            sides = fresh_sides(commands, folder, peaks)
            for label, run in list(sides.items()):
                try:
                    run(None)  # warm-up round
                except RuntimeError as err:
                    section.add(label, 0, "not available", "", "", str(err).rsplit(" exited with ", 1)[-1][-160:])
                    del sides[label]
            peaks.clear()
            for label, stats in interleave(sides, [None] * repetitions).items():
                section.add(label, stats.n, number(stats.median), number(stats.minimum), f"{100 * stats.spread:.0f} %",
                            f"{max(peaks[label]):.0f}")  # fmt: skip
                section.data[label] = {**stats.to_dict(), "peak_mb": peaks[label]}
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=MIN_REPETITIONS, help="timed runs of each real job")
    parser.add_argument("--jobs", nargs="+", help="only these real jobs (their labels in the table)")
    parser.add_argument("--help-of", nargs="+", help="only these commands' --help (default: every command)")
    add_output_arguments(parser)
    args = parser.parse_args()
    print(fix_process(args.threads), flush=True)
    emit([startup_section(args.repetitions, args.jobs, args.help_of)], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
