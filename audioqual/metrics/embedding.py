"""Raw reference-test distance in any backbone's layers: the untrained baseline of every learned metric.

For each layer, the distance between the reference's and the test's states:
`pooled` compares the time-mean vectors, `frames` compares time-aligned
frames (the test is first shifted by the lag that best aligns it with the
reference, as found on the waveforms) and averages the per-frame distances.
Cosine distance (1 - cosine similarity) is independent of a layer's scale;
Euclidean is also offered. Lower is better. Each layer is reported as
`layer_<index>`; the headline value is the layer chosen by `layer`
(default: the last).
"""

from __future__ import annotations

import numpy as np

from audioqual.errors import AudioInputError, AudioqualError
from audioqual.metrics.base import MetricInfo, PairMetric

DISTANCES = ("cosine", "euclidean")
MODES = ("pooled", "frames")
MAX_LAG_SECONDS = 0.5


class EmbeddingDistanceMetric(PairMetric):
    """Per-layer distance between a reference's and a test's embeddings in one backbone."""

    def __init__(
        self, backbone: str = "musicnn", layer: int = -1, distance: str = "cosine", mode: str = "pooled"
    ) -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise AudioqualError(f"distance must be one of {DISTANCES}, got {distance!r}")
        if mode not in MODES:
            raise AudioqualError(f"mode must be one of {MODES}, got {mode!r}")
        from audioqual.backbones import Backbone

        self.backbone_name = str(backbone)
        self.encoder = Backbone.from_pretrained(self.backbone_name).eval()
        layers = self.encoder.num_hidden_states
        if not -layers <= layer < layers:
            raise AudioqualError(f"layer {layer} out of range: {self.backbone_name} has {layers} layers")
        self.layer = layer % layers
        self.distance = distance
        self.mode = mode
        self.info = MetricInfo(
            name="embedding-distance",
            higher_is_better=False,
            sample_rate=self.encoder.sample_rate,
            channels="downmix",
            valid_range=(
                f"{distance} distance >= 0 (0 = same embedding; lower is better) in {self.backbone_name}'s layers; "
                f"inputs resampled to {self.encoder.sample_rate} Hz, downmixed to mono"
            ),
        )

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("encoder")  # rebuilt from its name in the worker (Ray, process pools)
        return state

    def __setstate__(self, state: dict) -> None:
        from audioqual.backbones import Backbone

        self.__dict__.update(state)
        self.encoder = Backbone.from_pretrained(self.backbone_name).eval()

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        import torch

        if sample_rate != self.encoder.sample_rate:
            raise AudioqualError(f"embedding-distance expects {self.encoder.sample_rate} Hz input, got {sample_rate}")
        ref, deg = _mono(reference), _mono(test)
        minimum = self.encoder.minimum_samples()
        for name, signal in (("reference", ref), ("test", deg)):
            if signal.shape[0] < minimum:
                raise AudioInputError(
                    f"<{name}>", f"{signal.shape[0]} samples is shorter than {self.backbone_name}'s minimum {minimum}"
                )
        if self.mode == "frames":
            ref, deg = align_to_reference(ref, deg, int(MAX_LAG_SECONDS * sample_rate), minimum)
        with torch.inference_mode():
            out_ref = self.encoder(torch.from_numpy(ref)[None])
            out_deg = self.encoder(torch.from_numpy(deg)[None])
        if self.mode == "pooled":
            distances = _distance(out_ref.pooled()[:, 0], out_deg.pooled()[:, 0], self.distance)  # [L]
        else:
            frames = min(out_ref.hidden_states.shape[2], out_deg.hidden_states.shape[2])
            a, b = out_ref.hidden_states[:, 0, :frames], out_deg.hidden_states[:, 0, :frames]
            distances = _distance(a, b, self.distance).mean(dim=1)  # [L, F] -> [L]
        values = distances.double().numpy()
        scores = {self.info.name: float(values[self.layer])}
        scores.update({f"layer_{index}": float(value) for index, value in enumerate(values)})
        return scores


def align_to_reference(reference: np.ndarray, test: np.ndarray, max_lag: int, minimum: int) -> tuple:
    """Both signals cut to their overlap after shifting the test by its best lag (within +-max_lag)."""
    from audioqual.io.align import estimate_lag

    lag = estimate_lag(reference, test, max_lag)
    if lag > 0:
        test = test[lag:]
    elif lag < 0:
        reference = reference[-lag:]
    frames = min(reference.shape[0], test.shape[0])
    if frames < minimum:
        return reference, test  # the overlap is too short to align on: compare as given
    return reference[:frames], test[:frames]


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=0) if samples.ndim == 2 else samples


def _distance(a, b, kind: str):
    import torch

    if kind == "euclidean":
        return torch.linalg.vector_norm(a - b, dim=-1)
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)
    return 1.0 - cosine
