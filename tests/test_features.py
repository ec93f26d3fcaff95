"""Feature cache and extraction: keys, reuse, atomic writes, bad files, CLI from a fresh process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from audioqual.backbones import Backbone
from audioqual.backbones.tiny import tiny_backbone
from audioqual.data.manifest import ManifestEntry, entries_from_paths, read_manifest
from audioqual.features import FeatureCache, FeatureSpec, extract_features
from audioqual.io import AudioLoadOptions, load_audio


def test_extracted_features_equal_a_direct_forward(tmp_path, wav_folder):
    backbone = tiny_backbone("hubert")
    entries = entries_from_paths([wav_folder])
    result = extract_features(entries, backbone, FeatureCache(tmp_path / "cache"), FeatureSpec(layers=(0, 2)))
    assert result.computed == 5 and not result.failures
    audio, _ = load_audio(entries[2].path, AudioLoadOptions(sample_rate=16000))
    with torch.no_grad():
        expected = backbone(torch.from_numpy(audio)).hidden_states[[0, 2], 0].mean(dim=1).numpy()
    np.testing.assert_allclose(result.get(entries[2].item_id), expected, rtol=1e-4, atol=1e-5)
    assert result.stack([e.item_id for e in entries]).shape == (5, 2, 32)


def test_second_run_hits_the_cache_and_keys_separate_settings(tmp_path, wav_folder):
    backbone = tiny_backbone("hubert")
    cache = FeatureCache(tmp_path / "cache")
    entries = entries_from_paths([wav_folder])
    assert extract_features(entries, backbone, cache).computed == 5
    again = extract_features(entries, backbone, cache)
    assert (again.computed, again.reused) == (0, 5)
    frames = extract_features(entries, backbone, cache, FeatureSpec(pooling="frames"))
    assert frames.computed == 5 and frames.get(entries[0].item_id).ndim == 3
    other_weights = extract_features(entries, tiny_backbone("hubert", seed=1), cache)
    assert other_weights.computed == 5
    segment = [ManifestEntry(path=entries[0].path, start_time=0.0, end_time=0.5)]
    assert extract_features(segment, backbone, cache).computed == 1


def test_changed_audio_content_is_recomputed(tmp_path, wav_folder):
    backbone = tiny_backbone("hubert")
    cache = FeatureCache(tmp_path / "cache")
    entries = entries_from_paths([wav_folder])
    extract_features(entries, backbone, cache)
    (wav_folder / "clip0.wav").write_bytes((wav_folder / "clip1.wav").read_bytes())
    assert extract_features(entries, backbone, cache).computed == 0  # same content as clip1: reused
    (wav_folder / "clip0.wav").write_bytes((wav_folder / "clip1.wav").read_bytes()[:-400])
    assert extract_features(entries, backbone, cache).computed == 1


def test_bad_files_are_recorded_and_the_rest_extracted(tmp_path, wav_folder):
    (wav_folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    entries = entries_from_paths([wav_folder]) + [ManifestEntry(path=str(tmp_path / "missing.wav"))]
    result = extract_features(entries, tiny_backbone("hubert"), FeatureCache(tmp_path / "cache"))
    assert result.computed == 5
    assert set(result.failures) == {str(wav_folder / "broken.wav"), str(tmp_path / "missing.wav")}
    assert "broken.wav" in result.failures[str(wav_folder / "broken.wav")]
    with pytest.raises(Exception, match="no features"):
        result.get(str(tmp_path / "missing.wav"))


def test_long_audio_is_chunked(tmp_path):
    from audioqual.io import save_audio

    save_audio(tmp_path / "long.wav", np.random.default_rng(0).standard_normal((1, 16000 * 5)).astype(np.float32) * 0.1, 16000)
    backbone = tiny_backbone("hubert")
    entry = ManifestEntry(path=str(tmp_path / "long.wav"))
    chunked = extract_features([entry], backbone, FeatureCache(tmp_path / "c1"), FeatureSpec(chunk_seconds=2.0))
    whole = extract_features([entry], backbone, FeatureCache(tmp_path / "c2"), FeatureSpec(chunk_seconds=60.0))
    a, b = chunked.get(entry.item_id), whole.get(entry.item_id)
    assert a.shape == b.shape == (3, 32)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99  # chunk borders change a few frames only


def test_damaged_entry_counts_as_a_miss(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save("ab" * 20, np.ones((3, 4), np.float32))
    cache.path_for("ab" * 20).write_bytes(b"\x93NUMPY garbage")
    assert cache.load("ab" * 20) is None
    assert "ab" * 20 not in cache


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)

    def exploding_save(handle, array, allow_pickle):
        handle.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", exploding_save)
    with pytest.raises(KeyboardInterrupt):
        cache.save("cd" * 20, np.ones(10, np.float32))
    assert "cd" * 20 not in cache
    assert not list(tmp_path.glob("*/.tmp-*"))


def test_sigkill_during_writes_never_leaves_a_corrupt_entry(tmp_path):
    writer = (
        "import numpy as np, sys\n"
        "from audioqual.features import FeatureCache\n"
        "cache = FeatureCache(sys.argv[1])\n"
        "print('ready', flush=True)\n"
        "for i in range(100000):\n"
        "    cache.save(f'{i:040d}', np.full((200, 1000), i, np.float32))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", writer, str(tmp_path)], stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    cache = FeatureCache(tmp_path)
    entries = list(tmp_path.glob("*/*.npy"))
    assert entries, "the writer should have finished some entries"
    for path in entries:
        array = np.load(path)
        assert array.shape == (200, 1000) and np.all(array == int(path.stem))
    cache.clean_partial()
    assert not list(tmp_path.glob("*/.tmp-*"))


def test_extract_cli_from_a_fresh_process_reuses_cache(tmp_path, wav_folder, tiny_backbone_dir):
    command = [
        sys.executable, "-m", "audioqual.cli.main", "extract", str(wav_folder),
        "--backbone", str(tiny_backbone_dir), "--cache", str(tmp_path / "cache"),
        "--layers", "0,2", "-o", str(tmp_path / "features.jsonl"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert "5 extracted, 0 reused" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert "0 extracted, 5 reused" in second.stdout
    rows = read_manifest(tmp_path / "features.jsonl")
    assert len(rows) == 5 and all(np.load(r.metadata["features"]).shape == (2, 32) for r in rows)


def test_layer_out_of_range_is_reported(tmp_path, wav_folder):
    with pytest.raises(Exception, match="out of range"):
        extract_features(entries_from_paths([wav_folder]), tiny_backbone("hubert"), FeatureCache(tmp_path), FeatureSpec(layers=(7,)))


def test_reloaded_backbone_reuses_features(tmp_path, wav_folder, tiny_backbone_dir):
    cache = FeatureCache(tmp_path / "cache")
    entries = entries_from_paths([wav_folder])
    extract_features(entries, Backbone.from_pretrained(tiny_backbone_dir), cache)
    assert extract_features(entries, Backbone.from_pretrained(tiny_backbone_dir), cache).reused == 5


def test_repeat_crop_gives_every_clip_the_same_frame_count(tmp_path):
    from audioqual.features import repeat_crop
    from audioqual.io import save_audio

    np.testing.assert_array_equal(repeat_crop(np.arange(3.0), 7), [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(repeat_crop(np.arange(5.0), 2), [0, 1])
    short = save_audio(tmp_path / "short.wav", np.random.default_rng(0).standard_normal((1, 4000)).astype(np.float32) * 0.1, 16000)
    long = save_audio(tmp_path / "long.wav", np.random.default_rng(1).standard_normal((1, 40000)).astype(np.float32) * 0.1, 16000)
    entries = [ManifestEntry(path=str(short)), ManifestEntry(path=str(long))]
    spec = FeatureSpec(layers=(2,), pooling="frames", crop_seconds=1.0)
    result = extract_features(entries, tiny_backbone("hubert"), FeatureCache(tmp_path / "cache"), spec)
    shapes = {result.get(e.item_id).shape for e in entries}
    assert shapes == {(1, 49, 32)}


def test_a_clip_shorter_than_the_receptive_field_is_an_error_naming_file_and_minimum(tmp_path, wav_folder):
    from audioqual.io import save_audio

    backbone = tiny_backbone("hubert")
    short = save_audio(tmp_path / "short.wav", np.zeros((1, 100), np.float32) + 0.1, 16000)
    entries = entries_from_paths([wav_folder, short])
    result = extract_features(entries, backbone, FeatureCache(tmp_path / "cache"), progress=False)
    (item,) = [i for i in result.failures]
    message = result.failures[item]
    assert str(short) in message and "too short" in message and str(backbone.minimum_samples()) in message
    assert result.computed == 5  # the other clips are extracted
