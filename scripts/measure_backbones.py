"""Dev-set agreement of every pretrained encoder's raw reference-test distance, layer by layer.

For each encoder and each dev listening test this runs the product path only:

  audioqual metric embedding-distance --option backbone=NAME --manifest M -o scores.csv
  audioqual evaluate --manifest M --predictions layer_0=scores.csv:layer_0 ... \
      -o eval_dir --statistics SRCC --bootstrap 200 --no-plots

first with mode=pooled (cosine, every layer) for every encoder and set, then, for the layer with the best
stimulus-level SRCC on that dev set, with mode=frames. The distance is
lower-is-better, so `evaluate` reports negative correlations for a good
predictor; the summary flips the sign (SRCC of -distance; the interval is
flipped too) so that higher is better everywhere in docs/backbones.md.

Dev sets:
  gensvs   /work/shared/data/dev_listening/manifest.csv           60 pairs, singing-voice separation
  tcdvoip  /work/shared/data/dev_listening_tcdvoip/manifest.csv   192 pairs, VoIP speech impairments
  tcdvoip48  a fixed subset of tcdvoip: data rows whose index is 0 or 1 modulo 8 (rows 0, 1, 8, 9,
             ..., 184, 185; 48 pairs: every 4th condition, each with both talkers, so all 10 signals
             = 5 impairment types x 2 talkers keep 3 to 6 stimuli), written with absolute paths to
             OUT/manifests/tcdvoip48.csv. Used for the slow encoders (cdpam, torchcrepe:full).

Every step is resumable: the metric journal skips scored pairs, and an evaluation
whose results.json is newer than its scores is not redone. Rerun the same command after an
interruption. Outputs:

  OUT/scores/<encoder>/<set>_<mode>.csv   per-pair distances (layer_0 .. layer_{L-1})
  OUT/eval/<encoder>/<set>_<mode>/        evaluate's tables and results.json
  OUT/eval/<encoder>/tcdvoip48_pooled/    encoders scored on all of TCD-VoIP, evaluated on the subset
                                          rows too (same scores), for comparison with the slow encoders
  OUT/summary.csv, OUT/summary.md         SRCC of -distance per layer, stimulus and within level

  OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/measure_backbones.py            # everything, fast first
  python scripts/measure_backbones.py --encoders musicnn dnsmos --sets gensvs   # a part
  python scripts/measure_backbones.py --summary-only                            # tables from what exists

Wall time observed on a loaded, shared 2-core machine (one thread per process, 2-3 processes):
GenSVS pooled 0.5-1.5 min per fast encoder, ~5 min for torchcrepe tiny; TCD-VoIP pooled 1-2 min
(resemblyzer, musicnn), 4-8 min (basic-pitch, distillmos), 18 min (dnsmos), and torchcrepe tiny
~7 min on the 48-row subset (~30 min expected for all 192 rows); frames mode about the same again. cdpam (~3 s per audio-second) needs
~30 min for GenSVS and ~40 min for the subset; torchcrepe:full two to three times that.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AUDIOQUAL_DEV_DATA", "/work/shared/data"))
SETS = {
    "gensvs": DATA / "dev_listening" / "manifest.csv",
    "tcdvoip": DATA / "dev_listening_tcdvoip" / "manifest.csv",
}
SUBSET_ROWS = (8, {0, 1})  # tcdvoip48: rows i with i % 8 in {0, 1} (the manifest alternates the two talkers)

# (encoder, dev sets) in the order they run: fast encoders first, the slow ones on GenSVS and the subset.
PLAN: list[tuple[str, tuple[str, ...]]] = [
    ("resemblyzer", ("gensvs", "tcdvoip")),
    ("musicnn", ("gensvs", "tcdvoip")),
    ("musicnn:MSD_vgg", ("gensvs", "tcdvoip")),
    ("basic-pitch", ("gensvs", "tcdvoip")),
    ("dnsmos", ("gensvs", "tcdvoip")),
    ("distillmos", ("gensvs", "tcdvoip")),
    ("torchcrepe", ("gensvs", "tcdvoip")),
    ("cdpam", ("gensvs", "tcdvoip48")),
    ("torchcrepe:full", ("gensvs", "tcdvoip48")),
]
SLOW = {"cdpam", "torchcrepe:full"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "audioqual.cli.main", *args]


def run(command: list[str], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("a") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        handle.flush()
        code = subprocess.call(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    print(f"  [{time.perf_counter() - start:6.0f} s] rc={code}  {' '.join(command[3:6])} ...", flush=True)
    return code


def manifest_for(name: str, out: Path) -> Path:
    if name in SETS:
        return SETS[name]
    if name == "tcdvoip48":
        source = SETS["tcdvoip"]
        target = out / "manifests" / "tcdvoip48.csv"
        if not target.exists():
            with source.open(newline="") as handle:
                reader = csv.DictReader(handle)
                fields = list(reader.fieldnames or [])
                rows = [row for index, row in enumerate(reader) if index % SUBSET_ROWS[0] in SUBSET_ROWS[1]]
            for row in rows:
                for column in ("test", "reference"):
                    row[column] = str((source.parent / row[column]).resolve())
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
        return target
    raise SystemExit(f"unknown dev set {name!r}")


def layer_columns(scores: Path) -> list[str]:
    with scores.open(newline="") as handle:
        header = next(csv.reader(handle))
    return sorted((c for c in header if c.startswith("layer_")), key=lambda c: int(c.split("_")[1]))


def failed_rows(scores: Path) -> int:
    with scores.open(newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if (row.get("error") or "").strip())


def read_srcc(results: Path) -> dict[tuple[str, str], tuple[float, float, float, int]]:
    """(predictor, level) -> (SRCC of -distance, low, high, n) for the overall subset."""
    data = json.loads(results.read_text())
    rows = data["results"] if isinstance(data, dict) and "results" in data else data
    out = {}
    for row in rows:
        if row.get("statistic") != "SRCC" or str(row.get("subset")).lower() not in ("all", "overall"):
            continue
        value, low, high = (float(row.get(k) if row.get(k) is not None else math.nan) for k in ("value", "ci_low", "ci_high"))
        out[(row["predictor"], row["level"])] = (-value, -high, -low, int(row.get("n", 0)))
    return out


def score_and_evaluate(encoder: str, dev_set: str, mode: str, layer: int | None, out: Path, bootstrap: int):
    tag = encoder.replace(":", "_")
    manifest = manifest_for(dev_set, out)
    scores = out / "scores" / tag / f"{dev_set}_{mode}.csv"
    eval_dir = out / "eval" / tag / f"{dev_set}_{mode}"
    log = out / "logs" / f"{tag}_{dev_set}_{mode}.log"
    scores.parent.mkdir(parents=True, exist_ok=True)
    options = ["--option", f"backbone={encoder}", "--option", f"mode={mode}", "--option", "distance=cosine"]
    if layer is not None:
        options += ["--option", f"layer={layer}"]
    print(f"{encoder} / {dev_set} / {mode}", flush=True)
    code = run(cli("metric", "embedding-distance", *options, "--manifest", str(manifest), "-o", str(scores), "--quiet"), log)
    if not scores.exists():
        print(f"  no scores ({log})", flush=True)
        return None
    if code != 0:
        print(f"  {failed_rows(scores)} pairs failed (see {log}); evaluating the rest", flush=True)
    done = eval_dir / "results.json"
    if not done.exists() or done.stat().st_mtime < scores.stat().st_mtime:  # new or more scored pairs
        columns = layer_columns(scores) if layer is None else [f"layer_{layer}"]
        specs = [f"{c}={scores}:{c}" for c in columns]
        run(cli("evaluate", "--manifest", str(manifest), "--predictions", *specs, "-o", str(eval_dir),
                "--statistics", "SRCC", "--bootstrap", str(bootstrap), "--no-plots"), log)
    results = eval_dir / "results.json"
    return read_srcc(results) if results.exists() else None


def evaluate_full_on_subset(out: Path, bootstrap: int) -> None:
    """Encoders scored on all of TCD-VoIP are also evaluated on the tcdvoip48 rows (from the same scores,
    no rescoring), so that the slow encoders' subset cells have something to be compared with."""
    manifest = manifest_for("tcdvoip48", out)
    for scores in sorted((out / "scores").glob("*/tcdvoip_pooled.csv")):
        eval_dir = out / "eval" / scores.parent.name / "tcdvoip48_pooled"
        if (eval_dir / "results.json").exists() or (out / "scores" / scores.parent.name / "tcdvoip48_pooled.csv").exists():
            continue
        specs = [f"{c}={scores}:{c}" for c in layer_columns(scores)]
        run(cli("evaluate", "--manifest", str(manifest), "--predictions", *specs, "-o", str(eval_dir),
                "--statistics", "SRCC", "--bootstrap", str(bootstrap), "--no-plots"),
            out / "logs" / f"{scores.parent.name}_tcdvoip48_pooled.log")


