"""Fuzzing the audio loader and manifest parser: every input gives a valid result or one clear error."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioqual.data.manifest import read_manifest
from audioqual.errors import AudioInputError, ManifestError
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_loads_or_clear_error(path: Path, options: AudioLoadOptions | None = None) -> None:
    try:
        samples, rate = load_audio(path, options)
    except AudioInputError as err:
        assert str(path) in str(err) and err.problem
        return
    assert samples.dtype == np.float32 and samples.ndim == 2 and samples.shape[1] > 0
    assert np.isfinite(samples).all() and rate > 0


def encoded(data: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@FUZZ
@given(payload=st.binary(min_size=0, max_size=4096), suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".xyz", ""]))
def test_random_bytes(payload, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"random{suffix}"
        path.write_bytes(payload)
        check_loads_or_clear_error(path)


@FUZZ
@given(
    fmt=st.sampled_from([("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("WAV", "DOUBLE"), ("FLAC", "PCM_16")]),
    cut=st.floats(min_value=0.0, max_value=1.0),
)
def test_truncated_files(fmt, cut):
    data = (0.3 * np.sin(np.arange(4000) / 7.0)).astype(np.float32)
    blob = encoded(data, 8000, *fmt)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"cut.{fmt[0].lower()}"
        path.write_bytes(blob[: int(len(blob) * cut)])
        check_loads_or_clear_error(path)


@FUZZ
@given(
    rate=st.sampled_from([1, 8, 100, 4000, 8000, 22050, 96000, 192000, 384000, 768000]),
    frames=st.integers(min_value=0, max_value=3),
    channels=st.sampled_from([1, 2, 8]),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]),
    target=st.sampled_from([None, 16000, 24000, 48000]),
    policy=st.sampled_from(list(ChannelPolicy)),
)
def test_extreme_rates_tiny_files_and_many_channels(rate, frames, channels, subtype, target, policy):
    rng = np.random.default_rng(frames + channels)
    data = rng.uniform(-0.5, 0.5, size=(frames, channels))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "odd.wav"
        path.write_bytes(encoded(data, rate, "WAV", subtype))
        check_loads_or_clear_error(path, AudioLoadOptions(sample_rate=target, channels=policy))


@FUZZ
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), position=st.integers(0, 99), subtype=st.sampled_from(["FLOAT", "DOUBLE"]))
def test_non_finite_values_are_named(bad, position, subtype):
    data = np.full(100, 0.1)
    data[position] = bad
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nonfinite.wav"
        path.write_bytes(encoded(data, 8000, "WAV", subtype))
        with pytest.raises(AudioInputError, match="NaN or Inf"):
            load_audio(path)


def test_very_long_file_loads_with_a_segment(tmp_path):
    rate, minutes = 8000, 20
    path = tmp_path / "long.flac"
    with sf.SoundFile(path, "w", rate, 1, format="FLAC") as handle:
        block = (0.1 * np.sin(np.arange(rate * 60) / 5.0)).astype(np.float32)
        for _ in range(minutes):
            handle.write(block)
    samples, _ = load_audio(path, start_time=600.0, end_time=601.0)
    assert samples.shape == (1, rate)
    whole, _ = load_audio(path, AudioLoadOptions(sample_rate=16000))
    assert whole.shape == (1, 2 * rate * 60 * minutes)


@FUZZ
@given(text=st.text(max_size=300), suffix=st.sampled_from([".jsonl", ".csv"]))
def test_manifest_parser_never_crashes(text, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            entries = read_manifest(path)
        except ManifestError as err:
            assert str(path) in str(err)
            return
        assert all(isinstance(e.path, str) and e.path for e in entries)


@FUZZ
@given(payload=st.binary(max_size=300))
def test_manifest_with_invalid_utf8(payload):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.jsonl"
        path.write_bytes(payload)
        try:
            read_manifest(path)
        except ManifestError as err:
            assert str(path) in str(err)
