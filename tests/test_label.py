"""ViSQOL wrapper (conformance with Google's C++ ViSQOL v3) and the resumable, parallel labelling job."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from audioqual.baselines.visqol import ViSQOLMetric
from audioqual.errors import AudioInputError, AudioqualError
from audioqual.io import resample, save_audio

pytestmark = pytest.mark.oracle  # ViSQOL labels against visqol-python: a skip fails in CI (conftest)

visqol = pytest.importorskip("visqol", reason="visqol-python is not installed")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONFORMANCE = SHARED_DATA / "visqol_conformance"
CONFORMANCE_CONDITIONS = (
    "lowpass 3.5 kHz", "lowpass 7 kHz", "AAC 256 kbps", "Opus 128 kbps", "AAC 128 kbps",
    "MP3 96 kbps", "AAC 64 kbps", "AAC 48 kbps", "AAC 24 kbps", "identity",
)  # fmt: skip


def music_like(seconds: float, rate: int = 48000, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Harmonic tones with vibrato and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    rows = []
    for c in range(channels):
        x = np.zeros_like(t)
        for k, f0 in enumerate((220.0, 330.0, 554.0)):
            envelope = 0.5 * (1 + np.sin(2 * np.pi * (0.7 + 0.3 * k) * t + c))
            for h in range(1, int(16000 / f0)):
                x += envelope * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
        rows.append(x + 0.02 * rng.standard_normal(t.size))
    out = np.asarray(rows, dtype=np.float32)
    return out / np.abs(out).max() * 0.7


def conformance_rows() -> list[dict[str, str]]:
    with open(CONFORMANCE / "conformance.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("condition", CONFORMANCE_CONDITIONS)
def test_conformance_with_cpp_visqol(condition: str) -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data {CONFORMANCE} is absent")
    row = next(r for r in conformance_rows() if r["condition"] == condition)
    expected = float(next(v for k, v in row.items() if k.startswith("expected")))
    scores = ViSQOLMetric("audio").score_files(CONFORMANCE / row["reference"], CONFORMANCE / row["degraded"])
    assert scores["visqol_moslqo"] == pytest.approx(expected, abs=0.01)


def test_wrapper_equals_visqol_python_on_files(tmp_path: Path) -> None:
    reference = music_like(2.0)
    degraded = np.clip(reference, -0.2, 0.2)
    save_audio(tmp_path / "ref.wav", reference, 48000, subtype="PCM_16")
    save_audio(tmp_path / "deg.wav", degraded, 48000, subtype="PCM_16")
    api = visqol.VisqolApi()
    api.create(mode="audio")
    direct = api.measure(str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav"))
    ours = ViSQOLMetric("audio").score_files(tmp_path / "ref.wav", tmp_path / "deg.wav")
    assert ours["visqol_moslqo"] == pytest.approx(direct.moslqo, abs=1e-6)
    assert ours["visqol_vnsim"] == pytest.approx(direct.vnsim, abs=1e-6)
    assert 1.0 <= ours["visqol_moslqo"] < 4.5


def test_wrapper_downmixes_and_resamples_to_the_mode_rate() -> None:
    metric = ViSQOLMetric("audio")
    assert metric.info.name == "visqol_moslqo" and metric.info.sample_rate == 48000 and metric.info.higher_is_better
    reference = music_like(2.0, rate=44100)
    degraded = reference + 0.01 * np.random.default_rng(1).standard_normal(reference.shape).astype(np.float32)
    at_44k = metric.score_pair(reference, degraded, 44100)
    by_hand = metric.score_pair(
        resample(reference.mean(0, keepdims=True), 44100, 48000),
        resample(degraded.mean(0, keepdims=True), 44100, 48000),
        48000,
    )
    assert at_44k["visqol_moslqo"] == pytest.approx(by_hand["visqol_moslqo"], abs=1e-4)
    metric.update(reference, degraded, 44100)
    metric.update(reference, reference, 44100)
    computed = metric.compute()["visqol_moslqo"]
    assert computed.shape == (2,) and computed[1] > computed[0]


def test_speech_mode_runs_at_16_khz() -> None:
    speech = music_like(3.0, rate=22050, channels=1)
    noisy = speech + 0.05 * np.random.default_rng(2).standard_normal(speech.shape).astype(np.float32)
    polynomial = ViSQOLMetric("speech", speech_mapper="polynomial")
    assert polynomial.info.sample_rate == 16000
    assert polynomial.score_pair(speech, speech, 22050)["visqol_moslqo"] == pytest.approx(5.0, abs=0.01)
    assert 1.0 <= polynomial.score_pair(speech, noisy, 22050)["visqol_moslqo"] < 5.0
    try:
        lattice = ViSQOLMetric("speech", speech_mapper="lattice")
        clean_mos = lattice.score_pair(speech, speech, 22050)["visqol_moslqo"]
    except AudioqualError as err:
        pytest.skip(f"lattice mapper unavailable: {err}")
    assert lattice.score_pair(speech, noisy, 22050)["visqol_moslqo"] < clean_mos <= 5.0


def test_wrapper_rejects_bad_input_clearly() -> None:
    metric = ViSQOLMetric("audio")
    good = music_like(1.0)
    bad = good.copy()
    bad[0, 10] = np.nan
    with pytest.raises(AudioInputError, match="NaN"):
        metric.score_pair(good, bad, 48000)
    with pytest.raises(AudioInputError, match="ViSQOL needs at least"):
        metric.score_pair(good[:, :4800], good[:, :4800], 48000)
    with pytest.raises(AudioInputError, match="silence"):
        metric.score_pair(np.zeros_like(good), good, 48000)
    with pytest.raises(AudioqualError, match="mode"):
        ViSQOLMetric("video")


def textbook_spearman(x: list[float], y: list[float]) -> float:
    """Pearson correlation of average ranks, ranks assigned by a double loop."""

    def ranks(values: list[float]) -> np.ndarray:
        out = []
        for v in values:
            below = sum(1 for w in values if w < v)
            equal = sum(1 for w in values if w == v)
            out.append(below + (equal + 1) / 2)
        return np.array(out)

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt((rx**2).sum() * (ry**2).sum()))


def test_summary_statistics_match_textbook() -> None:
    from audioqual.labels import bitrate_trends, condition_table

    rng = np.random.default_rng(0)
    rows = []
    for bitrate in (16, 32, 32, 64, 128, 128):
        for codec in ("aac", "mp3"):
            mos = 1 + bitrate / 40 + rng.normal(0, 0.8)
            rows.append({"codec": codec, "degradation": "codec", "bitrate_kbps": float(bitrate), "visqol_moslqo": mos,
                         "condition": f"{codec}_{bitrate}k"})  # fmt: skip
    rows.append({"codec": "clean", "degradation": "clean", "bitrate_kbps": math.inf, "visqol_moslqo": 4.7,
                 "condition": "clean"})  # fmt: skip
    rows.append({"codec": "aac", "degradation": "codec", "bitrate_kbps": 16.0, "visqol_moslqo": 5.0, "error": "boom",
                 "condition": "aac_16k"})  # fmt: skip
    rows.append({"codec": None, "degradation": "noise", "bitrate_kbps": None, "visqol_moslqo": 2.0,
                 "condition": "noise_10db"})  # fmt: skip
    trends = {t.codec: t for t in bitrate_trends(rows)}
    assert set(trends) == {"aac", "mp3"}
    for codec, trend in trends.items():
        mine = [r for r in rows if r["codec"] == codec and not r.get("error")]
        assert trend.n == 6
        expected = textbook_spearman([r["bitrate_kbps"] for r in mine], [r["visqol_moslqo"] for r in mine])
        assert trend.spearman == pytest.approx(expected, abs=1e-12)
    table = {t["condition"]: t for t in condition_table(rows)}
    aac32 = [r["visqol_moslqo"] for r in rows if r["condition"] == "aac_32k"]
    assert table["aac_32k"]["n"] == 2 and table["aac_32k"]["mean"] == pytest.approx(np.mean(aac32))
    assert table["aac_16k"]["n"] == 1  # the failed row is left out


def write_pairs(folder: Path) -> Path:
    """A manifest of two scorable pairs and one whose degraded file is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    reference = music_like(1.5)
    save_audio(folder / "ref.wav", reference, 48000)
    save_audio(folder / "lowpassed.wav", np.clip(reference, -0.3, 0.3), 48000)
    rows = [
        {"id": "same", "path": "ref.wav", "reference": "ref.wav", "condition": "clean"},
        {"id": "clipped", "path": "lowpassed.wav", "reference": "ref.wav", "condition": "clip"},
        {"id": "missing", "path": "nowhere.wav", "reference": "ref.wav", "condition": "clip"},
    ]
    manifest = folder / "pairs.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return manifest


