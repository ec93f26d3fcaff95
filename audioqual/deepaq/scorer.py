"""Scoring with a DeePAQ model: full-reference and non-matching-reference distances, mapped to a scale.

Full reference: ||f(test) - f(reference)||. Non-matching reference (NOMAD
precedent): the mean distance of f(test) to the embeddings of a set of clean
recordings (see reference_set.py). Reference and test are decoded (the
segment start_time/end_time when given), downmixed and resampled to the
backbone's rate; when their lengths differ the longer is trimmed to the
shorter. Each such adjustment is logged and reported with the result. A
clip shorter than the backbone's receptive field is refused with a "too
short" AudioInputError naming the file: its score would come from padding.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from audioqual.deepaq.model import DeePAQModel
from audioqual.errors import AudioqualError
from audioqual.io.pair import LoadedAudio, PairLoader, Score

log = logging.getLogger(__name__)


class DeePAQScorer(PairLoader):
    """Embeds audio with a DeePAQ model and turns embedding distances into scores."""

    non_matching_reference = True

    def __init__(self, model: DeePAQModel, device: str | torch.device | None = None, reference_cache_size: int = 64):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.minimum_samples = model.backbone.minimum_samples()
        self._reference_embeddings: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._reference_cache_size = reference_cache_size

    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    def pad_short(self, samples: np.ndarray, name: str, warnings: list[str]) -> np.ndarray:
        """Zero-pad a clip shorter than the backbone's receptive field (noted in `warnings`)."""
        if samples.shape[0] >= self.minimum_samples:
            return samples
        message = (
            f"{name} is {samples.shape[0] / self.sample_rate * 1000:.1f} ms long, shorter than the model's "
            f"{self.minimum_samples / self.sample_rate * 1000:.1f} ms receptive field: zero-padded"
        )
        warnings.append(message)
        log.warning(message)
        return np.pad(samples, (0, self.minimum_samples - samples.shape[0]))

    @torch.inference_mode()
    def embed(self, samples: np.ndarray) -> np.ndarray:
        """Embedding [E] of mono samples [T] at the model's rate (chunked when long)."""
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).to(self.device)
        if waveform.shape[0] > self.model.chunk_seconds * self.sample_rate:
            embedding = self.model.embed_long(waveform)
        else:
            embedding = self.model(waveform[None])[0]
        return embedding.float().cpu().numpy()

    def compare_files(self, reference: str | Path, test: str | Path, start_time: float | None = None,
                      end_time: float | None = None) -> Score:
        """Full-reference score of one test file against its reference file (the same segment of both)."""
        ref_audio = self.load(reference, start_time, end_time)
        test_audio = self.load(test, start_time, end_time)
        return self.compare_loaded(ref_audio, test_audio, (str(Path(reference).resolve()), start_time, end_time))

    def compare_loaded(self, reference: LoadedAudio, test: LoadedAudio, reference_key: tuple | None = None) -> Score:
        """Score decoded audio; with a `reference_key` the reference's embedding is kept for the next test."""
        ref, tst, warnings = self.align(reference, test)
        key = None if reference_key is None else (*reference_key, ref.shape[0])
        ref_embedding = None if key is None else self._reference_embeddings.get(key)
        if ref_embedding is None:
            ref_embedding = self.embed(ref)
            if key is not None:
                self._remember(key, ref_embedding)
        distance = float(np.linalg.norm(self.embed(tst) - ref_embedding))
        return Score(distance, self.map_distance(distance, "full"), warnings)

    def compare_to_set(self, test: str | Path, reference_embeddings: np.ndarray, start_time: float | None = None,
                       end_time: float | None = None) -> Score:
        """Non-matching-reference score: mean distance of the test (segment) to every reference embedding."""
        if reference_embeddings.ndim != 2 or reference_embeddings.shape[0] == 0:
            raise AudioqualError("the non-matching reference set is empty")
        warnings: list[str] = []
        samples = self.check_length(self.load(test, start_time, end_time).samples, test)
        embedding = self.embed(samples)
        distance = float(np.linalg.norm(reference_embeddings - embedding[None], axis=1).mean())
        return Score(distance, self.map_distance(distance, "nmr"), warnings)

    def map_distance(self, distance: float, mode: str) -> dict[str, float]:
        """score (default mapping) and score_<kind> for every mapping fitted for this reference mode."""
        mapping = self.model.mapping
        if mapping is None or mapping.info.get("mode", "full") != mode:
            return {}
        scores = {f"score_{kind}": float(mapping(np.array([distance]), kind)[0]) for kind in mapping.kinds()}
        scores["score"] = scores[f"score_{mapping.default}"]
        return scores

    def _remember(self, key: tuple, embedding: np.ndarray) -> None:
        self._reference_embeddings[key] = embedding
        while len(self._reference_embeddings) > self._reference_cache_size:
            self._reference_embeddings.popitem(last=False)
