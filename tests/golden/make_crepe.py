"""Golden outputs of the original torchcrepe 0.0.24 for tests/test_encoder_crepe.py.

Environment it was run in (a venv apart from the project's: the package imports librosa):
    python3 -m venv /work/goldvenv
    /work/goldvenv/bin/pip install torch==2.13.0 librosa==0.11.0 tqdm numpy scipy
    /work/goldvenv/bin/pip install --no-deps torchcrepe==0.0.24
    /work/goldvenv/bin/python tests/golden/make_crepe.py

torchcrepe imports resampy and torchaudio at import time but needs neither at
16 kHz; empty stand-in modules are used for them. Frames come from
`torchcrepe.preprocess(audio, 16000, hop_length=160, pad=True)`, the activation
from `torchcrepe.infer(frames, model)`, and each block's output is recorded by
wrapping the model's own `Crepe.layer` method.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from signals import voice_like

SECONDS = {"tiny": 2.0, "full": 0.5}  # full costs ~40x tiny: a short clip keeps the test fast
KEEP = {"tiny": np.arange(0, 201, 20), "full": np.array([0, 25, 50])}


def run(torchcrepe, variant: str) -> dict[str, np.ndarray]:
    audio = torch.from_numpy(voice_like(SECONDS[variant], seed=2))[None]
    frames = torch.cat(list(torchcrepe.preprocess(audio, 16000, hop_length=160, pad=True)))
    torchcrepe.load.model("cpu", variant)
    model = torchcrepe.infer.model.eval()
    blocks: list[torch.Tensor] = []
    original_layer = model.layer
    model.layer = lambda *args, **kwargs: blocks.append(original_layer(*args, **kwargs)) or blocks[-1]
    with torch.no_grad():
        activation = torchcrepe.infer(frames, variant)
    keep = KEEP[variant]
    out = {"frames": keep, "input_frames": frames.numpy()[keep, ::16], "activation": activation.numpy()[keep],
           "activation_mean": activation.numpy().mean(axis=0), "conv1_position_mean": blocks[0].mean(dim=(2, 3)).numpy()[keep]}  # fmt: skip
    for index, block in enumerate(blocks[1:], start=2):
        flat = block.permute(0, 2, 1, 3).reshape(block.shape[0], -1).numpy()
        out[f"conv{index}_mean"] = flat.mean(axis=0)
        out[f"conv{index}_frame"] = flat[keep[1]]
    return {f"{variant}/{key}": np.asarray(value, dtype=np.int64 if key == "frames" else np.float32)
            for key, value in out.items()}  # fmt: skip


def main() -> None:
    for name in ("resampy", "torchaudio"):
        sys.modules.setdefault(name, types.ModuleType(name))
    import torchcrepe

    torch.set_num_threads(1)
    golden = {**run(torchcrepe, "tiny"), **run(torchcrepe, "full")}
    golden["versions"] = np.array(f"torchcrepe 0.0.24, torch {torch.__version__}")
    target = Path(__file__).resolve().parent / "crepe.npz"
    np.savez_compressed(target, **golden)
    print(target, {key: value.shape for key, value in golden.items()})


if __name__ == "__main__":
    main()
