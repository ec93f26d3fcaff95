"""`audioqual train fusion`: measure a listening test's pairs, fit the NSIM fusion, save it, print the fit."""

from __future__ import annotations

import argparse
import json
import sys

from audioqual.models.fusion import train_from_listening_test


def run(args: argparse.Namespace) -> int:
    model, report = train_from_listening_test(args.manifest, args.output, args.score_column, args.group_column)
    chosen = report["chosen"]
    print(json.dumps({"output": args.output, "features": model.features, "weights": model.weights,
                      "offset": model.offset, "shrinkage": chosen["shrinkage"],
                      "cross_validated_stimulus_srcc": chosen["stimulus_srcc"],
                      "cross_validated_within_srcc": chosen["within_srcc"]}))  # fmt: skip
    print(f"wrote {args.output}/fusion.json", file=sys.stderr)
    return 0
