"""`audioqual compare`: full reference, manifests with pass-through columns, NMR sets, bad input, no model."""

from __future__ import annotations

import csv
import json
import math

import pytest
from conftest import tone

from audioqual.cli.main import main
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.scorer import DeePAQScorer
from audioqual.models.registry import NAMED_MODELS
from audioqual.io import save_audio


@pytest.fixture
def model_dir(tiny_deepaq_dir):
    """A tiny LoRA DeePAQ model with a full-reference mapping (shared with other test files, see conftest)."""
    return tiny_deepaq_dir


@pytest.fixture
def audio(tmp_path):
    ref = save_audio(tmp_path / "ref.wav", tone(1.0, 44100, 440.0, channels=2), 44100)
    deg = save_audio(tmp_path / "deg.wav", tone(1.0, 44100, 440.0, channels=2, seed=5) * 0.7, 44100)
    other = save_audio(tmp_path / "other.wav", tone(0.7, 48000, 660.0), 48000)
    return ref, deg, other


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_single_pair_prints_distance_and_scores(model_dir, audio, capsys):
    ref, deg, _ = audio
    assert main(["compare", "--model", str(model_dir), "--ref", str(ref), str(deg), str(ref)]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert [r["test"] for r in rows] == [str(deg), str(ref)]
    assert rows[1]["distance"] == pytest.approx(0.0, abs=1e-5)
    assert rows[0]["distance"] > 0 and set(rows[0]) >= {"score", "score_cubic", "score_mlp", "warning"}
    assert rows[0]["score"] == rows[0]["score_cubic"]
    expected = DeePAQScorer(DeePAQModel.from_pretrained(model_dir), device="cpu").compare_files(ref, deg)
    assert rows[0]["distance"] == pytest.approx(expected.distance, rel=1e-5)


def test_manifest_passes_columns_through_and_records_bad_rows(model_dir, audio, tmp_path):
    ref, deg, other = audio
    manifest = tmp_path / "pairs.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["condition", "test", "reference", "mean"])
        writer.writerow(["a", deg.name, ref.name, 3.5])
        writer.writerow(["b", "missing.wav", ref.name, 2.0])
        writer.writerow(["c", other.name, ref.name, 1.5])  # shorter and at another rate
    out = tmp_path / "out.csv"
    assert main(["compare", "--model", str(model_dir), "--manifest", str(manifest), "-o", str(out)]) == 1  # exit 1: a row failed
    rows = list(csv.DictReader(open(out)))
    assert [r["condition"] for r in rows] == ["a", "b", "c"] and rows[0]["mean"] == "3.5"
    assert rows[0]["test"] == deg.name and rows[0]["error"] == "" and float(rows[0]["distance"]) > 0
    assert "missing.wav" in rows[1]["error"] and "does not exist" in rows[1]["error"]
    assert "trimmed" in rows[2]["warning"] and "resampled" in rows[2]["warning"] and math.isfinite(float(rows[2]["distance"]))
    first = out.read_text()
    assert main(["compare", "--model", str(model_dir), "--manifest", str(manifest), "-o", str(out)]) == 1
    assert out.read_text() == first  # resumed from the journal: nothing recomputed, same output


def test_nmr_mode_with_reference_folder(model_dir, audio, wav_folder, tmp_path, capsys):
    _, deg, other = audio
    args = ["compare", "--model", str(model_dir), "--nmr-refs", str(wav_folder), "--cache-dir", str(tmp_path / "c")]
    assert main([*args, str(deg), str(other)]) == 0
    captured = capsys.readouterr()
    rows = _json_lines(captured.out)
    assert "5 file(s), 0 from cache" in captured.err
    assert all(r["distance"] > 0 for r in rows) and "score" not in rows[0]  # mapping is for full reference only
    assert main([*args, str(deg)]) == 0
    again = capsys.readouterr()
    assert "5 from cache" in again.err
    assert _json_lines(again.out)[0]["distance"] == pytest.approx(rows[0]["distance"], rel=1e-6)


def test_no_default_model_is_a_clear_error(monkeypatch, audio, tmp_path, capsys):
    ref, deg, _ = audio
    monkeypatch.setitem(NAMED_MODELS, "default", tmp_path / "no_model_here")
    assert main(["compare", "--ref", str(ref), str(deg)]) == 2
    err = capsys.readouterr().err
    assert "packaged model 'default' is missing" in err and "--model" in err


def test_argument_errors(model_dir, audio, capsys):
    ref, deg, _ = audio
    assert main(["compare", "--model", str(model_dir), str(deg)]) == 2
    assert "--ref" in capsys.readouterr().err
    assert main(["compare", "--model", str(model_dir), "--ref", str(ref), "--nmr-refs", str(ref), str(deg)]) == 2
    assert "not both" in capsys.readouterr().err


def test_dev_listening_subset(model_dir, shared_data, tmp_path):
    """The real GenSVS manifest (44.1 kHz stereo, relative paths): scores every row, keeps its columns."""
    source = shared_data / "dev_listening" / "manifest.csv"
    rows = list(csv.DictReader(open(source)))[:6]
    for row in rows:
        for key in ("test", "reference"):
            row[key] = str(source.parent / row[key])
    subset = tmp_path / "subset.csv"
    with open(subset, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "scores.csv"
    assert main(["compare", "--model", str(model_dir), "--manifest", str(subset), "-o", str(out)]) == 0
    scored = list(csv.DictReader(open(out)))
    assert len(scored) == 6 and all(r["error"] == "" for r in scored)
    assert [r["condition"] for r in scored] == [r["condition"] for r in rows]
    assert all(float(r["distance"]) > 0 for r in scored)
