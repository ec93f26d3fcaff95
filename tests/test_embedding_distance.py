"""The raw embedding-distance metric against a direct computation, and its frame alignment."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import music_like, with_noise

from audioqual.backbones import Backbone
from audioqual.errors import AudioInputError
from audioqual.metrics import registry
from audioqual.metrics.embedding import align_to_reference


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_pooled_distances_equal_a_direct_computation(tiny_backbone_dir):
    metric = registry.create("embedding-distance", backbone=str(tiny_backbone_dir))
    rate = metric.info.sample_rate
    reference = music_like(1.0, rate, seed=0)
    test = with_noise(reference, 10.0)
    scores = metric.score_pair(reference[None], test[None], rate)

    backbone = Backbone.from_pretrained(tiny_backbone_dir)
    with torch.inference_mode():
        ref_states = backbone(torch.from_numpy(reference)[None]).hidden_states[:, 0].mean(dim=1).numpy()
        test_states = backbone(torch.from_numpy(test)[None]).hidden_states[:, 0].mean(dim=1).numpy()
    expected = [_cosine_distance(ref_states[i], test_states[i]) for i in range(backbone.num_hidden_states)]
    got = [scores[f"layer_{i}"] for i in range(backbone.num_hidden_states)]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert scores["embedding-distance"] == got[-1]
    assert all(abs(v) < 1e-5 for k, v in metric.score_pair(reference[None], reference[None], rate).items())


def test_frame_mode_aligns_a_delayed_test(tiny_backbone_dir):
    metric = registry.create("embedding-distance", backbone=str(tiny_backbone_dir), mode="frames", layer=0)
    rate = metric.info.sample_rate
    reference = music_like(1.0, rate, seed=3)
    delayed = np.concatenate([np.zeros(800, np.float32), reference])[: reference.size]
    ref_cut, test_cut = align_to_reference(reference, delayed, rate // 2, 400)
    assert ref_cut.size == test_cut.size == reference.size - 800
    np.testing.assert_array_equal(ref_cut, test_cut)
    aligned = metric.score_pair(reference[None], delayed[None], rate)["embedding-distance"]
    assert aligned < 1e-5


def test_too_short_input_names_the_minimum_and_metric_pickles(tiny_backbone_dir):
    metric = registry.create("embedding-distance", backbone=str(tiny_backbone_dir))
    with pytest.raises(AudioInputError, match="minimum"):
        metric.score_pair(np.zeros((1, 10), np.float32), np.zeros((1, 10), np.float32), metric.info.sample_rate)
    clone = pickle.loads(pickle.dumps(metric))
    rate = metric.info.sample_rate
    signal = music_like(0.5, rate)[None]
    noisy = with_noise(signal, 5.0)
    assert clone.score_pair(signal, noisy, rate) == metric.score_pair(signal, noisy, rate)