def test_label_job_is_parallel_resumable_and_records_failures(tmp_path: Path) -> None:
    from audioqual.labels import LabelConfig, label_manifest

    manifest = write_pairs(tmp_path / "data")
    out = tmp_path / "labels" / "labelled.jsonl"
    first = label_manifest(manifest, out, LabelConfig(workers=2))
    assert first.labelled == 2 and first.scored_now == 2
    assert "nowhere.wav" in first.failures["missing"] and "does not exist" in first.failures["missing"]
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["same"]["visqol_moslqo"] > rows["clipped"]["visqol_moslqo"]
    assert rows["same"]["visqol_mode"] == "audio" and rows["missing"]["error"]
    assert (out.parent / rows["clipped"]["path"]).resolve() == (tmp_path / "data" / "lowpassed.wav").resolve()
    assert (out.parent / rows["clipped"]["reference"]).resolve() == (tmp_path / "data" / "ref.wav").resolve()

    again = label_manifest(manifest, out, LabelConfig(workers=2))
    assert again.scored_now == 0 and again.labelled == 2
    assert {r["id"]: r for r in map(json.loads, out.read_text().splitlines())} == rows

    save_audio(tmp_path / "data" / "nowhere.wav", music_like(1.5) * 0.5, 48000)
    retried = label_manifest(manifest, out, LabelConfig(workers=1, retry_failed=True))
    assert retried.scored_now == 1 and retried.labelled == 3 and not retried.failures


