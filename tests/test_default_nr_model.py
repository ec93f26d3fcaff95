"""The shipped no-reference default (audioqual/models/default_nr): its files, scoring without torch, the ONNX
export against torch, bad input, and its dev-set floors (docs/model_card_default_nr.md)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import stats

from audioqual.errors import ModelLoadError
from audioqual.nr.exported import EXPORT_FILE, ONNX_FILE, ExportedNRModel, distillmos_features, resemblyzer_features
from audioqual.nr.shipped import CHECK_FILE, EXPORT_TOLERANCE, TORCH_DIR, default_nr_dir

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
ASPECTS = ["PQ", "PC", "CE", "CU"]


def _tone_with_noise(seconds: float, rate: int, snr_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    clean = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = rng.standard_normal(t.size)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (clean + noise).astype(np.float32)


def test_shipped_default_is_complete_versioned_and_was_checked_against_torch():
    folder = default_nr_dir()
    config = json.loads((folder / EXPORT_FILE).read_text())
    assert config["format_version"] == 1 and config["aspects"] == ASPECTS
    assert config["encoder"]["name"] == "resemblyzer" and (folder / ONNX_FILE).stat().st_size > 1_000_000
    assert (folder / TORCH_DIR / "config.json").is_file()
    check = json.loads((folder / CHECK_FILE).read_text())
    assert check["clips"] >= 8 and check["max_abs_difference"] <= EXPORT_TOLERANCE


def test_score_without_a_model_uses_the_default_imports_no_torch_and_reports_bad_files(tmp_path):
    good = tmp_path / "clip.wav"
    sf.write(good, _tone_with_noise(3.0, 44100, 20.0), 44100)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    out = tmp_path / "scores.csv"
    code = ("import sys; from audioqual.cli.main import main; "
            f"rc = main(['score', {str(good)!r}, {str(bad)!r}, '-o', {str(out)!r}, '-q']); "
            "print('torch' in sys.modules, rc)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.split()[-2:] == ["False", "0"], result.stdout + result.stderr
    rows = {Path(r["path"]).name: r for r in csv.DictReader(open(out))}
    scored = rows["clip.wav"]
    assert scored["error"] == ""
    for aspect in ASPECTS:
        assert 0 < float(scored[f"{aspect}_std"]) < 10 and -5 < float(scored[aspect]) < 15
    assert 1 <= float(scored["overall"]) <= 5 and float(scored["overall_std"]) > 0
    assert "broken.wav" in rows["broken.wav"]["error"]


def test_scores_follow_the_covariance_and_the_overall_mapping():
    model = ExportedNRModel(default_nr_dir())
    clip = _tone_with_noise(2.0, model.sample_rate, 10.0)
    mean, cov = model.predict(clip)
    row = model.score_samples(clip, covariance=True)
    np.testing.assert_allclose([row[a] for a in ASPECTS], mean)
    np.testing.assert_allclose([row[f"{a}_std"] for a in ASPECTS], np.sqrt(np.diag(cov)))
    assert np.all(np.linalg.eigvalsh(np.asarray(row["covariance"])) > 0)  # S = F F^T with a positive diagonal
    assert row["overall"] == pytest.approx(np.clip(1 + (mean[0] - 1) * 4 / 9, 1, 5))
    assert row["overall_std"] == pytest.approx(np.sqrt(cov[0, 0]) * 4 / 9)


@pytest.mark.oracle
def test_numpy_front_end_matches_the_torch_encoder():
    torch = pytest.importorskip("torch")
    from audioqual.backbones import Backbone

    encoder = Backbone.from_pretrained("resemblyzer")
    config = json.loads((default_nr_dir() / EXPORT_FILE).read_text())["encoder"]["front_end"]
    for level in (0.001, 0.3):  # below -30 dBFS the volume step raises the clip; above it leaves it alone
        clip = _tone_with_noise(1.3, 16000, 15.0) * level / 0.3
        ours = resemblyzer_features(clip, config)[0]
        with torch.no_grad():
            theirs = encoder.mel(encoder.normalize(torch.from_numpy(clip)[None]))[0].numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6 * float(np.abs(theirs).max()))


def test_distillmos_numpy_front_end_matches_the_torch_encoder():
    torch = pytest.importorskip("torch")
    from audioqual.backbones import Backbone
    from audioqual.backbones.encoders import distillmos as dm

    encoder = Backbone.from_pretrained("distillmos")
    settings = {"window": dm.WIN, "hop": dm.HOP, "compression": dm.COMPRESSION}
    for level in (0.01, 0.9):
        crop = _tone_with_noise(dm.SEQ_LEN / 16000, 16000, 10.0) * level
        ours = distillmos_features(crop, settings)
        with torch.no_grad():
            normalised = torch.from_numpy(crop)[None] / (torch.from_numpy(crop).abs().max() + 1e-8)
            theirs = encoder.cnn.spectrogram(normalised).numpy()
        assert ours.shape == theirs.shape == (1, 2, dm.WIN // 2 + 1, dm.SEQ_LEN // dm.HOP)
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4 * float(np.abs(theirs).max()))


@pytest.mark.oracle
@pytest.mark.parametrize(("encoder", "layer", "crop_seconds", "channels", "frames"),
                         [("resemblyzer", 2, 1.0, 256, 101),
                          ("distillmos", 8, 7.68, 1024, 384)])  # fmt: skip - features are padded to the widest layer
def test_export_of_a_fresh_head_matches_torch(tmp_path, encoder, layer, crop_seconds, channels, frames):
    pytest.importorskip("onnx")
    from audioqual.backbones import Backbone
    from audioqual.nr.export import check_export, export_onnx
    from audioqual.nr.model import InputSpec, NoReferenceModel

    backbone = Backbone.from_pretrained(encoder)
    spec = InputSpec("features", encoder, backbone.name, backbone.fingerprint(), 16000, layer=layer,
                     crop_seconds=crop_seconds, channels=channels, frames=frames)  # fmt: skip
    model = NoReferenceModel.build("multigauss", {"conv_channels": [8, 8], "dense": [16, 8]}, ASPECTS, spec).eval()
    export_onnx(model, backbone, tmp_path / "exported")
    clips = [_tone_with_noise(seconds, 16000, snr, seed) for seed, (seconds, snr) in enumerate([(0.7, 5), (9.5, 30)])]
    assert check_export(model, backbone, tmp_path / "exported", clips) < 1e-4

    config_path = tmp_path / "exported" / EXPORT_FILE
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ModelLoadError, match="format_version"):
        ExportedNRModel(tmp_path / "exported")


def _dev_set(name: str) -> list[dict]:
    manifest = DATA / name / "manifest.csv"
    if not manifest.exists():
        pytest.skip(f"{manifest} is absent (the shared dev data is not on this machine)")
    with open(manifest, newline="", encoding="utf-8") as handle:
        return [{**row, "test": str(manifest.parent / row["test"])} for row in csv.DictReader(handle)]


@pytest.mark.parametrize("name", ["dev_listening", "dev_listening_tcdvoip"])
def test_dev_set_overall_srcc_stays_above_the_committed_floor(name):
    from audioqual.data.manifest import ManifestEntry

    floors = json.loads((default_nr_dir() / "thresholds.json").read_text())[name]
    rows = _dev_set(name)
    model = ExportedNRModel(default_nr_dir())
    overall = [model.score_one(ManifestEntry(row["test"]))["overall"] for row in rows]
    srcc = stats.spearmanr(overall, [float(row["mean"]) for row in rows]).statistic
    assert srcc >= floors["stimulus_srcc"], f"{name}: overall SRCC {srcc:.3f} < floor {floors['stimulus_srcc']}"


def test_distillmos_ranks_real_voip_speech_in_the_listeners_direction():
    """The metric contract cannot check DistillMOS's direction on synthetic signals; real speech can."""
    from audioqual.metrics.registry import create

    rows = _dev_set("dev_listening_tcdvoip")[::6]
    metric = create("distillmos")
    scores = []
    for row in rows:
        samples, rate = sf.read(row["test"], dtype="float32", always_2d=True)
        scores.append(metric.score(samples.T, rate)["distillmos"])
    assert stats.spearmanr(scores, [float(row["mean"]) for row in rows]).statistic > 0.6
