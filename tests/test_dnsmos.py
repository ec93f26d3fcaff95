"""DNSMOS P.835 via speechmos's ONNX model: equals speechmos's own procedure, ranges, noise lowers OVRL/BAK."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.oracle  # DNSMOS against speechmos: a skip fails in CI (conftest)

if importlib.util.find_spec("speechmos") is None:
    pytest.skip("DNSMOS needs the speechmos package (pip install --no-deps speechmos)", allow_module_level=True)
if importlib.util.find_spec("onnxruntime") is None:
    pytest.skip("DNSMOS needs onnxruntime (pip install onnxruntime)", allow_module_level=True)

from audioqual.baselines.dnsmos import DNSMOS_RATE, DNSMOSMetric, speechmos_model_path  # noqa: E402
from audioqual.errors import AudioqualError  # noqa: E402
from audioqual.io import load_audio  # noqa: E402
from audioqual.io.audio import AudioLoadOptions  # noqa: E402
from audioqual.metrics.registry import create  # noqa: E402

SENTENCE = ("The quick brown fox jumps over the lazy dog. "
            "Please call Stella and ask her to bring these things with her from the store.")  # fmt: skip


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """About 7 s of espeak-ng speech at 16 kHz, shape (1, frames)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); no speech to score")
    path = tmp_path_factory.mktemp("speech") / "espeak.wav"
    subprocess.run([espeak, "-w", str(path), SENTENCE], check=True, capture_output=True, timeout=60)
    samples, _ = load_audio(path, AudioLoadOptions(sample_rate=DNSMOS_RATE))
    return samples


def with_noise(signal: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(signal.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(signal**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return signal + noise


@pytest.fixture(scope="module")
def dnsmos() -> DNSMOSMetric:
    return create("dnsmos")


def speechmos_scores(audio: np.ndarray) -> dict[str, float]:
    """speechmos's own DNSMOS.__call__ on a 1-D 16 kHz array.

    With librosa installed this is `speechmos.dnsmos`; otherwise its source file is
    loaded with a stand-in `librosa` that only feeds the P.808 model (whose output is
    not compared), so SIG/BAK/OVRL come from speechmos's code unchanged.
    """
    source = speechmos_model_path().parents[1] / "dnsmos.py"
    stand_in = importlib.util.find_spec("librosa") is None
    if stand_in:
        feature = types.SimpleNamespace(melspectrogram=lambda y, **_: np.zeros((120, 900), np.float32))
        sys.modules["librosa"] = types.SimpleNamespace(feature=feature, power_to_db=lambda spec, **_: spec)
    try:
        spec = importlib.util.spec_from_file_location("speechmos_dnsmos_reference", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if stand_in:
            del sys.modules["librosa"]
    folder = source.parent / "dnsmos_models"
    model = module.DNSMOS(str(folder / "sig_bak_ovr.onnx"), str(folder / "model_v8.onnx"))
    result = model(audio, DNSMOS_RATE, False)
    return {"dnsmos_ovrl": result["ovrl_mos"], "dnsmos_sig": result["sig_mos"], "dnsmos_bak": result["bak_mos"]}


def test_equals_speechmos_for_short_and_multi_window_clips(dnsmos, speech):
    long_clip = np.tile(speech, 2)[:, : int(12.5 * DNSMOS_RATE)]  # 12.5 s: four 9.01 s windows, 1 s hop
    for clip in (speech, long_clip):  # ~7 s: repeated to 14 s by speechmos's rule
        clip = np.clip(clip, -1.0, 1.0)  # speechmos refuses arrays outside [-1, 1]
        ours = dnsmos.score(clip, DNSMOS_RATE)
        expected = speechmos_scores(clip[0])
        assert ours == pytest.approx(expected, abs=1e-6)


def test_ranges_and_noise_lowers_overall_and_background(dnsmos, speech):
    clean = dnsmos.score_pair(np.zeros_like(speech), speech, DNSMOS_RATE)
    noisy = dnsmos.score_pair(speech, with_noise(speech, 0.0), DNSMOS_RATE)
    for scores in (clean, noisy):
        assert set(scores) == {"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"}
        assert all(1.0 <= value <= 5.0 for value in scores.values()), scores
    assert clean["dnsmos_ovrl"] > noisy["dnsmos_ovrl"] + 0.5
    assert clean["dnsmos_bak"] > noisy["dnsmos_bak"] + 1.0
    assert dnsmos.info.name == "dnsmos_ovrl" and "reference of a pair is ignored" in dnsmos.info.valid_range


def test_reference_is_ignored(dnsmos, speech):
    test = with_noise(speech, 10.0)
    first = dnsmos.score_pair(speech, test, DNSMOS_RATE)
    assert dnsmos.score_pair(np.zeros((2, 100), np.float32), test, DNSMOS_RATE) == first


def test_missing_model_file_is_a_clear_error(tmp_path: Path, speech):
    absent = tmp_path / "sig_bak_ovr.onnx"
    metric = DNSMOSMetric(model_path=str(absent))
    with pytest.raises(AudioqualError, match=rf"DNSMOS model file {absent} is missing: .*pass model_path="):
        metric.score(speech, DNSMOS_RATE)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(AudioqualError, match="not a loadable ONNX model"):
        DNSMOSMetric(model_path=str(broken)).score(speech, DNSMOS_RATE)