def best_layer(srcc: dict) -> int:
    stimulus = {int(p.split("_")[1]): v[0] for (p, level), v in srcc.items() if level == "stimulus" and not math.isnan(v[0])}
    return max(stimulus, key=stimulus.get)


def summarise(out: Path) -> None:
    """summary.csv/md from every results.json under OUT/eval."""
    records = []
    for results in sorted((out / "eval").glob("*/*/results.json")):
        tag, (dev_set, mode) = results.parent.parent.name, results.parent.name.rsplit("_", 1)
        encoder = tag.replace("_", ":", 1) if tag.startswith(("musicnn_", "torchcrepe_")) else tag
        for (predictor, level), (value, low, high, n) in read_srcc(results).items():
            records.append({"encoder": encoder, "set": dev_set, "mode": mode, "layer": int(predictor.split("_")[1]),
                                "level": level, "srcc": value, "low": low, "high": high, "n": n})
    if not records:
        print("nothing measured yet")
        return
    with (out / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    index = {(r["encoder"], r["set"], r["mode"], r["layer"], r["level"]): r for r in records}
    sets = sorted({r["set"] for r in records}, key=["gensvs", "tcdvoip", "tcdvoip48"].index)
    lines = [("SRCC of -distance (cosine distance, lower is better, so the sign is flipped), per layer: "
             "stimulus level / within-signal level (mean over source signals). Pooled mode; the best "
             "pooled layer per column in bold; `frames` rows: frames mode on the layer with the best "
             "pooled stimulus SRCC of that set. tcdvoip48 = the 48-row TCD-VoIP subset (rows i % 8 in {0, 1})."), ""]
    header = ["encoder", "layer"] + [f"{s} {level}" for s in sets for level in ("stimulus", "within")]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    order = [name for name, _ in PLAN]
    encoders = sorted({r["encoder"] for r in records}, key=lambda e: order.index(e) if e in order else len(order))
    for encoder in encoders:
        names = _layer_names(encoder)
        layers = sorted({r["layer"] for r in records if r["encoder"] == encoder and r["mode"] == "pooled"})
        best = {}
        for s in sets:
            for level in ("stimulus", "within"):
                values = {l: index[k]["srcc"] for l in layers
                          if (k := (encoder, s, "pooled", l, level)) in index and not math.isnan(index[k]["srcc"])}
                if values:
                    best[s, level] = max(values, key=values.get)
        for layer in layers:
            label = f"{layer} `{names[layer]}`" if layer < len(names) else str(layer)
            cells = [encoder, label]
            for s in sets:
                for level in ("stimulus", "within"):
                    r = index.get((encoder, s, "pooled", layer, level))
                    text = "" if r is None else f"{r['srcc']:.2f}"
                    cells.append(f"**{text}**" if text and best.get((s, level)) == layer else text)
            lines.append("| " + " | ".join(cells) + " |")
        frame_layers = sorted({r["layer"] for r in records if r["encoder"] == encoder and r["mode"] == "frames"})
        for layer in frame_layers:
            cells = [encoder, f"{layer} frames"]
            for s in sets:
                for level in ("stimulus", "within"):
                    r = index.get((encoder, s, "frames", layer, level))
                    cells.append("" if r is None else f"{r['srcc']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


DOCS = ROOT / "docs" / "backbones.md"
BEGIN, END = "<!-- BEGIN LAYER TABLES", "<!-- END LAYER TABLES -->"


def update_docs(out: Path) -> None:
    """Replace the table between the markers of docs/backbones.md with OUT/summary.md's (prose untouched)."""
    table = [line for line in (out / "summary.md").read_text().splitlines() if line.startswith("|")]
    names = {"gensvs": "GenSVS", "tcdvoip48": "TCD subset\u2020", "tcdvoip": "TCD-VoIP"}
    header = table[0]
    for key in ("tcdvoip48", "tcdvoip", "gensvs"):  # longest first: tcdvoip is a prefix of tcdvoip48
        header = header.replace(f"| {key} ", f"| {names[key]} ")
    table[0] = header
    text = DOCS.read_text()
    start, end = text.index(BEGIN), text.index(END)
    first_line_end = text.index("\n", start) + 1
    old = text[first_line_end:end]
    # keep the prose after the table (the "Not measured" note), replace only the table lines
    rest = "\n".join(line for line in old.splitlines() if not line.startswith("|"))
    note = "\n" + rest.strip("\n") + "\n" if rest.strip() else ""
    DOCS.write_text(text[:first_line_end] + "\n".join(table) + "\n" + note + text[end:])
    print(f"updated {DOCS}")


def _layer_names(encoder: str) -> list[str]:
    try:
        from audioqual.backbones.encoders.base import load_encoder

        return list(load_encoder(encoder).layer_names)
    except Exception:  # noqa: BLE001 - names are a courtesy of the table
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "backbones")
    parser.add_argument("--encoders", nargs="+", help="subset of the plan (default: all, in plan order)")
    parser.add_argument("--sets", nargs="+", help="these dev sets instead of each encoder's planned ones (gensvs, tcdvoip, tcdvoip48)")
    parser.add_argument("--skip-frames", action="store_true", help="pooled mode only")
    parser.add_argument("--frames-only", action="store_true",
                        help="frames mode only, for sets whose pooled results exist (a second process can run "
                             "these while the first scores pooled mode; never run two on the same encoder and set)")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--update-docs", action="store_true",
                        help="write the summary table into docs/backbones.md (between its LAYER TABLES markers)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    if not args.summary_only:
        jobs = [(encoder, dev_set) for encoder, dev_sets in PLAN for dev_set in (args.sets or dev_sets)
                if not args.encoders or encoder in args.encoders]
        # The fast encoders first, then the slow ones; within each group pooled mode for every
        # encoder and set (all layers), then frames mode for each best pooled layer.
        for group in ([j for j in jobs if j[0] not in SLOW], [j for j in jobs if j[0] in SLOW]):
            best = {}
            for encoder, dev_set in group:
                if args.frames_only:  # pooled results from an earlier run only
                    pooled = args.out / "eval" / encoder.replace(":", "_") / f"{dev_set}_pooled" / "results.json"
                    srcc = read_srcc(pooled) if pooled.exists() else None
                else:
                    srcc = score_and_evaluate(encoder, dev_set, "pooled", None, args.out, args.bootstrap)
                if srcc:
                    best[encoder, dev_set] = layer = best_layer(srcc)
                    print(f"  best pooled layer: {layer} (SRCC {srcc[(f'layer_{layer}', 'stimulus')][0]:.3f})",
                          flush=True)
            if not args.skip_frames:
                for (encoder, dev_set), layer in best.items():
                    score_and_evaluate(encoder, dev_set, "frames", layer, args.out, args.bootstrap)
            if group:
                evaluate_full_on_subset(args.out, args.bootstrap)
                summarise(args.out)
    if args.summary_only:
        evaluate_full_on_subset(args.out, args.bootstrap)
        summarise(args.out)
    if args.update_docs and (args.out / "summary.md").exists():
        update_docs(args.out)


if __name__ == "__main__":
    main()
