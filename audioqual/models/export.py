"""Finish a trained default model: fit its distance -> MOS mapping on held-out surrogate clips, and ship it.

The mapping is fitted on the held-out splits of the labelled training set (`validation`,
used only to pick the checkpoint, and `test`, never used): distance(clip, reference) ->
ViSQOL MOS-LQO, clean clips included (distance 0, MOS ~4.73). The agreement with ViSQOL
on each of those splits is recorded in the model's metadata. No listening-test data is
used here.

  python -m audioqual.cli.shipped_models export --checkpoint runs/default_fr/train/best \\
      --manifest runs/default_fr/data/manifest_labelled.jsonl --out audioqual/models/default_fr
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr

from audioqual.data.manifest import read_manifest, write_manifest
from audioqual.deepaq.calibration import calibrate
from audioqual.deepaq.config import MappingConfig
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.scorer import DeePAQScorer
from audioqual.errors import AudioqualError

LABEL = "visqol_moslqo"


def mapping_rows(manifest: str | Path, splits: tuple[str, ...] = ("validation", "test")) -> list[dict[str, Any]]:
    """(test, reference, visqol_moslqo, condition, split) rows of the given splits, with absolute paths."""
    rows = []
    manifest = Path(manifest)
    for entry in read_manifest(manifest):
        meta = entry.metadata
        if meta.get("split") not in splits or meta.get("error") or meta.get(LABEL) in (None, ""):
            continue
        rows.append({"test": entry.path, "reference": entry.resolve_path("reference"), LABEL: float(meta[LABEL]),
                     "condition": meta.get("condition"), "degradation": meta.get("degradation"),
                     "split": meta.get("split")})  # fmt: skip
    if len(rows) < 10:
        raise AudioqualError(f"{manifest}: only {len(rows)} labelled rows in splits {splits}, need at least 10")
    return rows


def held_out_agreement(model: DeePAQModel, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """PCC/SRCC of the mapped score and of -distance with the ViSQOL labels, overall and per degradation family."""
    scorer = DeePAQScorer(model, device="cpu")
    distances, scores = [], []
    for row in rows:
        result = scorer.compare_files(row["reference"], row["test"])
        distances.append(result.distance)
        scores.append(result.scores.get("score", math.nan))
    distances, scores = np.asarray(distances), np.asarray(scores)
    labels = np.asarray([r[LABEL] for r in rows])
    out: dict[str, Any] = {
        "pairs": len(rows),
        "srcc_neg_distance": float(spearmanr(-distances, labels).statistic),
        "pcc_score": float(pearsonr(scores, labels).statistic) if np.isfinite(scores).all() else math.nan,
        "rmse_score": float(np.sqrt(np.mean((scores - labels) ** 2))) if np.isfinite(scores).all() else math.nan,
        "by_degradation": {},
    }
    families = sorted({str(r["degradation"]) for r in rows if r["degradation"] != "clean"})
    for family in families:
        index = [i for i, r in enumerate(rows) if r["degradation"] == family]
        if len(index) >= 5 and np.std(labels[index]) > 0:
            out["by_degradation"][family] = {
                "pairs": len(index),
                "srcc_neg_distance": float(spearmanr(-distances[index], labels[index]).statistic),
            }
    return out


def export_default_model(
    checkpoint: str | Path, manifest: str | Path, out: str | Path, splits: tuple[str, ...] = ("validation", "test")
) -> dict:
    """Fit the mapping on `splits`, measure agreement per split, save the model (weights + mapping) into `out`."""
    model = DeePAQModel.from_pretrained(checkpoint)
    rows = mapping_rows(manifest, splits)
    with tempfile.TemporaryDirectory(prefix="audioqual-mapping-") as tmp:
        mapping_manifest = write_manifest(Path(tmp) / "mapping.jsonl", rows)
        config = MappingConfig(manifest=str(mapping_manifest), test_field="test", reference_field="reference",
                               score_field=LABEL, kinds=["cubic", "mlp"])  # fmt: skip
        mapping = calibrate(model, config, device="cpu")
    mapping.info.update({"source": f"{Path(manifest).name} splits={','.join(splits)}",
                         "scale": "ViSQOL v3 MOS-LQO (audio mode)"})  # fmt: skip
    by_split = {split: [r for r in rows if r["split"] == split] for split in splits}
    agreement = {split: held_out_agreement(model, chosen) for split, chosen in by_split.items() if len(chosen) >= 3}
    metadata = dict(model.metadata)
    metadata["held_out_surrogate"] = agreement
    metadata["mapping_fit"] = {"splits": list(splits), "rows": len(rows), "label": LABEL}
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out, metadata=metadata)
    return {"out": str(out), "mapping": mapping.info, "held_out_surrogate": agreement}
