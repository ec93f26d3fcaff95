"""`audioqual score` on a trained no-reference model, from a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audioqual.cli.main import main as cli_main
from audioqual.data.manifest import ManifestEntry
from audioqual.features import FeatureCache
from audioqual.nr.data import FeatureDataset
from audioqual.nr.features import crop_frame_features
from audioqual.nr.model import NoReferenceModel
from audioqual.nr.batch import score_entries
from audioqual.nr.scoring import Scorer, load_scorer, predict_dataset
from audioqual.nr.selection import AspectRouter

ASPECTS = ["PQ", "PC", "CE", "CU"]
REPO = Path(__file__).resolve().parents[1]


def _reference(model_dir: Path, clips, backbone_dir, cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-process predictions for the clips, straight from the model on their features."""
    from audioqual.backbones import Backbone

    model = NoReferenceModel.from_pretrained(model_dir)
    entries = [ManifestEntry(str(c)) for c in clips]
    features = crop_frame_features(
        entries, Backbone.from_pretrained(backbone_dir), FeatureCache(cache), layer=2, seconds=1.0, progress=False
    )
    return predict_dataset(model, FeatureDataset(features, [e.item_id for e in entries]))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_cli_in_a_fresh_process_matches_the_model(trained_nr, tmp_path):
    clips = trained_nr["clips"]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file")
    manifest = tmp_path / "in.jsonl"
    manifest.write_text(json.dumps({"path": str(clips[3]), "system": "gen7", "id": "m1"}) + "\n")
    output = tmp_path / "scores.jsonl"
    command = [
        sys.executable,
        "-m",
        "audioqual.cli.main",
        "score",
        str(clips[0]),
        str(clips[1]),
        str(broken),
        str(manifest),
        "-o",
        str(output),
        "--model",
        str(trained_nr["models"]["source"]),
        "--cache-dir",
        str(tmp_path / "fresh_cache"),
        "--covariance",
        "--device",
        "cpu",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scored 3 of 4" in done.stdout

    rows = _rows(output)
    assert len(rows) == 4
    by_path = {r["path"]: r for r in rows}
    assert str(broken) in by_path[str(broken)]["error"] and by_path[str(broken)].get("PQ") in ("", None)
    assert by_path[str(clips[3])]["system"] == "gen7"  # manifest fields pass through

    means, stds, covs = _reference(
        trained_nr["models"]["source"], [clips[0], clips[1], clips[3]], trained_nr["backbone"], trained_nr["cache"]
    )
    for k, clip in enumerate([clips[0], clips[1], clips[3]]):
        row = by_path[str(clip)]
        assert row["error"] == ""
        np.testing.assert_allclose([row[a] for a in ASPECTS], means[k], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose([row[f"{a}_std"] for a in ASPECTS], stds[k], rtol=1e-5, atol=1e-5)
        cov = np.asarray(row["covariance"])
        np.testing.assert_allclose(cov, covs[k], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.sqrt(np.diag(cov)), stds[k], rtol=1e-5)
        assert np.linalg.eigvalsh(cov).min() > 0

    # a second run over one more file scores only that one (the journal remembers the rest)
    journal = Path(str(output) + ".partial.jsonl")
    before = len(journal.read_text().splitlines())
    assert (
        cli_main(
            [
                "score",
                str(clips[0]),
                str(clips[1]),
                str(broken),
                str(manifest),
                str(clips[2]),
                "-o",
                str(output),
                "--model",
                str(trained_nr["models"]["source"]),
                "--cache-dir",
                str(tmp_path / "fresh_cache"),
                "-q",
            ]
        )
        == 0
    )
    assert len(journal.read_text().splitlines()) == before + 1
    assert len(_rows(output)) == 5

    # the same output with another model starts over instead of keeping the first model's scores
    baseline = trained_nr["models"]["baseline"]
    assert (
        cli_main(
            [
                "score",
                str(clips[0]),
                "-o",
                str(output),
                "--model",
                str(baseline),
                "-q",
                "--cache-dir",
                str(tmp_path / "fresh_cache"),
            ]
        )
        == 0
    )
    rows = _rows(output)
    expected = _reference(baseline, [clips[0]], trained_nr["backbone"], trained_nr["cache"])[0][0]
    assert len(rows) == 1 and [rows[0][a] for a in ASPECTS] == pytest.approx(expected.tolist(), abs=1e-5)


def test_router_serves_each_aspect_from_its_member(trained_nr, tmp_path):
    source = NoReferenceModel.from_pretrained(trained_nr["models"]["source"])
    baseline = NoReferenceModel.from_pretrained(trained_nr["models"]["baseline"])
    routing = {"PQ": "base", "PC": "src", "CE": "src", "CU": "base"}
    AspectRouter({"src": source, "base": baseline}, routing).save_pretrained(tmp_path / "router")
    router = load_scorer(tmp_path / "router")
    assert router.routing == routing

    clips = trained_nr["clips"][:2]
    scorer = Scorer(router, cache_dir=trained_nr["cache"], device="cpu", progress=False)
    score_entries(scorer, [ManifestEntry(str(c)) for c in clips], tmp_path / "out.jsonl", covariance=True)
    rows = _rows(tmp_path / "out.jsonl")
    ref = {
        "src": _reference(trained_nr["models"]["source"], clips, trained_nr["backbone"], trained_nr["cache"]),
        "base": _reference(trained_nr["models"]["baseline"], clips, trained_nr["backbone"], trained_nr["cache"]),
    }
    for k, row in enumerate(rows):
        for aspect, member in routing.items():
            i = ASPECTS.index(aspect)
            assert row[aspect] == pytest.approx(float(ref[member][0][k, i]), abs=1e-5)
            assert row[f"{aspect}_std"] == pytest.approx(float(ref[member][1][k, i]), abs=1e-5)
        cov = np.asarray(row["covariance"])
        assert cov[0, 3] == pytest.approx(float(ref["base"][2][k, 0, 3]), abs=1e-5)  # PQ, CU: same member
        assert cov[0, 1] == 0.0  # PQ (base) vs PC (src): different members, independent blocks
        assert np.linalg.eigvalsh(cov).min() > 0


def test_score_errors_are_clear(trained_nr, tmp_path, capsys):
    clip = str(trained_nr["clips"][0])
    assert cli_main(["score", clip, "-o", str(tmp_path / "o.jsonl"), "--model", str(tmp_path / "missing")]) == 2
    assert "model directory does not exist" in capsys.readouterr().err
    os.environ.pop("AUDIOQUAL_NR_MODEL", None)
    assert cli_main(["score", clip, "-o", str(tmp_path / "default.jsonl"), "-q"]) == 0  # the shipped default
    assert "overall" in json.loads((tmp_path / "default.jsonl").read_text().splitlines()[0])

    from audioqual.backbones.tiny import tiny_backbone

    other = tiny_backbone("hubert", seed=1).save_pretrained(tmp_path / "other_backbone")
    code = cli_main(
        [
            "score",
            clip,
            "-o",
            str(tmp_path / "o.jsonl"),
            "--model",
            str(trained_nr["models"]["source"]),
            "--backbone",
            str(other),
            "--cache-dir",
            str(trained_nr["cache"]),
            "-q",
        ]
    )
    assert code == 2 and "not the one this model was trained on" in capsys.readouterr().err  # a usage error
