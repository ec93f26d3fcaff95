"""The shipped DeePAQ model (default-v1): scoring against its bare forward passes, and what its reference cache saves.

  python benchmarks/bench_default_model.py [--references 2] [--budget 90] [--threads 2] [--json OUT]

Pairs: GenSVS pairs grouped by reference (each target is the reference of 5 tests), the first
--references groups (--per-reference pairs of each), files on disk. One repetition is one pass over
those pairs; after one warm-up pass, three sides run interleaved pass by pass (A, B, C, A, B, C
...), at least 5 passes and more until both ratios are known to +-4 % (95 %) or --budget seconds
have gone by (up to 3 budgets while one is known to worse than +-8 %):
bare forwards: the model's forward on the reference and on the test, decoded, downmixed,
resampled and trimmed beforehand as the scorer does it (two forwards per pair);
scoring: `DeePAQScorer.compare_files` with its reference cache off (decode, downmix, resample,
align, the same two forwards, distance, mapping);
scoring with the reference cache: the same with the scorer's default cache, as `audioqual
compare` runs, emptied before each pass (one forward per pair once its reference is cached).
Overhead = scoring / bare forwards: the same two forwards per pair. What the cache saves is its
own line (cached / uncached scoring): less work by design, not a negative overhead. Ratios are
the medians of the per-pass ratios, with their 95 % intervals.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devdata import gensvs_pairs  # noqa: E402
from report import Section, add_output_arguments, emit, interval, number, overhead  # noqa: E402
from timing import Ratio, fix_process, interleave_until  # noqa: E402

COLUMNS = ["side", "pairs per pass", "passes", "s per pair: median", "min", "IQR", "against", "ratio (95 %)"]


def grouped_by_reference(references: int, per_reference: int) -> tuple[list, str]:
    """GenSVS pairs of the first `references` references (up to `per_reference` each), each reference's together."""
    pairs, source = gensvs_pairs(60)
    groups: dict[str, list] = {}
    for pair in pairs:
        groups.setdefault(pair.reference, []).append(pair)
    chosen = [pair for group in list(groups.values())[:references] for pair in group[:per_reference]]
    return chosen, f"{len(chosen)} pairs sharing {references} reference{'s' if references != 1 else ''}, {source}"


def deepaq_section(references: int, per_reference: int, budget: float) -> Section:
    import torch

    from audioqual.deepaq.scorer import DeePAQScorer
    from audioqual.models.registry import load_fr_scorer

    started = time.perf_counter()
    pairs, source = grouped_by_reference(references, per_reference)
    model = load_fr_scorer("default-v1", device="cpu").model
    uncached = DeePAQScorer(model, device="cpu", reference_cache_size=0)
    inputs = []
    for pair in pairs:
        reference, test, _ = uncached.align(uncached.load(pair.reference), uncached.load(pair.test))
        inputs.append([torch.from_numpy(reference.astype("float32"))[None], torch.from_numpy(test.astype("float32"))[None]])

    @torch.inference_mode()
    def bare(_) -> None:
        for reference, test in inputs:
            model(reference), model(test)

    def scoring(_) -> None:
        for pair in pairs:
            uncached.compare_files(pair.reference, pair.test)

    def cached(_) -> None:
        scorer = DeePAQScorer(model, device="cpu")  # a fresh, empty reference cache each pass
        for pair in pairs:
            scorer.compare_files(pair.reference, pair.test)

    stats = interleave_until({"bare": bare, "scoring": scoring, "cached": cached},
                             [("scoring", "bare"), ("cached", "scoring")], budget=budget, warmup=1)  # fmt: skip
    per_pair = {key: value.per([len(pairs)] * value.n) for key, value in stats.items()}
    scoring_overhead = Ratio.paired(per_pair["scoring"], per_pair["bare"])
    cache_saving = Ratio.paired(per_pair["cached"], per_pair["scoring"])
    section = Section("deepaq", f"default-v1 (DeePAQ): scoring against its bare forwards ({source})",
                      __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(), COLUMNS)  # fmt: skip
    rows = {
        "bare": ("bare forwards (2 per pair)", "", ""),
        "scoring": ("scoring, reference cache off", "bare forwards", f"overhead {overhead(scoring_overhead)}"),
        "cached": ("scoring with the reference cache", "scoring, cache off",
                   f"{interval(cache_saving)}: the cache's saving, less work by design"),
    }
    for key, (label, against, ratio) in rows.items():
        value = per_pair[key]
        section.add(label, len(pairs), value.n, number(value.median), number(value.minimum),
                    f"{100 * value.spread:.0f} %", against, ratio)  # fmt: skip
    section.record("scoring / bare forwards", scoring_overhead)
    section.record("cached scoring / scoring", cache_saving)
    section.data = {key: value.to_dict() for key, value in per_pair.items()}
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--references", type=int, default=2, help="reference groups of 5 GenSVS pairs each")
    parser.add_argument("--per-reference", type=int, default=5, help="pairs of each reference (GenSVS has 5)")
    parser.add_argument("--budget", type=float, default=90.0,
                        help="no pass is added after this many seconds of timing (at least 5 passes); with 40 s, "
                             "a run through a slow spell stopped at 6 passes, its overhead +70 %% (95 %% -12 to +166 %%)")
    add_output_arguments(parser)
    args = parser.parse_args()
    print(fix_process(args.threads), flush=True)
    emit([deepaq_section(args.references, args.per_reference, args.budget)], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
