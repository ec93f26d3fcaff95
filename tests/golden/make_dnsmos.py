"""Make tests/golden/dnsmos.npz: DNSMOS P.835 layers by speechmos's own code, for tests/test_encoder_dnsmos.py.

Run once, outside the project venv, where speechmos imports with its real dependencies:

    python3 -m venv /work/bpvenv
    /work/bpvenv/bin/pip install --no-deps speechmos==0.0.1.1
    /work/bpvenv/bin/pip install "numpy<2" librosa onnxruntime onnx requests   # onnxruntime 1.32.0, onnx 1.23.2
    /work/bpvenv/bin/python tests/golden/make_dnsmos.py

For each variant and each test clip, `speechmos.dnsmos.DNSMOS.__call__` runs as
published (its own clip repetition, 9.01 s windows, 1 s hop, P.835 polynomials).
Its primary onnxruntime session is swapped for one whose graph the `onnx`
package extended with the intermediate tensors as outputs; that session returns
speechmos the network output it asked for and records the rest per window. The
recorded tensors are reduced per window as the encoder documents (time mean of
the log power spectrum, per-channel max over time and frequency of each conv
block). The golden holds, per variant and clip, every layer's per-window
vectors, and speechmos's SIG/BAK/OVRL MOS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16000
GOLDEN = Path(__file__).with_name("dnsmos.npz")
PREFIX = "mos_estimator_logpow/"
TENSORS = {  # layer name -> (graph tensor, reduction); the encoder's LAYER_TENSORS
    "logpow": (PREFIX + "truediv:0", "time_mean"),
    "conv2d": (PREFIX + "conv2d/Relu:0", "max"),
    "conv2d_1": (PREFIX + "conv2d_1/Relu:0", "max"),
    "conv2d_2": (PREFIX + "conv2d_2/Relu:0", "max"),
    "conv2d_3": (PREFIX + "conv2d_3/Relu:0", "max"),
    "conv2d_4": (PREFIX + "conv2d_4/Relu:0", "max"),
    "conv2d_5": (PREFIX + "conv2d_5/Relu:0", "max"),
    "global_max_pooling2d": (PREFIX + "global_max_pooling2d/Max:0", None),
    "dense": (PREFIX + "dense/Relu:0", None),
    "dense_1": (PREFIX + "dense_1/Relu:0", None),
    "sig_bak_ovr": ("Identity:0", None),
}
VARIANTS = {
    "p835": ("dnsmos_models", False),
    "p835-personalized": ("pdnsmos_models", True),
}
CASES = (
    ("p835", "long"),
    ("p835", "short"),
    ("p835-personalized", "short"),
)  # 4 windows: a few s to test


def test_clips() -> dict[str, np.ndarray]:
    """Deterministic speech-like test clips at 16 kHz, float32 within [-1, 1].

    "long": 11.5 s (two windows); "short": 2.3 s, which speechmos repeats to 9.2 s (one window).
    A vowel-like harmonic tone with a moving pitch, syllable-rate amplitude modulation and pink-ish noise.
    """
    rng = np.random.default_rng(20240515)

    def clip(seconds: float, f0: float) -> np.ndarray:
        t = np.arange(int(seconds * RATE)) / RATE
        pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
        phase = 2 * np.pi * np.cumsum(pitch) / RATE
        voice = sum(np.sin(k * phase) / k for k in range(1, 12))
        envelope = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t)) ** 2
        noise = np.cumsum(rng.standard_normal(t.size)) * 0.002
        noise -= np.convolve(noise, np.ones(400) / 400, mode="same")
        signal = 0.15 * voice * envelope + 0.02 * noise
        return (signal / max(1.0, np.abs(signal).max() * 1.01)).astype(np.float32)

    return {"long": clip(11.5, 140.0), "short": clip(2.3, 210.0)}


class RecordingSession:
    """Stands in for speechmos's primary session: answers its run(), keeps every window's extra tensors."""

    def __init__(self, model_path: str) -> None:
        import onnx
        import onnxruntime as ort

        model = onnx.load(model_path)
        for tensor, _ in TENSORS.values():
            if tensor not in {output.name for output in model.graph.output}:
                model.graph.output.append(
                    onnx.helper.make_tensor_value_info(
                        tensor, onnx.TensorProto.FLOAT, None
                    )
                )
        self.session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        self.records: list[dict[str, np.ndarray]] = []

    def run(self, output_names, feeds):
        names = [tensor for tensor, _ in TENSORS.values()]
        values = dict(zip(names, self.session.run(names, feeds)))
        record = {}
        for layer, (tensor, reduction) in TENSORS.items():
            value = values[tensor]
            if reduction == "time_mean":
                value = value.mean(axis=1)
            elif reduction == "max":
                value = value.max(axis=(2, 3))
            record[layer] = value[0].astype(np.float32)
        self.records.append(record)
        return [values["Identity:0"]]


def main() -> None:
    import importlib.metadata

    import onnxruntime
    import speechmos
    from speechmos import dnsmos

    package = Path(speechmos.__file__).parent
    golden: dict[str, np.ndarray] = {}
    clips = test_clips()
    for variant, name in CASES:
        folder, personalized = VARIANTS[variant]
        audio = clips[name]
        model = dnsmos.DNSMOS(str(package / folder / "sig_bak_ovr.onnx"),
                              str(package / "dnsmos_models" / "model_v8.onnx"))  # fmt: skip
        model.onnx_sess = RecordingSession(str(package / folder / "sig_bak_ovr.onnx"))
        result = model(audio, RATE, personalized)
        for layer in TENSORS:
            golden[f"{variant}/{name}/{layer}"] = np.stack(
                [r[layer] for r in model.onnx_sess.records]
            )
        golden[f"{variant}/{name}/mos"] = np.array(
            [result["sig_mos"], result["bak_mos"], result["ovrl_mos"]], dtype=np.float64
        )
        print(
            variant,
            name,
            len(model.onnx_sess.records),
            "windows",
            golden[f"{variant}/{name}/mos"],
        )
    golden["versions"] = np.array([f"speechmos=={importlib.metadata.version('speechmos')}",
                                   f"onnxruntime=={onnxruntime.__version__}"])  # fmt: skip
    np.savez_compressed(GOLDEN, **golden)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
