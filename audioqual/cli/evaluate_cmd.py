"""Correlate predictions with listening-test scores: PCC, SRCC, Kendall tau and MSE.

Reads a listening-test manifest (columns test, condition, mean; optional
reference, signal, subset/dataset) and one or more prediction CSVs, joined
by the `test` path. Statistics are computed per stimulus and per system
(predictions and scores averaged per condition first), per subset and
overall, with bootstrap confidence intervals, and every pair of predictors
is compared with a paired two-sided t-test (Williams' test for PCC/SRCC,
paired t-test on squared errors for MSE). Writes Markdown/CSV/JSON tables
and scatter plots into the output folder; `audioqual report` turns that
folder into one HTML page.

Prediction specs: [NAME=]PATH[:COLUMN], e.g. `visqol=out/visqol.csv:visqol`.
Without COLUMN the first numeric column that is not a key or a
listening-test column is used; without NAME the column name is.

example:
  audioqual evaluate --manifest ../shared/data/dev_listening/manifest.csv \\
      --predictions visqol=visqol.csv haaqi=haaqi.csv -o runs/dev
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audioqual.errors import AudioqualError
from audioqual.eval.correlation import STATISTICS
from audioqual.eval.harness import EvaluationConfig, evaluate, read_listening_test, read_predictions
from audioqual.eval.outputs import write_run
from audioqual.eval.tables import overall_table, to_markdown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `audioqual evaluate`."""
    parser.add_argument("--manifest", required=True, type=Path, help="listening-test manifest CSV")
    parser.add_argument("--predictions", required=True, nargs="+", metavar="SPEC",
                        help="prediction CSVs as [NAME=]PATH[:COLUMN]")
    parser.add_argument("-o", "--output", required=True, type=Path, help="folder for tables, plots, results.json")
    parser.add_argument("--score-column", default="mean", help="subjective score column (default: mean)")
    parser.add_argument("--system-column", default="condition", help="system column (default: condition)")
    parser.add_argument("--subset-column", default=None,
                        help="column splitting the results into subsets (default: subset or dataset if present)")
    parser.add_argument("--statistics", nargs="+", default=list(STATISTICS), choices=list(STATISTICS))
    parser.add_argument("--mapping", choices=("none", "cubic"), default="none",
                        help="cubic least-squares mapping of predictions before PCC and MSE (default: none)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs (0: none)")
    parser.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the paired tests")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG scatter plots")


def parse_prediction_spec(spec: str) -> tuple[str | None, Path, str | None]:
    """Split `[NAME=]PATH[:COLUMN]` into its parts (an existing file path is never split)."""
    name = None
    if not Path(spec).exists() and "=" in spec:
        head, tail = spec.split("=", 1)
        if head and "/" not in head and "\\" not in head:
            name, spec = head, tail
    column = None
    if not Path(spec).exists() and ":" in spec:
        head, tail = spec.rsplit(":", 1)
        if tail and (Path(head).exists() or head.lower().endswith(".csv")):
            spec, column = head, tail
    if not spec:
        raise AudioqualError(f"empty prediction path in {spec!r}")
    return name, Path(spec), column


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the run folder, print the overall table."""
    if args.output.exists() and not args.output.is_dir():
        raise AudioqualError(f"{args.output}: -o must be a folder (for tables, plots and results.json), "
                             "and a file of that name exists")
    config = EvaluationConfig(
        statistics=tuple(args.statistics), mapping=args.mapping, n_bootstrap=args.bootstrap,
        confidence=args.confidence, seed=args.seed, alpha=args.alpha,
    )
    test = read_listening_test(args.manifest, args.score_column, args.system_column, args.subset_column)
    predictions = []
    for spec in args.predictions:
        name, path, column = parse_prediction_spec(spec)
        predictions.append(read_predictions(path, test, name=name, column=column))
    evaluation = evaluate(test, predictions, config)
    results = write_run(evaluation, args.output, plots=not args.no_plots)
    for name, coverage in evaluation.coverage.items():
        print(f"{name}: {coverage['stimuli_scored']}/{coverage['stimuli_total']} stimuli scored "
              f"({coverage['failed']} failed, {coverage['unmatched']} unmatched rows in {coverage['source']})")
    print(to_markdown(overall_table(evaluation)))
    print(f"wrote {results}")
    return 0
