"""Audio loading: formats, channel policy, resampling, normalisation and every bad-input case."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import tone

from audioqual.errors import AudioInputError
from audioqual.io import AudioLoadOptions, ChannelPolicy, Normalization, audio_info, load_audio, save_audio
from audioqual.io.ffmpeg import ffmpeg_executable


def test_wav_roundtrip_keeps_samples(tmp_path):
    data = tone(0.5, 16000, channels=2)
    path = save_audio(tmp_path / "a.wav", data, 16000, subtype="FLOAT")
    samples, rate = load_audio(path, AudioLoadOptions(channels=ChannelPolicy.KEEP))
    assert rate == 16000
    np.testing.assert_array_equal(samples, data)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_integer_and_float_wav_formats_load_as_float32(tmp_path, subtype):
    data = tone(0.25, 8000)
    path = save_audio(tmp_path / f"{subtype}.wav", data, 8000, subtype=subtype)
    samples, _ = load_audio(path)
    assert samples.dtype == np.float32
    np.testing.assert_allclose(samples, data, atol=1e-4)


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_soundfile_formats(tmp_path, suffix):
    path = save_audio(tmp_path / f"a{suffix}", tone(0.5, 16000), 16000)
    samples, rate = load_audio(path)
    assert rate == 16000 and samples.shape == (1, 8000)


def test_mp3_decodes_through_ffmpeg(tmp_path):
    wav = save_audio(tmp_path / "a.wav", tone(1.0, 44100, channels=2), 44100)
    mp3 = tmp_path / "a.mp3"
    subprocess.run([ffmpeg_executable(), "-v", "error", "-y", "-i", str(wav), "-b:a", "128k", str(mp3)], check=True)
    samples, rate = load_audio(mp3, AudioLoadOptions(channels=ChannelPolicy.KEEP))
    assert rate == 44100 and samples.shape[0] == 2
    assert abs(samples.shape[1] - 44100) < 3000  # encoder padding only


def test_channel_policies(tmp_path):
    data = np.stack([np.full(100, 0.2), np.full(100, 0.6)]).astype(np.float32)
    path = save_audio(tmp_path / "s.wav", data, 8000, subtype="FLOAT")
    down, _ = load_audio(path)
    assert down.shape == (1, 100) and np.allclose(down, 0.4)
    first, _ = load_audio(path, AudioLoadOptions(channels=ChannelPolicy.FIRST))
    assert np.allclose(first, 0.2)
    mono = save_audio(tmp_path / "m.wav", data[:1], 8000, subtype="FLOAT")
    stereo, _ = load_audio(mono, AudioLoadOptions(channels=ChannelPolicy.STEREO))
    assert stereo.shape == (2, 100)
    eight = save_audio(tmp_path / "8.wav", np.tile(data[:1], (8, 1)), 8000, subtype="FLOAT")
    with pytest.raises(AudioInputError, match="8 channels"):
        load_audio(eight, AudioLoadOptions(channels=ChannelPolicy.STEREO))
    assert load_audio(eight, AudioLoadOptions(channels=ChannelPolicy.KEEP))[0].shape == (8, 100)


def test_resampling_preserves_a_tone(tmp_path):
    path = save_audio(tmp_path / "a.wav", tone(1.0, 44100, freq=1000.0), 44100)
    samples, rate = load_audio(path, AudioLoadOptions(sample_rate=16000))
    assert rate == 16000 and samples.shape == (1, 16000)
    spectrum = np.abs(np.fft.rfft(samples[0]))
    peak_hz = np.argmax(spectrum) * rate / samples.shape[1]
    assert abs(peak_hz - 1000.0) <= 1.0


def test_segment_selection(tmp_path):
    data = np.arange(16000, dtype=np.float32)[None, :] / 16000
    path = save_audio(tmp_path / "ramp.wav", data, 16000, subtype="FLOAT")
    samples, _ = load_audio(path, start_time=0.25, end_time=0.5)
    assert samples.shape == (1, 4000)
    assert samples[0, 0] == pytest.approx(0.25)


def test_normalisation_modes(tmp_path):
    path = save_audio(tmp_path / "a.wav", tone(0.5, 16000) * 0.1, 16000, subtype="FLOAT")
    peak, _ = load_audio(path, AudioLoadOptions(normalization=Normalization.PEAK, target_db=-3.0))
    assert np.abs(peak).max() == pytest.approx(10 ** (-3 / 20), rel=1e-5)
    rms, _ = load_audio(path, AudioLoadOptions(normalization=Normalization.RMS, target_db=-20.0))
    assert np.sqrt(np.mean(rms.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=1e-4)
    loud, _ = load_audio(path, AudioLoadOptions(normalization=Normalization.RMS, target_db=0.0))
    assert np.abs(loud).max() <= 10 ** (-0.1 / 20) + 1e-6  # the RMS target never clips


def test_audio_info(tmp_path):
    path = save_audio(tmp_path / "a.wav", tone(0.5, 22050, channels=2), 22050)
    assert audio_info(path) == (22050, 2, pytest.approx(0.5))


# Bad input: each case raises AudioInputError naming the file and the problem.


def test_missing_file(tmp_path):
    with pytest.raises(AudioInputError, match="does not exist") as info:
        load_audio(tmp_path / "nope.wav")
    assert "nope.wav" in str(info.value)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioInputError, match="empty"):
        load_audio(path)


def test_zero_length_audio(tmp_path):
    path = tmp_path / "noframes.wav"
    sf.write(str(path), np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioInputError, match="zero length") as info:
        load_audio(path)
    assert "noframes.wav" in str(info.value)


def test_corrupt_header(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage garbage garbage")
    with pytest.raises(AudioInputError, match="corrupt") as info:
        load_audio(path)
    assert "corrupt.wav" in str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    data = tone(0.1, 8000)
    data[0, 10] = bad
    path = save_audio(tmp_path / "nan.wav", data, 8000, subtype="FLOAT")
    with pytest.raises(AudioInputError, match="NaN or Inf") as info:
        load_audio(path)
    assert "nan.wav" in str(info.value)


def test_all_silence(tmp_path):
    path = save_audio(tmp_path / "silent.wav", np.zeros((1, 8000), np.float32), 8000)
    with pytest.raises(AudioInputError, match="silence"):
        load_audio(path)
    samples, _ = load_audio(path, AudioLoadOptions(allow_silence=True))
    assert samples.shape == (1, 8000)


def test_unsupported_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not audio\n" * 10)
    with pytest.raises(AudioInputError, match="unsupported or corrupt") as info:
        load_audio(path)
    assert "notes.txt" in str(info.value)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioInputError, match="directory"):
        load_audio(tmp_path)


def test_segment_past_end(tmp_path):
    path = save_audio(tmp_path / "short.wav", tone(0.1, 8000), 8000)
    with pytest.raises(AudioInputError, match="past the end"):
        load_audio(path, start_time=5.0)
