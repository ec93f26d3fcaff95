"""FAD: the Fréchet distance against closed forms, statistics against numpy, and behaviour on audio."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tone, with_noise
from scipy import linalg

from audioqual.backbones.tiny import tiny_backbone
from audioqual.baselines.fad import FrechetAudioDistance, GaussianStats, frechet_distance
from audioqual.data.manifest import ManifestEntry
from audioqual.features import FeatureCache
from audioqual.io import save_audio


def test_diagonal_covariances_match_the_closed_form():
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
    var_a, var_b = rng.uniform(0.1, 2, 6), rng.uniform(0.1, 2, 6)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
    assert frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b)) == pytest.approx(expected, rel=1e-9)


def test_full_covariances_match_the_symmetric_form():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    root_a = linalg.sqrtm(cov_a).real
    cross = linalg.sqrtm(root_a @ cov_b @ root_a).real  # Tr sqrt(A^1/2 B A^1/2) == Tr sqrt(A B)
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
    assert frechet_distance(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected, rel=1e-7)
    assert frechet_distance(mu_a, cov_a, mu_a, cov_a) == pytest.approx(0.0, abs=1e-8)


def test_gaussian_stats_match_numpy_and_merge():
    rng = np.random.default_rng(2)
    frames = rng.normal(size=(50, 4))
    stats = GaussianStats.from_frames(frames[:20]).merge(GaussianStats.from_frames(frames[20:]))
    np.testing.assert_allclose(stats.mean, frames.mean(axis=0))
    np.testing.assert_allclose(stats.covariance, np.cov(frames, rowvar=False))


def test_identity_is_zero_and_noise_ladder_is_monotone(tmp_path):
    rate = 16000
    clean = [tone(2.0, rate, 200.0 * (i + 1), seed=i) for i in range(3)]
    references = []
    for index, signal in enumerate(clean):
        references.append(ManifestEntry(path=str(save_audio(tmp_path / f"ref{index}.wav", signal, rate))))
    fad = FrechetAudioDistance(tiny_backbone("hubert"), layer=-1, cache=FeatureCache(tmp_path / "cache"))
    assert fad.compute(references, references) == pytest.approx(0.0, abs=1e-6)
    scores = []
    for snr in (30, 10, 0):
        noisy = []
        for index, signal in enumerate(clean):
            path = save_audio(tmp_path / f"snr{snr}_{index}.wav", with_noise(signal, snr, seed=index), rate)
            noisy.append(ManifestEntry(path=str(path)))
        scores.append(fad.compute(noisy, references))
        per_song = fad.per_song(noisy, references)
        assert len(per_song) == 3 and all(v > 0 for v in per_song.values())
    assert scores[0] < scores[1] < scores[2]


def _layer_frames(backbone, signals, layer):
    """Frames of one hidden state, straight from the backbone's forward (no cache, no batching code)."""
    import torch

    with torch.no_grad():
        return [backbone(torch.from_numpy(s[0][None])).hidden_states[layer, 0].double().numpy() for s in signals]


def _closed_form(test_frames, reference_frames):
    """||mu_t - mu_r||^2 + Tr(S_t + S_r - 2 (S_r^1/2 S_t S_r^1/2)^1/2), numpy statistics."""
    test, ref = np.concatenate(test_frames), np.concatenate(reference_frames)
    mu_t, mu_r = test.mean(axis=0), ref.mean(axis=0)
    cov_t, cov_r = np.cov(test, rowvar=False), np.cov(ref, rowvar=False)
    root_r = linalg.sqrtm(cov_r).real
    cross = linalg.sqrtm(root_r @ cov_t @ root_r).real
    return float(np.sum((mu_t - mu_r) ** 2) + np.trace(cov_t + cov_r - 2 * cross))


def test_fad_command_end_to_end_matches_the_closed_form(tmp_path, tiny_backbone_dir, capsys):
    """`audioqual fad` on folders and manifests, set and per-song, against numpy on the backbone's own frames."""
    import json

    from audioqual.backbones import Backbone
    from audioqual.cli.main import main
    from audioqual.data.manifest import read_table, write_manifest

    rate, layer = 16000, 2
    clean = [tone(2.0, rate, 200.0 * (i + 1), seed=i) for i in range(3)]
    noisy = [with_noise(s, 5, seed=10 + i) for i, s in enumerate(clean)]
    for index, (a, b) in enumerate(zip(clean, noisy)):
        save_audio(tmp_path / "ref" / f"r{index}.wav", a, rate)
        save_audio(tmp_path / "test" / f"t{index}.wav", b, rate)
    backbone = Backbone.from_pretrained(tiny_backbone_dir).eval()
    ref_frames, test_frames = _layer_frames(backbone, clean, layer), _layer_frames(backbone, noisy, layer)
    assert sum(len(f) for f in ref_frames) > 3 * backbone.hidden_size  # a well-conditioned covariance

    common = ["--backbone", str(tiny_backbone_dir), "--layer", str(layer), "--cache", str(tmp_path / "cache")]
    assert main(["fad", str(tmp_path / "ref"), str(tmp_path / "test"), *common]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = _closed_form(test_frames, ref_frames)
    assert expected > 1e-3
    assert result["fad"] == pytest.approx(expected, rel=1e-4)
    assert (result["layer"], result["reference_files"], result["test_files"]) == (layer, 3, 3)

    # Identical sets: 0; negative layer index counts from the last, as in the library.
    assert main(["fad", str(tmp_path / "ref"), str(tmp_path / "ref"), *common]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fad"] == pytest.approx(0.0, abs=1e-6)

    # Per-song FAD from a manifest test set: one row per test file, each against the whole reference set.
    manifest = write_manifest(tmp_path / "test.csv", [{"path": str(tmp_path / "test" / f"t{i}.wav"), "system": f"s{i}"}
                                                     for i in range(3)])
    out = tmp_path / "per_song.csv"
    assert main(["fad", str(tmp_path / "ref"), str(manifest), *common, "--per-song", "-o", str(out)]) == 0
    rows = [row for _, row in read_table(out)[1]]
    assert [r["system"] for r in rows] == ["s0", "s1", "s2"] and all(r["error"] == "" for r in rows)
    for row, frames in zip(rows, test_frames):
        assert float(row["fad"]) == pytest.approx(_closed_form([frames], ref_frames), rel=1e-4)


def test_fad_command_refuses_bad_usage(tmp_path, tiny_backbone_dir, wav_folder, capsys):
    from audioqual.cli.main import main

    common = ["--backbone", str(tiny_backbone_dir), "--cache", str(tmp_path / "cache")]
    assert main(["fad", str(wav_folder), str(wav_folder), *common, "--per-song"]) == 2  # no -o
    assert main(["fad", str(wav_folder), str(tmp_path / "empty"), *common]) == 2
    assert main(["fad", str(wav_folder), str(wav_folder), *common, "--layer", "99"]) == 2
    assert "--layer 99" in capsys.readouterr().err
