"""Surrogate training targets for the no-reference model, computed from rendered clean audio and its degradations.

No listener rated this audio, so every target is a named surrogate (docs/model_card_default_nr.md):

- PQ  <- the mean band NSIM of the clip against its clean reference (audioqual.features.nsim,
  unweighted: nothing here is fitted to a listening test), mapped linearly to 1-10;
- PC  <- a production-complexity proxy: 1 + 3 log2(number of simultaneous sources), 1-10;
- CE  <- ordinal severity inside the degradation family (clean 10; the most severe member 2);
- CU  <- freedom from additive interference: the NSIM level excess (dB of energy the
  reference does not have), 10 at 0 dB down to 1 at 20 dB and more.

Domains for the domain-adversarial branch come from the kind of clean source (`domain`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ASPECTS = ("PQ", "PC", "CE", "CU")
DOMAINS = {"speech": "speech", "vocal": "singing", "music": "instrumental", "environment": "environment",
           "generated": "generated"}  # fmt: skip
NSIM_FLOOR = 0.35  # mean band NSIM mapped to PQ 1; 1.0 (identical) maps to 10
EXCESS_CEILING_DB = 20.0
INTERFERER_SOURCES = 2  # an added accompaniment counts as this many sources
BENIGN_FIRST = {  # how to sort a family's parameter so that the most benign member comes first
    "codec": lambda p: -p[0],  # higher bitrate is more benign
    "lowpass": lambda p: -p[0],
    "noise": lambda p: -p[0],
    "interference": lambda p: -p[0],
    "mask": lambda p: (-p[0], p[1]),
    "holes": lambda p: p[0],
    "griffin_lim": lambda p: -p[0],
    "vocoder": lambda p: -p[0],
}


def pq_from_nsim(nsim: float) -> float:
    """Mean band NSIM -> 1-10 (linear between NSIM_FLOOR and 1)."""
    return float(1 + 9 * np.clip((nsim - NSIM_FLOOR) / (1 - NSIM_FLOOR), 0, 1))


def pc_from_sources(count: int) -> float:
    return float(np.clip(1 + 3 * np.log2(max(count, 1)), 1, 10))


def cu_from_excess(excess_db: float) -> float:
    return float(10 - 9 * np.clip(excess_db / EXCESS_CEILING_DB, 0, 1))


def severity_fractions(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, tuple[float, ...]], float]:
    """(family, params) -> severity in (0, 1]: rank among the family's members present, most benign 1/n."""
    members: dict[str, set[tuple[float, ...]]] = {}
    for row in rows:
        family = row["degradation"]
        if family != "clean":
            members.setdefault(family, set()).add(condition_params(row))
    fractions = {}
    for family, params in members.items():
        ordered = sorted(params, key=BENIGN_FIRST[family])
        for rank, p in enumerate(ordered):
            fractions[(family, p)] = (rank + 1) / len(ordered)
    return fractions


def condition_params(row: dict[str, Any]) -> tuple[float, ...]:
    """The severity parameters of a trainset row (see audioqual.models.trainset.condition_catalogue)."""
    family = row["degradation"]
    if family == "codec":
        return (float(row["bitrate_kbps"]),)
    if family == "mask":
        sir, noise = row["condition"].removeprefix("mask_sir").split("_noise")
        return (float(sir), float(noise))
    return (float(row["level"]),)


def source_count(row: dict[str, Any], clean: dict[str, Any]) -> int:
    kind = clean.get("kind")
    count = len(clean.get("instruments") or []) if kind == "music" else int(clean.get("sources") or 1)
    if row["degradation"] in ("interference", "mask"):
        count += INTERFERER_SOURCES
    return max(count, 1)


def _measure(paths: tuple[str, str]) -> dict[str, float]:
    from audioqual.features.nsim import pair_similarity
    from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio

    options = AudioLoadOptions(sample_rate=48000, channels=ChannelPolicy.DOWNMIX)
    reference, _ = load_audio(paths[0], options)
    test, _ = load_audio(paths[1], options)
    similarity = pair_similarity(reference[0], test[0])
    return {"nsim": float(similarity.band_nsim.mean()), "excess_db": float(similarity.excess_db),
            "deficit_db": float(similarity.deficit_db)}  # fmt: skip


def label_trainset(trainset_dir: str | Path, output: str | Path, workers: int = 2) -> Path:
    """Write the no-reference training manifest (JSONL) with surrogate aspects for every row of a trainset."""
    from audioqual.data.manifest import read_manifest, write_manifest
    from audioqual.models.trainset import CLEAN_DIR, CLEAN_MANIFEST, MANIFEST

    root = Path(trainset_dir)
    rows = [entry.to_row() for entry in read_manifest(root / MANIFEST)]
    clean = {str(e.to_row()["id"]): e.to_row() for e in read_manifest(root / CLEAN_DIR / CLEAN_MANIFEST)}
    pairs = [(str(root / row["reference"]), str(root / row["path"])) for row in rows]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        measures = list(pool.map(_measure, pairs, chunksize=16))
    severities = severity_fractions(rows)
    out = []
    for row, measure in zip(rows, measures):
        source = clean[str(row["source_id"])]
        family = row["degradation"]
        severity = 0.0 if family == "clean" else severities[(family, condition_params(row))]
        out.append({
            "id": row["id"], "path": str(root / row["path"]), "reference": str(root / row["reference"]),
            "source": DOMAINS[source["kind"]], "system": family, "split": row["split"],
            "source_id": row["source_id"], "condition": row["condition"],
            "PQ": round(pq_from_nsim(measure["nsim"]), 4),
            "PC": round(pc_from_sources(source_count(row, source)), 4),
            "CE": round(10 - 8 * severity, 4),
            "CU": round(cu_from_excess(measure["excess_db"]), 4),
            "surrogate_nsim": round(measure["nsim"], 6), "surrogate_excess_db": round(measure["excess_db"], 4),
            "surrogate_deficit_db": round(measure["deficit_db"], 4), "severity": round(severity, 4),
        })  # fmt: skip
    return write_manifest(Path(output), out)


SPLIT_FILES = {"train": "train", "valid": "validation", "test": "test"}


def write_splits(labelled: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """train.jsonl, valid.jsonl (checkpoint selection) and test.jsonl (never trained on) of a labelled manifest."""
    from audioqual.data.manifest import write_manifest

    with open(labelled, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {name: write_manifest(Path(out_dir) / f"{name}.jsonl", [r for r in rows if r["split"] == split])
            for name, split in SPLIT_FILES.items()}  # fmt: skip
