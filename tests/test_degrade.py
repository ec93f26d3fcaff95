"""Degradation pipeline: codec round trips stay sample-aligned, effects do what they claim, the job splits and resumes."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from audioqual.cli import degrade_cmd
from audioqual.config import ConfigError
from audioqual.data.manifest import ManifestEntry, read_manifest
from audioqual.degrade import DegradeConfig, EffectsConfig, run_degrade
from audioqual.degrade import effects
from audioqual.io.align import estimate_lag, remove_lag
from audioqual.degrade import conditions
from audioqual.degrade.codecs import CODECS, WORK_RATE, RoundTrip, available_encoders, code_round_trip
from audioqual.degrade.conditions import CLEAN, build_conditions, conditions_for_clip
from audioqual.degrade.pipeline import SourceWorker
from audioqual.degrade.segment import plan_clips, rms_db
from audioqual.degrade.split import TRAIN, VALIDATION, assign_splits
from audioqual.errors import AudioqualError
from audioqual.io import load_audio, save_audio


def broadband(seconds: float, rate: int = WORK_RATE, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Harmonic tones plus modulated noise: content across the band, no periodicity that fools correlation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    rows = []
    for c in range(channels):
        x = sum(np.sin(2 * np.pi * f * t + c) / (k + 1) for k, f in enumerate((220.0, 587.0, 1661.0, 4400.0, 9000.0)))
        x = x + 0.4 * rng.standard_normal(t.size) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.7 * t + c))
        rows.append(x)
    out = np.asarray(rows, dtype=np.float32)
    return out / np.abs(out).max() * 0.5


def brute_force_lag(reference: np.ndarray, test: np.ndarray, max_lag: int) -> int:
    """Lag maximising sum_n test[n + k] * reference[n], one dot product per candidate lag."""
    ref = reference.mean(axis=0).astype(np.float64)
    tst = test.mean(axis=0).astype(np.float64)
    best, best_value = 0, -np.inf
    for k in range(-max_lag, max_lag + 1):
        if k >= 0:
            value = float(np.dot(tst[k:], ref[: tst.size - k]))
        else:
            value = float(np.dot(tst[: tst.size + k], ref[-k:]))
        if value > best_value:
            best, best_value = k, value
    return best


@pytest.mark.oracle  # real ffmpeg codecs
@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("bitrate", [16, 128])
def test_round_trip_is_sample_aligned(codec: str, bitrate: int) -> None:
    if CODECS[codec].encoder not in available_encoders():
        pytest.skip(f"ffmpeg here has no {CODECS[codec].encoder} encoder")
    clean = broadband(1.5)
    trip = code_round_trip(clean, WORK_RATE, codec, bitrate)
    assert trip.samples.shape == clean.shape
    assert estimate_lag(clean, trip.samples, 2000) == 0
    # plain cross-correlation agrees; at 16 kbps its peak is so flat (the codec keeps only
    # the low band) that coding noise may tip it by one sample (see conditions.LAG_NOISE_SAMPLES)
    assert abs(brute_force_lag(clean, trip.samples, 400)) <= (0 if bitrate == 128 else 1)
    # the coded signal really is the clean one, not silence or a shifted copy
    corr = np.corrcoef(clean.mean(0), trip.samples.mean(0))[0, 1]
    assert corr > (0.9 if bitrate == 128 else 0.5)


def test_mp3_below_32_kbps_is_coded_at_that_rate() -> None:
    # MPEG-1 Layer III has no 16 kbps; without the MPEG-2 path LAME silently codes 32 kbps
    clean = broadband(3.0)
    low = code_round_trip(clean, WORK_RATE, "mp3", 16)
    high = code_round_trip(clean, WORK_RATE, "mp3", 128)
    assert low.encoder_rate == 24000 and high.encoder_rate == 48000
    assert 12 < low.coded_kbps < 20
    assert 120 < high.coded_kbps < 140


@pytest.mark.parametrize("shift", [-37, 0, 5, 250])
def test_estimate_lag_matches_brute_force(shift: int) -> None:
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((2, 3000)).astype(np.float32)
    test = np.zeros_like(reference)
    if shift >= 0:
        test[:, shift:] = reference[:, : reference.shape[1] - shift]
    else:
        test[:, :shift] = reference[:, -shift:]
    test += 0.1 * rng.standard_normal(test.shape).astype(np.float32)
    assert estimate_lag(reference, test, 300) == brute_force_lag(reference, test, 300) == shift
    aligned = remove_lag(test, shift, 400, 2000)
    np.testing.assert_allclose(aligned, test[:, 400 + shift : 2400 + shift])


@pytest.mark.parametrize("delay, removed", [(1024, 1024), (-312, -312), (1, 0)])
def test_codec_condition_removes_a_delay_the_decoder_left(monkeypatch, delay: int, removed: int) -> None:
    """A decoder that ignored the container's delay (AAC priming, Opus pre-skip) is re-aligned; 1 sample is noise."""
    clean = broadband(2.0)
    shifted = np.roll(clean, delay, axis=1)

    def late_round_trip(samples, rate, codec, bitrate):
        return RoundTrip(samples=0.9 * np.roll(samples, delay, axis=1), coded_kbps=32.0, encoder_rate=rate)

    monkeypatch.setattr(conditions, "code_round_trip", late_round_trip)
    condition = conditions.Condition("aac_32k", "codec", codec="aac", bitrate_kbps=32.0)
    rng = np.random.default_rng(0)
    applied = conditions.apply_condition(condition, clean, 24000, 48000, WORK_RATE, rng, max_lag=2400)
    assert applied.info["align_lag_samples"] == removed
    expected = clean[:, 24000:72000] if removed else shifted[:, 24000:72000]
    np.testing.assert_allclose(applied.samples, 0.9 * expected, atol=1e-6)


