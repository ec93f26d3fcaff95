"""The packaged default full-reference model: it loads offline, ranks degradations sensibly, and is the CLI default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audioqual.deepaq import PACKAGED_MODEL, load_model
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.scorer import DeePAQScorer
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio, save_audio

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "audioqual" / "models" / "examples"


@pytest.fixture(scope="module")
def model() -> DeePAQModel:
    return DeePAQModel.from_pretrained(PACKAGED_MODEL)


@pytest.fixture(scope="module")
def scorer(model: DeePAQModel) -> DeePAQScorer:
    return DeePAQScorer(model, device="cpu")


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, int]:
    return load_audio(EXAMPLES / "reference.flac", AudioLoadOptions(channels=ChannelPolicy.KEEP))


def _noisy(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise added at `snr_db` (signal power over noise power, textbook definition)."""
    noise = np.random.default_rng(seed).standard_normal(samples.shape)
    noise *= np.sqrt(np.mean(samples.astype(np.float64) ** 2) / 10 ** (snr_db / 10) / np.mean(noise**2))
    return (samples + noise).astype(np.float32)


def test_packaged_model_is_complete_small_and_self_contained(model: DeePAQModel) -> None:
    size = sum(p.stat().st_size for p in PACKAGED_MODEL.rglob("*") if p.is_file())
    assert size < 10 * 2**20, f"packaged model is {size / 2**20:.1f} MiB"
    config = json.loads((PACKAGED_MODEL / "deepaq.json").read_text())
    assert config["backbone"]["included"] is True  # nothing to fetch from a hub
    assert model.sample_rate == 48000
    assert model.mapping is not None and model.mapping.info.get("mode") == "full"
    assert set(model.mapping.kinds()) == {"cubic", "mlp"}
    assert load_model(None).fingerprint() == model.fingerprint()  # the default the CLI uses


def test_identity_scores_better_than_a_noisy_pair(scorer: DeePAQScorer, reference, tmp_path: Path) -> None:
    samples, rate = reference
    noisy = save_audio(tmp_path / "noisy.wav", _noisy(samples, 15.0), rate)
    same = scorer.compare_files(EXAMPLES / "reference.flac", EXAMPLES / "reference.flac")
    worse = scorer.compare_files(EXAMPLES / "reference.flac", noisy)
    assert same.distance == pytest.approx(0.0, abs=1e-4)
    assert worse.distance > same.distance + 0.1
    assert same.scores["score"] > worse.scores["score"] + 0.5


def test_distance_and_score_are_monotone_along_a_noise_ladder(scorer: DeePAQScorer, reference) -> None:
    samples, rate = reference
    mono = samples.mean(axis=0)
    ref_embedding = scorer.embed(scorer.load(EXAMPLES / "reference.flac").samples)
    from audioqual.io import resample

    distances, scores = [], []
    for snr in (50.0, 40.0, 30.0, 20.0, 10.0, 0.0):
        test = resample(_noisy(mono[None], snr), rate, scorer.sample_rate)[0]
        distance = float(np.linalg.norm(scorer.embed(test) - ref_embedding))
        distances.append(distance)
        scores.append(scorer.map_distance(distance, "full")["score"])
    assert all(a < b for a, b in zip(distances, distances[1:])), distances
    assert all(a >= b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > scores[-1] + 1.0


def test_compare_without_model_uses_the_packaged_default_in_a_fresh_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AUDIOQUAL_DEEPAQ_MODEL"}
    env["HF_HUB_OFFLINE"] = "1"
    command = [sys.executable, "-m", "audioqual.cli.main", "compare", "--ref", str(EXAMPLES / "reference.flac"),
               str(EXAMPLES / "reference.flac"), str(EXAMPLES / "mp3_32k.flac")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2
    assert rows[0]["distance"] == pytest.approx(0.0, abs=1e-4)
    assert rows[1]["distance"] > 0.0 and 1.0 <= rows[1]["score"] <= 5.0
    assert rows[0]["score"] > rows[1]["score"]


def test_model_option_takes_a_hub_id(monkeypatch, model: DeePAQModel) -> None:
    """`--model org/name` goes through huggingface_hub.snapshot_download (stubbed: no hub here)."""
    import huggingface_hub

    asked = {}

    def fake_snapshot_download(repo_id: str, **kwargs) -> str:
        asked["repo_id"], asked["patterns"] = repo_id, kwargs.get("allow_patterns")
        return str(PACKAGED_MODEL)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    loaded = load_model("someone/deepaq-default")
    assert asked["repo_id"] == "someone/deepaq-default" and "*.safetensors" in asked["patterns"]
    assert loaded.fingerprint() == model.fingerprint()


def test_a_built_wheel_carries_the_whole_model_and_the_examples(tmp_path: Path) -> None:
    """Package data must list every folder of the model (a non-editable install once lacked backbone/)."""
    import zipfile

    pytest.importorskip("setuptools")
    import shutil

    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "audioqual", source / "audioqual", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
               str(source)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    if result.returncode != 0 and "No module named" in result.stderr:
        pytest.skip(f"cannot build a wheel here: {result.stderr.strip()[-200:]}")
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("audioqual-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [p for folder in (PACKAGED_MODEL, EXAMPLES) for p in folder.rglob("*") if p.is_file()]
    missing = [p.relative_to(ROOT).as_posix() for p in wanted if p.relative_to(ROOT).as_posix() not in names]
    assert not missing, f"not in the wheel: {missing}"
