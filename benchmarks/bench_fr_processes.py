"""Is a ratio against ViSQOL a property of the process or of the time? A diagnostic, not part of run_all.

  python benchmarks/bench_fr_processes.py [--workers 4] [--turns 8] [--pairs-per-turn 6]
                                          [--sides default-v1 peaq] [--threads 2] [--json OUT]

Two full runs put default-v1 25 % apart against ViSQOL while each pinned it within a few percent,
and five fresh processes back to back differed by 10 % with each one's two passes close: either each
process draws its own relative speed (then splitting a group over processes would average the
draws) or the machine's state moves over minutes (then nothing inside a run can). Here --workers
fresh processes, each with ViSQOL and the chosen sides built and warmed up, take turns on the same
GenSVS pairs: turn t, every worker in turn times the same --pairs-per-turn pairs (sides interleaved,
their order reversed half way), so that time and pairs hit all workers alike. A two-way analysis of
variance of the log ratios (`timing.process_and_turn`) then splits the ratio's variation into what
belongs to the process, to the turn (the time and the turn's pairs) and the rest.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fr_models import BASELINE, SIDES  # noqa: E402
from report import Section, add_output_arguments, emit, number  # noqa: E402
from timing import fix_process, interleave, process_and_turn  # noqa: E402

COLUMNS = ["side", "x faster than ViSQOL (all turns)", "per worker", "SD: process", "turn", "residual",
           "p: process", "turn"]  # fmt: skip


def worker(connection, sides: list[str], threads: int, pairs_per_turn: int) -> None:
    """Build the sides, then time one turn whenever the parent says so; send each side's total seconds."""
    fix_process(threads)
    from bench_fr_models import build
    from devdata import decoded, gensvs_pairs

    pairs, _ = gensvs_pairs(60)
    audio = {path: decoded(path) for pair in pairs for path in (pair.reference, pair.test)}
    scorers, _, unavailable = build({key: SIDES[key] for key in [BASELINE, *sides]}, audio, pairs[0])
    connection.send(unavailable)
    chunks = len(pairs) // pairs_per_turn
    turn = 0
    while connection.recv() == "turn":
        chosen = pairs[pairs_per_turn * (turn % chunks): pairs_per_turn * (turn % chunks + 1)]
        stats = interleave(scorers, chosen, reverse_every=max(1, pairs_per_turn // 2))
        connection.send({key: sum(value.samples) for key, value in stats.items()})
        turn += 1


def measure(workers: int, turns: int, pairs_per_turn: int, sides: list[str], threads: int) -> Section:
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as run_all's groups are
    connections, processes = [], []
    for _ in range(workers):
        parent, child = context.Pipe()
        process = context.Process(target=worker, args=(child, sides, threads, pairs_per_turn), daemon=True)
        process.start()
        connections.append(parent)
        processes.append(process)
    unavailable = {key: reason for connection in connections for key, reason in connection.recv().items()}
    if unavailable:
        raise SystemExit(f"not available: {unavailable}")  # the workers are daemons: they end with this process
    totals = [[{} for _ in range(turns)] for _ in range(workers)]
    for turn in range(turns):
        for index, connection in enumerate(connections):
            connection.send("turn")
            totals[index][turn] = connection.recv()
            ratios = ", ".join(f"{key} {totals[index][turn][BASELINE] / totals[index][turn][key]:.3f}" for key in sides)
            print(f"turn {turn} worker {index}: x faster than ViSQOL: {ratios}", flush=True)
    for connection, process in zip(connections, processes):
        connection.send("stop")
        process.join()
    section = Section("fr-processes", f"Process or time: {workers} workers taking {turns} turns of "
                      f"{pairs_per_turn} GenSVS pairs", __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(),
                      COLUMNS)  # fmt: skip
    for key in sides:
        logs = np.log([[turn[BASELINE] / turn[key] for turn in row] for row in totals])
        parts = process_and_turn(logs)
        every_turn = [turn for row in totals for turn in row]
        overall = sum(turn[BASELINE] for turn in every_turn) / sum(turn[key] for turn in every_turn)
        per_worker = ", ".join(number(math.exp(value)) for value in logs.mean(axis=1))
        section.add(key, number(overall), per_worker, *(f"{100 * parts[name]:.1f} %" for name in
                    ("process", "turn", "residual")), f"{parts['process_p']:.2g}", f"{parts['turn_p']:.2g}")
        section.data[key] = {"log_ratios": logs.tolist(), **parts}
    section.notes.append("SD: standard deviation of the log ratio (about the relative spread) of one worker's mean, "
                         "one turn's mean and one worker's turn; p: F-test of that effect.")
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4, help="fresh processes taking turns")
    parser.add_argument("--turns", type=int, default=8, help="turns of every worker")
    parser.add_argument("--pairs-per-turn", type=int, default=6, help="GenSVS pairs each worker times per turn")
    parser.add_argument("--sides", nargs="+", default=["default-v1", "peaq"],
                        choices=[key for key in SIDES if key != BASELINE], help="sides timed against ViSQOL")
    add_output_arguments(parser)
    args = parser.parse_args()
    emit([measure(args.workers, args.turns, args.pairs_per_turn, args.sides, args.threads)], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
