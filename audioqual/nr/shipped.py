"""The shipped no-reference default: where it lives, and how a trained model becomes it.

`audioqual/models/default_nr/` holds `torch/` (the trained NoReferenceModel, for analysis and
further training), `model.onnx` + `export.json` (what `audioqual score` runs, without torch) and
`check.json` (the largest torch/ONNX difference measured when it was shipped) and `training.json`
(the run's validation metrics and loss history, `train nr`'s metrics.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "models" / "default_nr"
TORCH_DIR = "torch"
CHECK_FILE = "check.json"
TRAINING_FILE = "training.json"
EXPORT_TOLERANCE = 1e-3  # on the 1-10 scale: far below any difference a user could act on


def default_nr_dir() -> Path:
    return PACKAGE_DIR


def ship_nr_model(model_dir: str | Path, out: str | Path, check_manifest: str | Path, clips: int = 16) -> dict[str, Any]:
    """Copy the trained model to OUT/torch, export OUT/model.onnx, check both agree on `clips` clips of a manifest."""
    from audioqual.data.files import write_json
    from audioqual.data.manifest import read_manifest
    from audioqual.errors import AudioqualError
    from audioqual.nr.export import check_export, export_onnx
    from audioqual.nr.exported import ExportedNRModel
    from audioqual.nr.model import NoReferenceModel
    from audioqual.nr.scoring import model_backbone

    out = Path(out)
    model = NoReferenceModel.from_pretrained(model_dir)
    backbone = model_backbone(model)
    export_onnx(model, backbone, out)
    shutil.copytree(model_dir, out / TORCH_DIR)
    metrics = Path(model_dir).parent / "metrics.json"
    if metrics.is_file():
        shutil.copyfile(metrics, out / TRAINING_FILE)
    entries = read_manifest(check_manifest)[:clips]
    exported = ExportedNRModel(out)
    samples = [exported.load(entry)[0] for entry in entries]
    worst = check_export(model, backbone, out, samples)
    if worst > EXPORT_TOLERANCE:
        raise AudioqualError(f"the ONNX export differs from torch by {worst:.2e} (> {EXPORT_TOLERANCE})")
    report = {"clips": len(samples), "max_abs_difference": worst, "tolerance": EXPORT_TOLERANCE,
              "check_manifest": Path(check_manifest).name}  # fmt: skip
    write_json(out / CHECK_FILE, report)
    return json.loads(json.dumps(report))