def test_lowpass_response_and_zero_phase() -> None:
    rate, cutoff = WORK_RATE, 4000.0
    t = np.arange(rate) / rate
    passband = np.sin(2 * np.pi * 1000.0 * t)[None].astype(np.float32)
    stopband = np.sin(2 * np.pi * 8000.0 * t)[None].astype(np.float32)
    middle = slice(rate // 4, 3 * rate // 4)  # away from filtfilt's edge transients
    gain_pass = np.std(effects.lowpass(passband, rate, cutoff)[0, middle]) / np.std(passband[0, middle])
    gain_stop = np.std(effects.lowpass(stopband, rate, cutoff)[0, middle]) / np.std(stopband[0, middle])
    assert abs(20 * np.log10(gain_pass)) < 0.01
    # two passes of a bilinear-transform 4th-order Butterworth:
    # |H(f)|^2 = 1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^8) per pass
    ratio = np.tan(np.pi * 8000.0 / rate) / np.tan(np.pi * cutoff / rate)
    assert 20 * np.log10(gain_stop) == pytest.approx(-2 * 10 * np.log10(1 + ratio**8), abs=0.1)
    noise = broadband(1.0)
    assert estimate_lag(noise, effects.lowpass(noise, rate, 6000.0), 200) == 0


def test_noise_has_the_requested_snr() -> None:
    clean = broadband(1.0)
    for snr in (0.0, 10.0, 30.0):
        noisy = effects.add_noise(clean, snr, np.random.default_rng(3))
        noise = noisy.astype(np.float64) - clean
        measured = 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(noise**2))
        assert measured == pytest.approx(snr, abs=1e-3)


def test_hard_clip_threshold() -> None:
    clean = broadband(0.5)
    clipped = effects.hard_clip(clean, 0.25)
    threshold = 0.25 * np.abs(clean).max()
    assert np.abs(clipped).max() == pytest.approx(threshold)
    below = np.abs(clean) <= threshold
    np.testing.assert_array_equal(clipped[below], clean[below])
    assert np.all(np.abs(clipped[~below]) == pytest.approx(threshold))


def test_dropouts_zero_whole_frames_at_the_rate() -> None:
    rate = WORK_RATE
    clean = broadband(20.0, channels=1) + 0.1  # no exact zeros of its own
    out, lost = effects.dropouts(clean, rate, 0.1, np.random.default_rng(5), frame_ms=20.0)
    frame = int(0.02 * rate)
    for index, is_lost in enumerate(lost):
        chunk = out[:, index * frame : (index + 1) * frame]
        if is_lost:
            assert not chunk.any()
        else:
            np.testing.assert_array_equal(chunk, clean[:, index * frame : (index + 1) * frame])
    n = lost.size
    assert abs(lost.mean() - 0.1) < 4 * math.sqrt(0.1 * 0.9 / n)
    again, _ = effects.dropouts(clean, rate, 0.1, np.random.default_rng(5), frame_ms=20.0)
    np.testing.assert_array_equal(out, again)