def test_label_job_takes_a_manifest_given_relative_to_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    """Regression: rows were resolved twice (cwd-relative manifest folder + row path), so no file was found."""
    from audioqual.labels import LabelConfig, label_manifest

    write_pairs(tmp_path / "runs" / "data")
    monkeypatch.chdir(tmp_path)
    result = label_manifest(Path("runs/data/pairs.jsonl"), Path("runs/data/labelled.jsonl"), LabelConfig(workers=1))
    assert result.labelled == 2 and set(result.failures) == {"missing"}
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "runs/data/labelled.jsonl").read_text().splitlines())}
    assert rows["clipped"]["path"] == "lowpassed.wav" and rows["clipped"]["reference"] == "ref.wav"


def test_rendered_music_mos_rises_with_bitrate(tmp_path: Path, capsys) -> None:
    """End to end on the command line: render, degrade, label; MOS(128 kbps) > MOS(16 kbps) per codec."""
    from audioqual.cli import degrade_cmd
    from audioqual.synth.tools import SynthToolMissing

    try:
        from audioqual.synth.music import render_music

        render_music(1, tmp_path / "clean", pieces=["bach/bwv66.6.mxl"], max_seconds=5.0, min_seconds=4.5)
    except SynthToolMissing as err:
        pytest.skip(str(err))
    parser = argparse.ArgumentParser()
    degrade_cmd.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "clean"), "--out", str(tmp_path / "run"), "--label",
                              "--set", "bitrates_kbps=[16,128]", "--set", "max_clips_per_source=1"])  # fmt: skip
    assert degrade_cmd.run(args) == 0
    printed = capsys.readouterr().out
    assert "Spearman(bitrate, MOS) aac: 1.000" in printed
    rows = [json.loads(line) for line in (tmp_path / "run" / "manifest_labelled.jsonl").read_text().splitlines()]
    mos = {r["condition"]: r["visqol_moslqo"] for r in rows}
    assert len(rows) == 7 and not any(r["error"] for r in rows)
    for codec in ("aac", "opus", "mp3"):
        assert mos[f"{codec}_128k"] > mos[f"{codec}_16k"], mos
    assert mos["clean"] >= max(mos.values()) - 1e-9
