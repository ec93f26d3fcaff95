"""DNSMOS P.835 (Reddy, Gopal & Cutler, ICASSP 2022): no-reference SIG, BAK and OVRL MOS of speech.

The `speechmos` wheel ships Microsoft's DNSMOS ONNX models, but its module
imports librosa at import time (used only for the separate P.808 model). This
wrapper runs the P.835 model `dnsmos_models/sig_bak_ovr.onnx` from the
installed package with onnxruntime directly and replays `speechmos.dnsmos`'s
clip procedure:

- 16 kHz mono input; a clip shorter than 9.01 s is concatenated with itself
  until it is at least that long;
- 9.01 s windows with a 1 s hop (floor(seconds) - 9.01 windows + 1), each
  scored by the network, whose raw SIG/BAK/OVRL outputs are mapped to MOS by
  speechmos's fixed polynomials; the clip score is the mean over windows.

Samples are passed as they are (speechmos's file route does not clip either).
Only the test signal is scored; the reference of a pair is ignored. The P.808
MOS that speechmos also reports is not computed. The `personalized` option
uses the personalised-DNSMOS model and polynomials (`pdnsmos_models/`).
Install: `pip install --no-deps speechmos onnxruntime` (onnxruntime from PyPI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioqual.errors import AudioqualError
from audioqual.io import AudioLoadOptions, ChannelPolicy, prepare_samples
from audioqual.metrics.base import MetricCategory, MetricInfo, PairMetric

DNSMOS_RATE = 16000
INPUT_SECONDS = 9.01  # speechmos INPUT_LENGTH: the network's window
HOP_SECONDS = 1
BATCH_WINDOWS = 16  # windows per ONNX call, bounding memory on long clips
MODEL_IN_PACKAGE = {False: Path("dnsmos_models") / "sig_bak_ovr.onnx",
                    True: Path("pdnsmos_models") / "sig_bak_ovr.onnx"}  # fmt: skip
# speechmos.dnsmos get_polyfit_val: np.poly1d coefficients (highest power first) per output, raw -> MOS
POLYNOMIALS = {
    False: {
        "sig": (-0.08397278, 1.22083953, 0.0052439),
        "bak": (-0.13166888, 1.60915514, -0.39604546),
        "ovrl": (-0.06766283, 1.11546468, 0.04602535),
    },
    True: {
        "sig": (-0.01019296, 0.02751166, 1.19576786, -0.24348726),
        "bak": (-0.04976499, 0.44276479, -0.1644611, 0.96883132),
        "ovrl": (-0.00533021, 0.005101, 1.18058466, -0.11236046),
    },
}
VALID_RANGE = (
    "MOS about 1-5 (higher is better; polynomial-mapped, not clipped); speech at any rate, resampled to "
    "16 kHz, downmixed to mono; clips shorter than 9.01 s are repeated to that length; "
    "no-reference: the reference of a pair is ignored"
)


def speechmos_model_path(personalized: bool = False) -> Path:
    """The DNSMOS P.835 ONNX file inside the installed speechmos package, found without importing it.

    Without speechmos, pass model_path= to a local sig_bak_ovr.onnx instead.
    """
    from audioqual.packages import package_file

    return package_file("speechmos", MODEL_IN_PACKAGE[personalized])


def clip_windows(audio: np.ndarray, rate: int = DNSMOS_RATE) -> np.ndarray:
    """speechmos's windows of a mono clip: (windows, 9.01 s) after repeating a short clip."""
    if audio.size == 0:
        raise AudioqualError("DNSMOS: the clip has no samples")
    window = int(INPUT_SECONDS * rate)
    while len(audio) < window:
        audio = np.append(audio, audio)
    hops = int(np.floor(len(audio) / rate) - INPUT_SECONDS) + 1
    hop = HOP_SECONDS * rate
    windows = [audio[int(i * hop): int((i + INPUT_SECONDS) * hop)] for i in range(hops)]
    return np.stack([w for w in windows if len(w) >= window]).astype(np.float32)


class DNSMOSMetric(PairMetric):
    """DNSMOS P.835 of the test signal; headline "dnsmos_ovrl", also "dnsmos_sig" and "dnsmos_bak"."""

    info = MetricInfo(name="dnsmos_ovrl", higher_is_better=True, sample_rate=DNSMOS_RATE,
                      channels=ChannelPolicy.DOWNMIX.value, valid_range=VALID_RANGE,
                      category=MetricCategory.INDEPENDENT)  # fmt: skip

    runtime_attributes = ("_session",)

    def __init__(self, model_path: str | None = None, personalized: bool = False, num_threads: int = 1) -> None:
        super().__init__()
        self.model_path = model_path
        self.personalized = bool(personalized)
        self.num_threads = int(num_threads)
        self._session = None

    @property
    def session(self):
        """The onnxruntime session, created on first use (sessions are not picklable; copies make their own)."""
        if self._session is None:
            self._session = self._create_session()
        return self._session

    def ensure_ready(self) -> None:
        """Open the ONNX session now: a missing model file or onnxruntime fails before any work."""
        _ = self.session

    def _create_session(self):
        path = Path(self.model_path) if self.model_path else speechmos_model_path(self.personalized)
        if not path.is_file():
            raise AudioqualError(
                f"DNSMOS model file {path} is missing: reinstall speechmos (pip install --no-deps speechmos) "
                "or pass model_path= pointing to a local DNSMOS P.835 sig_bak_ovr.onnx"
            )
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise AudioqualError("DNSMOS needs onnxruntime: pip install onnxruntime") from err
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise AudioqualError(f"{path}: not a loadable ONNX model ({type(err).__name__}: {err})") from err

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        """DNSMOS of `test` (the reference is ignored: DNSMOS is a no-reference metric)."""
        return self.score(test, sample_rate)

    def score(self, samples: np.ndarray, sample_rate: int, source: str = "<test>") -> dict[str, float]:
        """SIG, BAK and OVRL MOS of one (channels, frames) or (frames,) signal at `sample_rate`."""
        options = AudioLoadOptions(sample_rate=DNSMOS_RATE, channels=ChannelPolicy.DOWNMIX, allow_silence=True)
        mono, _ = prepare_samples(samples, sample_rate, options, source=source)
        windows = clip_windows(mono[0])
        input_name = self.session.get_inputs()[0].name
        raw = np.concatenate([self.session.run(None, {input_name: windows[i: i + BATCH_WINDOWS]})[0]
                              for i in range(0, len(windows), BATCH_WINDOWS)])  # fmt: skip
        polys = POLYNOMIALS[self.personalized]
        means = {key: float(np.mean(np.polyval(polys[key], raw[:, column].astype(np.float64))))
                 for column, key in enumerate(("sig", "bak", "ovrl"))}  # the network's output order
        return {"dnsmos_ovrl": means["ovrl"], "dnsmos_sig": means["sig"], "dnsmos_bak": means["bak"]}