def test_plan_clips_counts_and_bounds() -> None:
    spans = plan_clips(10 * 1000 + 500, 1000, 4.0)
    assert [(s.start, s.stop) for s in spans] == [(0, 4000), (4000, 8000)]
    overlapping = plan_clips(10_000, 1000, 4.0, hop_seconds=2.0)
    assert len(overlapping) == (10_000 - 4000) // 2000 + 1
    assert plan_clips(3999, 1000, 4.0) == []
    assert len(plan_clips(100_000, 1000, 4.0, max_clips=3)) == 3
    assert rms_db(np.zeros((1, 10))) == -np.inf
    assert rms_db(np.ones((1, 10)) * 0.1) == pytest.approx(-20.0)


def test_split_is_disjoint_deterministic_and_order_free() -> None:
    ids = [f"song{i}" for i in range(20)]
    first = assign_splits(ids, 0.25, seed=7)
    assert first == assign_splits(list(reversed(ids)), 0.25, seed=7)
    assert sum(v == VALIDATION for v in first.values()) == 5
    assert set(first.values()) == {TRAIN, VALIDATION}
    assert assign_splits(ids, 0.25, seed=8) != first
    assert list(assign_splits(["a", "b"], 0.1).values()).count(VALIDATION) == 1
    assert set(assign_splits(["only"], 0.5).values()) == {TRAIN}


def test_random_assignment_gives_each_clip_one_condition() -> None:
    config = DegradeConfig(codecs=["aac", "opus"], bitrates_kbps=[32, 64])
    conditions = build_conditions(config)
    picks = [conditions_for_clip(f"s/{i:04d}", conditions, "random", 0.2, 0) for i in range(2000)]
    assert all(len(p) == 1 for p in picks)
    clean_share = sum(p[0] == CLEAN for p in picks) / len(picks)
    assert abs(clean_share - 0.2) < 0.04
    names = [p[0].name for p in picks if p[0] != CLEAN]
    assert set(names) == {c.name for c in conditions}
    every = conditions_for_clip("s/0000", conditions, "all", 0.2, 0)
    assert every == [CLEAN, *conditions]


def test_config_validation_names_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown codec"):
        DegradeConfig(codecs=["vorbis2"]).validate()
    with pytest.raises(ConfigError, match="clip_levels"):
        DegradeConfig(effects=EffectsConfig(clip_levels=[1.5])).validate()


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "clean"
    folder.mkdir()
    files = {
        "stereo": save_audio(folder / "stereo.wav", broadband(5.0, 44100, 2, seed=1), 44100),
        "mono": save_audio(folder / "mono.flac", broadband(4.5, 32000, 1, seed=2), 32000),
        "third": save_audio(folder / "third.wav", broadband(2.5, 48000, 2, seed=3), 48000),
        "short": save_audio(folder / "short.wav", broadband(1.0, 44100, 1, seed=4), 44100),
        "silent": save_audio(folder / "silent.wav", np.full((1, 3 * 16000), 1e-4, np.float32), 16000),
    }
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    files["corrupt"] = corrupt
    return files


def small_config() -> DegradeConfig:
    return DegradeConfig(
        codecs=["aac", "mp3"],
        bitrates_kbps=[32],
        effects=EffectsConfig(noise_snr_db=[10.0]),
        clip_seconds=2.0,
        context_seconds=0.25,
        max_clips_per_source=2,
        validation_fraction=0.34,
    )


