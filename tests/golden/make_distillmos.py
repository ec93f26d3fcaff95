"""Golden outputs of the original distillmos 0.9.1 for tests/test_encoder_distillmos.py.

Environment it was run in (a venv apart from the project's: the package needs xls_r_sqa):
    python3 -m venv /work/goldvenv
    /work/goldvenv/bin/pip install torch==2.13.0 numpy
    /work/goldvenv/bin/pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0
    /work/goldvenv/bin/python tests/golden/make_distillmos.py

`distillmos.sqa` imports torchaudio only to read files; an empty stand-in module
is used for it. The model is the package's `ConvTransformerSQAModel()` (weights
from the wheel, eval mode, `segmenting_in_forward=True`); forward hooks record
its CNN output, the transformer's input and every encoder layer's output.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from signals import voice_like

FRAMES = np.arange(0, 384, 48)  # frames kept of the 384 of a crop


def main() -> None:
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    from distillmos import ConvTransformerSQAModel

    torch.set_num_threads(1)
    model = ConvTransformerSQAModel().eval()
    captured: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(module, inputs, output):
            captured[name] = output.detach()
        return hook

    model.cnn.register_forward_hook(keep("cnn"))
    model.transformer_pool_attn.transformer.transformer_encoder.layers[0].register_forward_hook(
        lambda module, inputs, output: captured.__setitem__("layer_input", inputs[0].detach())
    )
    for index, layer in enumerate(model.transformer_pool_attn.transformer.transformer_encoder.layers):
        layer.register_forward_hook(keep(f"layer{index}"))
    with torch.no_grad():
        short = model(torch.from_numpy(voice_like(3.0))[None])  # one crop, zero-padded from 3 s to 7.68 s
        short_states = dict(captured)
        long = model(torch.from_numpy(voice_like(9.5, seed=3))[None])  # three overlapping crops
    golden = {
        "frames": FRAMES,
        "mos_short": short.numpy(),
        "mos_long": long.numpy(),
        "cnn_frames": short_states["cnn"][0].T.numpy()[FRAMES],  # the package's cnn gives [B, 1024, 384]
        "cnn_mean": short_states["cnn"][0].T.numpy().mean(axis=0),
        "input_frames": short_states["layer_input"][0].numpy()[FRAMES],
    }
    for index in range(7):
        golden[f"layer{index}_frames"] = short_states[f"layer{index}"][0].numpy()[FRAMES]
        golden[f"layer{index}_mean"] = short_states[f"layer{index}"][0].numpy().mean(axis=0)
    golden = {key: np.asarray(value, dtype=np.int64 if key == "frames" else np.float32) for key, value in golden.items()}
    golden["versions"] = np.array(f"distillmos 0.9.1, xls-r-sqa 0.1.0, torch {torch.__version__}")
    target = Path(__file__).resolve().parent / "distillmos.npz"
    np.savez_compressed(target, **golden)
    print(target, golden["mos_short"], golden["mos_long"])


if __name__ == "__main__":
    main()
