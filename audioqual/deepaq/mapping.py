"""Mappings from embedding distance to a subjective scale, fitted on labelled data and saved with the model.

Seed 003 (sec. 4.2): distances rank well but are not linear in MOS/MUSHRA, so
a cubic polynomial and a small MLP (three linear layers with ReLU and Sigmoid
in between) are fitted by least squares; the paper reports the cubic. Inputs
(and the MLP's targets) are standardised for a well-conditioned fit, and
predictions are clipped to the range of scores seen in the fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from audioqual.errors import AudioqualError, ModelLoadError
from audioqual.eval.mapping import CubicMapping, fit_cubic, fitting_points

MAPPING_FILE = "mapping.json"
MLP_FILE = "mapping_mlp.safetensors"


class MLPMapping(nn.Module):
    """Linear -> ReLU -> Linear -> Sigmoid -> Linear on a standardised distance."""

    def __init__(self, hidden: int = 16, center: float = 0.0, scale: float = 1.0, y_mean: float = 0.0, y_std: float = 1.0):
        super().__init__()
        self.hidden = hidden
        self.center, self.scale, self.y_mean, self.y_std = center, scale, y_mean, y_std
        self.net = nn.Sequential(
            nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.Sigmoid(), nn.Linear(hidden, 1)
        )

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        z = (distance - self.center) / self.scale
        return self.net(z[:, None])[:, 0] * self.y_std + self.y_mean

    def predict(self, distance: np.ndarray) -> np.ndarray:
        """NumPy in, NumPy out (float64), any shape."""
        distance = np.asarray(distance, dtype=np.float64)
        with torch.no_grad():
            out = self(torch.as_tensor(distance.ravel(), dtype=torch.float32))
        return out.numpy().astype(np.float64).reshape(distance.shape)

    def standardisation(self) -> dict[str, float]:
        return {"center": self.center, "scale": self.scale, "y_mean": self.y_mean, "y_std": self.y_std}


def fit_mlp(x: np.ndarray, y: np.ndarray, hidden: int = 16, seed: int = 0, iterations: int = 300) -> MLPMapping:
    """Least-squares fit of an MLPMapping (L-BFGS, full batch, deterministic seed)."""
    x, y = fitting_points(x, y, "MLP", "distances")
    torch.manual_seed(seed)
    mapping = MLPMapping(hidden, float(x.mean()), float(x.std()), float(y.mean()), float(y.std()) or 1.0)
    inputs = torch.as_tensor(x, dtype=torch.float32)
    targets = torch.as_tensor(y, dtype=torch.float32)
    optimizer = torch.optim.LBFGS(mapping.parameters(), lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.mean((mapping.forward(inputs) - targets) ** 2)
        loss.backward()
        return loss

    optimizer.step(closure)
    return mapping.eval()


@dataclass
class DistanceMapping:
    """The fitted mappings of one model; `default` names the one used for the `score` column."""

    cubic: CubicMapping | None = None
    mlp: MLPMapping | None = None
    default: str = "cubic"
    score_range: tuple[float, float] = (1.0, 5.0)
    info: dict = field(default_factory=dict)  # what it was fitted on (scale name, rows, source)

    def kinds(self) -> list[str]:
        return [k for k in ("cubic", "mlp") if getattr(self, k) is not None]

    def __call__(self, distance: np.ndarray, kind: str | None = None) -> np.ndarray:
        """Map distances to the subjective scale with one mapping (default: `self.default`)."""
        kind = kind or self.default
        distance = np.asarray(distance, dtype=np.float64)
        if kind == "cubic" and self.cubic is not None:
            mapped = self.cubic(distance)
        elif kind == "mlp" and self.mlp is not None:
            mapped = self.mlp.predict(distance)
        else:
            raise AudioqualError(f"no {kind!r} mapping fitted; available: {self.kinds()}")
        return np.clip(mapped, *self.score_range)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        payload: dict = {"default": self.default, "score_range": list(self.score_range), "info": self.info}
        if self.cubic is not None:
            payload["cubic"] = {
                "coefficients": list(self.cubic.coefficients),
                "center": self.cubic.center,
                "scale": self.cubic.scale,
            }
        if self.mlp is not None:
            payload["mlp"] = {"hidden": self.mlp.hidden, **self.mlp.standardisation()}
            save_file({k: v.detach().contiguous() for k, v in self.mlp.state_dict().items()}, directory / MLP_FILE)
        (directory / MAPPING_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> DistanceMapping | None:
        """The mapping saved in a model directory, or None when none was fitted."""
        path = Path(directory) / MAPPING_FILE
        if not path.exists():
            return None
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            cubic = None
            if "cubic" in payload:
                c = payload["cubic"]
                cubic = CubicMapping(tuple(float(v) for v in c["coefficients"]), float(c["center"]), float(c["scale"]))
            mlp = None
            if "mlp" in payload:
                m = payload["mlp"]
                mlp = MLPMapping(int(m["hidden"]), m["center"], m["scale"], m["y_mean"], m["y_std"])
                mlp.load_state_dict(load_file(Path(directory) / MLP_FILE))
                mlp.eval()
        except (OSError, KeyError, ValueError, RuntimeError, json.JSONDecodeError) as err:
            raise ModelLoadError(f"{path}: cannot load the distance mapping ({err})") from err
        return cls(cubic, mlp, payload.get("default", "cubic"), tuple(payload["score_range"]), payload.get("info", {}))


def fit_distance_mapping(
    distances: np.ndarray, scores: np.ndarray, kinds: tuple[str, ...] = ("cubic", "mlp"), info: dict | None = None
) -> DistanceMapping:
    """Fit the requested mappings of distances to subjective scores (cubic is the default when fitted)."""
    distances = np.asarray(distances, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not (np.isfinite(distances).all() and np.isfinite(scores).all()):
        raise AudioqualError("distance mapping: distances and scores must be finite")
    cubic = fit_cubic(distances, scores) if "cubic" in kinds else None
    mlp = fit_mlp(distances, scores) if "mlp" in kinds else None
    if cubic is None and mlp is None:
        raise AudioqualError(f"no known mapping kind in {kinds}")
    return DistanceMapping(
        cubic=cubic,
        mlp=mlp,
        default="cubic" if cubic is not None else "mlp",
        score_range=(float(scores.min()), float(scores.max())),
        info=dict(info or {}, rows=int(scores.size)),
    )
