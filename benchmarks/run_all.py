"""The headline benchmark: every table of docs/performance.md in one command, repeated and interleaved.

  python benchmarks/run_all.py [--out runs/bench] [--quick] [--threads 2] [--sections fr nr ...]
  python benchmarks/run_all.py --markdown docs/performance.md      # run, then write the tables into the doc
  python benchmarks/run_all.py --render runs/bench/results.json --markdown docs/performance.md
  python benchmarks/run_all.py --compare runs/a/results.json runs/b/results.json [runs/c/results.json ...]

Each benchmark script runs in its own process (its imports, thread pools and memory its own), with
the sizes of a full run or of --quick, and writes its sections; they are collected into
OUT/results.json and OUT/results.md: the machine, the date, the thread counts, then one table per
benchmark with how it was measured. The full run takes about 50 minutes on 2 idle cores; --quick
(under 2 minutes) uses a few pairs, clips and lengths, and its figures are indicative only.
--compare prints every ratio of two or more runs side by side and exits 0 only if all agree within
10 % (the check of issue 21: two full runs on the same idle machine; more runs show how far each
ratio moves between runs), then every side's mean time against the first run's, group by group (the
machine slows every side together, each by its own amount; a regression moves one side alone), then
the machine's state during each group in every run: CPU steal, other processes, and the times of two
fixed workloads just before and after it, which show whether the machine was steady (on this virtual
machine they moved by a third within an hour with no CPU steal).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import (Section, compare, describe_host, read_sections, render, speed_change, time_changes,  # noqa: E402
                    update_markdown, write_sections)
from timing import HostUse, SpeedAround, fix_process, machine  # noqa: E402

# section group -> (script, arguments of a full run, arguments of --quick)
PLAN = {
    "fr": ("bench_fr_models.py", ["--pairs", "60", "--passes", "3", "--slow-pairs", "6"],
           ["--pairs", "3", "--passes", "1", "--slow-pairs", "0"]),
    "nr": ("bench_nr.py", ["--clips", "50"], ["--clips", "1", "--budget", "2"]),
    "deepaq": ("bench_default_model.py", ["--references", "2"],
               ["--references", "1", "--per-reference", "2", "--budget", "2"]),
    "extract": ("bench_extract.py", [], ["--backbones", "resemblyzer", "musicnn", "--budget", "2"]),
    "startup": ("bench_startup.py", [], ["--help-of", "compare", "--jobs", "compare (default model)",
                                         "score (default no-reference model)"]),
    "scaling": ("bench_scaling.py", [], ["--lengths", "1", "10", "--metrics", "default", "--corpus", "4",
                                         "8", "--budget", "2"]),
}
QUICK_WARNING = "--quick: few pairs, clips and lengths; these figures are indicative only"


def run_group(name: str, threads: int, quick: bool, out: Path) -> tuple[list[Section], dict[str, Any]]:
    """One benchmark script in a fresh process: its sections (or a section without a table saying how it
    failed) and the machine's state meanwhile: how busy it was apart from the script (`HostUse`) and the
    times of two fixed workloads just before and after (`SpeedAround`)."""
    script, full, short = PLAN[name]
    json_path = out / f"{name}.json"
    json_path.unlink(missing_ok=True)
    command = [sys.executable, str(HERE / script), *(short if quick else full), "--threads", str(threads),
               "--json", str(json_path)]  # fmt: skip
    print(f"\n=== {name}: {shlex.join(command[1:])}", flush=True)
    started = time.perf_counter()
    with SpeedAround() as speed, HostUse() as host:
        done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    seconds = time.perf_counter() - started
    state = {"use": host.percent, "speed": speed.record()}
    print(f"=== {name}: {seconds:.0f} s; {describe_host(state)}", flush=True)
    if done.returncode != 0 or not json_path.is_file():
        failed = Section(name, f"{script} failed", f"`{shlex.join(command[1:])}` exited with {done.returncode}.", [])
        failed.seconds = seconds
        return [failed], state
    return read_sections(json_path)[1], state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"), help="folder for results.json and results.md")
    parser.add_argument("--quick", action="store_true", help="a smoke run under 2 minutes; indicative figures only")
    parser.add_argument("--threads", type=int, default=2, help="threads of every pool in every benchmark")
    parser.add_argument("--sections", nargs="+", choices=list(PLAN), default=list(PLAN), help="run only these")
    parser.add_argument("--markdown", type=Path, help="also write the tables between the result markers of this file")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON", help="render this earlier run instead of running")
    parser.add_argument("--compare", type=Path, nargs="+", metavar="RESULTS_JSON",
                        help="compare the ratios of two or more runs (each named by its folder)")
    parser.add_argument("--tolerance", type=float, default=0.10, help="--compare: largest relative difference")
    args = parser.parse_args()

    if args.compare:
        if len(args.compare) < 2:
            parser.error("--compare needs the results.json of two or more runs")
        names = [path.parent.name for path in args.compare]
        names = names if len(set(names)) == len(names) else [str(path) for path in args.compare]
        runs = {name: read_sections(path) for name, path in zip(names, args.compare)}
        lines, agree = compare({name: sections for name, (_, sections) in runs.items()}, args.tolerance)
        print("\n".join(lines))
        print(f"\nevery side's mean time against {names[0]}'s (the same work):")
        print("\n".join(time_changes({name: sections for name, (_, sections) in runs.items()})))
        hosts = {name: header.get("host", {}) for name, (header, _) in runs.items()}
        first, *others = hosts
        for group in [group for group in hosts[first] if all(group in hosts[name] for name in others)]:
            print(f"\nmachine during {group}:")
            for name in hosts:
                change = speed_change(hosts[first][group], hosts[name][group]) if name != first else ""
                against = f"; against {first}: {change}" if change else ""
                print(f"  {name}: {describe_host(hosts[name][group])}{against}")
        verdict = "all ratios agree within" if agree else "some ratios differ by more than"
        print(f"\n{verdict} {100 * args.tolerance:g} %")
        return 0 if agree else 1
    if args.render:
        header, sections = read_sections(args.render)
    else:
        header, sections = measure(args)
    markdown = render(header, sections)
    if args.markdown:
        update_markdown(args.markdown, markdown)
        print(f"wrote the tables into {args.markdown}")
    return 1 if any(not section.columns for section in sections) else 0


def measure(args: argparse.Namespace) -> tuple[dict, list[Section]]:
    """Run the chosen benchmark groups; save and print what they measured."""
    threads = fix_process(args.threads)
    header = {"machine": machine(), "threads": threads, "quick": args.quick,
              "command": shlex.join(["python", "benchmarks/run_all.py", *sys.argv[1:]])}  # fmt: skip
    if args.quick:
        print(QUICK_WARNING, flush=True)
    print(f"{threads}\nmachine: {header['machine']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sections, header["host"] = [], {}
    for name in args.sections:
        group, header["host"][name] = run_group(name, args.threads, args.quick, args.out)
        sections += group
    header["seconds"] = time.perf_counter() - started
    write_sections(args.out / "results.json", sections, header)
    markdown = render(header, sections)
    (args.out / "results.md").write_text(markdown, encoding="utf-8")
    print("\n" + markdown)
    print("time per section: " + ", ".join(f"{s.key} {s.seconds:.0f} s" for s in sections)
          + f"; total {header['seconds']:.0f} s")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    if args.quick:
        print(QUICK_WARNING)
    return header, sections


if __name__ == "__main__":
    sys.exit(main())