def test_pipeline_writes_aligned_split_manifest_and_skips_bad_sources(tmp_path: Path, sources: dict) -> None:
    out = tmp_path / "out"
    entries = [ManifestEntry(path=str(p), metadata={"id": name}) for name, p in sources.items()]
    result = run_degrade(entries, out, small_config())

    assert result.sources_done == 3
    errors = {Path(read["source_path"]).name: read["error"] for read in map(json.loads, open(result.sources))}
    assert "shorter than one 2 s clip" in errors["short.wav"]
    assert "quieter than" in errors["silent.wav"]
    assert "corrupt" in errors["corrupt.wav"]

    rows = [entry.to_row() | {"abs": entry.path} for entry in read_manifest(result.manifest)]
    # stereo: 2 clips, mono: 2 clips, third: 1 clip; each clip: clean + aac + mp3 + noise
    assert result.clips == 5 and len(rows) == 5 * 4
    splits: dict[str, set] = {}
    for row in rows:
        splits.setdefault(row["source_id"], set()).add(row["split"])
    expected = assign_splits(list(sources), 0.34, seed=0)  # round(6 * 0.34) = 2 of 6 sources held out
    assert splits == {sid: {expected[sid]} for sid in ("stereo", "mono", "third")}
    assert {next(iter(s)) for s in splits.values()} == {TRAIN, VALIDATION}

    for row in rows:
        test, rate = load_audio(row["abs"], start_time=None)
        reference, _ = load_audio(out / row["reference"])
        assert rate == 24000 and test.shape[1] == 2 * 24000
        full, full_rate = load_audio(out / row["fullband_path"])
        assert full_rate == WORK_RATE and full.shape[1] == 2 * WORK_RATE
        assert row["clip_end"] - row["clip_start"] == pytest.approx(2.0)
        if row["degradation"] == "clean":
            # +inf (a clean clip's bitrate) is not valid JSON: written as null; the codec column says "clean"
            assert row["bitrate_kbps"] is None and row["codec"] == "clean" and row["abs"] == str(out / row["reference"])
        elif row["degradation"] == "codec":
            assert row["align_lag_samples"] == 0
            assert brute_force_lag(reference, test, 200) == 0
            assert row["bitrate_kbps"] == 32.0 and row["codec"] in ("aac", "mp3")
        else:
            assert row["degradation"] == "noise" and row["level"] == 10.0
    stereo_clip = next(r for r in rows if r["source_path"].endswith("stereo.wav") and r["clip_index"] == 1)
    assert stereo_clip["clip_start"] == pytest.approx(2.0) and stereo_clip["channels"] == 2


def test_pipeline_resumes_without_redoing_sources(tmp_path: Path, sources: dict, monkeypatch) -> None:
    out = tmp_path / "out"
    entries = [ManifestEntry(path=str(sources["stereo"])), ManifestEntry(path=str(sources["third"]))]
    config = small_config()
    first = run_degrade(entries[:1], out, config)

    calls = []
    original = SourceWorker.__call__
    monkeypatch.setattr(SourceWorker, "__call__", lambda self, item: calls.append(item[0]) or original(self, item))
    second = run_degrade(entries, out, config)
    assert len(calls) == 1 and "third" in calls[0]
    assert second.rows == first.rows + 4
    assert (first.degraded_now, second.degraded_now) == (2 * 3, 1 * 3)
    config.bitrates_kbps = [64]
    with pytest.raises(AudioqualError, match="different configuration"):
        run_degrade(entries, out, config)


def test_random_assignment_writes_one_condition_per_clip(tmp_path: Path, sources: dict) -> None:
    config = DegradeConfig(codecs=["aac"], bitrates_kbps=[32, 64], clip_seconds=1.0, assignment="random",
                           clean_fraction=0.3, validation_fraction=0.0)  # fmt: skip
    result = run_degrade([ManifestEntry(path=str(sources["stereo"]))], tmp_path / "out", config)
    rows = [e.to_row() for e in read_manifest(result.manifest)]
    assert result.clips == 5 and len(rows) == 5
    assert len({r["clip_index"] for r in rows}) == 5
    assert {r["condition"] for r in rows} <= {"clean", "aac_32k", "aac_64k"}
    assert all((tmp_path / "out" / r["reference"]).is_file() and r["split"] == TRAIN for r in rows)


def test_degrade_command_line(tmp_path: Path, sources: dict, capsys) -> None:
    out = tmp_path / "cli"
    parser = argparse.ArgumentParser()
    degrade_cmd.add_arguments(parser)
    args = parser.parse_args([str(sources["stereo"]), str(sources["short"]), "--out", str(out),
                              "--set", "codecs=[opus]", "--set", "bitrates_kbps=[48]", "--set", "clip_seconds=2.5",
                              "--set", "effects.lowpass_hz=[3000]"])  # fmt: skip
    assert degrade_cmd.run(args) == 0
    printed = capsys.readouterr()
    assert "degraded 1 source(s) into 2 clips" in printed.out
    assert "short.wav" in printed.err
    rows = read_manifest(out / "manifest.jsonl")
    assert sorted({r.metadata["condition"] for r in rows}) == ["clean", "lowpass_3000hz", "opus_48k"]
