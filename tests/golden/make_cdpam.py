"""Golden outputs of the original cdpam 0.0.6 package for tests/test_encoder_cdpam.py.

Run in the project venv (cdpam is installed there without dependencies, as in CI):
    .venv/bin/pip install --no-deps cdpam==0.0.6
    PYTHONPATH=. .venv/bin/python tests/golden/make_cdpam.py

The package is driven as tests/test_cdpam.py drives it: librosa and resampy
(imported at import time, unused by the forward path) are replaced by empty
stand-in modules when absent, and its `torch.load` gets `weights_only=False`
as torch < 2.6 did. `package_states` runs the package's own
`CDPAM(dev="cpu").model.base_encoder` on int16-scaled samples
(`cdpam.load_audio`'s round(x * 32768)); forward hooks on its batch-norm
modules record each layer's output, to which the layer's next operation, the
package's leaky ReLU (slope 0.1), is applied.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from signals import voice_like

SAMPLES = 40 * 256  # 0.46 s at 22.05 kHz: a whole number of the port's 256-sample frames
WINDOWS = (0, 17, 39)  # 256-sample windows whose per-layer means are kept


def package_states(scaled: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each conv layer's output [channels, frames] and the acoustics embedding [512] from the cdpam package."""
    saved = {name: sys.modules.get(name) for name in ("librosa", "resampy")}
    for name in saved:
        if importlib.util.find_spec(name) is None:
            sys.modules[name] = types.ModuleType(name)
    original_load = torch.load
    torch.load = functools.partial(original_load, weights_only=False)
    before = set(sys.modules)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its `import numpy.matlib`
            cdpam = importlib.import_module("cdpam")
        encoder = cdpam.CDPAM(dev="cpu").model.base_encoder.eval()
        outputs: list[torch.Tensor] = []
        for norm in encoder.ebatch:
            norm.register_forward_hook(lambda module, inputs, output: outputs.append(F.leaky_relu(output, 0.1)[0]))
        with torch.no_grad():
            _, acoustics, _ = encoder(torch.from_numpy(scaled)[None, None])
    finally:
        torch.load = original_load
        for name in set(sys.modules) - before:
            if name == "cdpam" or name.startswith("cdpam."):
                del sys.modules[name]
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
    return outputs, F.normalize(acoustics, dim=1)[0]


def scaled_signal() -> np.ndarray:
    """The test input at 22.05 kHz, scaled as cdpam.load_audio scales (round(x * 32768), float32)."""
    samples = voice_like(SAMPLES / 22050, rate=22050, seed=5)[:SAMPLES]
    return np.float32(np.round(samples.astype(np.float64) * 32768))


def main() -> None:
    torch.set_num_threads(1)
    outputs, acoustics = package_states(scaled_signal())
    golden = {"windows": np.array(WINDOWS), "acoustics": acoustics.numpy()}
    for index, output in enumerate(outputs):
        step = SAMPLES // output.shape[1]  # input samples per frame of this layer
        per_window = output.reshape(output.shape[0], -1, 256 // step).mean(dim=2).T  # [40 windows, channels]
        golden[f"layer{index}_windows"] = per_window.numpy()[list(WINDOWS)]
        golden[f"layer{index}_mean"] = output.mean(dim=1).numpy()
    golden = {key: np.asarray(value, dtype=np.int64 if key == "windows" else np.float32) for key, value in golden.items()}
    golden["versions"] = np.array(f"cdpam 0.0.6, torch {torch.__version__}")
    target = Path(__file__).resolve().parent / "cdpam.npz"
    np.savez_compressed(target, **golden)
    print(target, acoustics[:4])


if __name__ == "__main__":
    main()
