"""ViSQOL v3 (Chinen et al., QoMEX 2020) through the pure-Python `visqol-python` package.

Audio mode compares 48 kHz signals with 32 gammatone bands and maps similarity to
MOS-LQO with the bundled SVR model; speech mode works at 16 kHz with the lattice
(C++ default, needs `visqol-python[lattice]`) or polynomial mapping. Inputs at
any rate are downmixed to mono (as ViSQOL itself does) and resampled with soxr.
Install: `pip install "visqol-python[accel]"` (numba makes it ~6x faster).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioqual.errors import AudioInputError, AudioqualError
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio, prepare_samples
from audioqual.metrics.base import MetricInfo, PairMetric

MODE_RATES = {"audio": 48000, "speech": 16000}
SPEECH_MAPPERS = ("auto", "lattice", "polynomial")
MIN_SECONDS = 0.5  # ViSQOL's patches need roughly this much audio
MAX_SECONDS = 180.0
"""Longest pair scored by default. visqol-python holds whole-signal gammatone spectrograms: about 9 MB
and 0.17 s of CPU per second of audio (a 10-minute pair took over 100 s and 5.5 GB), so longer pairs
are refused with a message instead of exhausting memory. Raise it with `--option max_seconds=N`,
or cut long files into segments with start_time/end_time."""


class ViSQOLMetric(PairMetric):
    """Full-reference ViSQOL v3 MOS-LQO (1-5, higher is better); headline key "visqol_moslqo".

    Also returns "visqol_vnsim" (mean neurogram similarity, 0-1).
    """

    runtime_attributes = ("_api",)

    def __init__(self, mode: str = "audio", speech_mapper: str = "auto", search_window: int = 60,
                 max_seconds: float = MAX_SECONDS) -> None:
        super().__init__()
        if mode not in MODE_RATES:
            raise AudioqualError(f"ViSQOL mode must be one of {sorted(MODE_RATES)}, got {mode!r}")
        if speech_mapper not in SPEECH_MAPPERS:
            raise AudioqualError(f"speech_mapper must be one of {SPEECH_MAPPERS}, got {speech_mapper!r}")
        self.mode = mode
        self.speech_mapper = speech_mapper
        self.search_window = search_window
        self.max_seconds = float(max_seconds)
        self.info = MetricInfo(
            name="visqol_moslqo",
            higher_is_better=True,
            sample_rate=MODE_RATES[mode],
            channels=ChannelPolicy.DOWNMIX.value,
            valid_range=f"MOS-LQO 1-5; {mode} mode at {MODE_RATES[mode] // 1000} kHz; "
            f"pairs of at least {MIN_SECONDS} s",
            min_seconds=MIN_SECONDS,
            max_seconds=self.max_seconds,
        )
        self._api = None

    @property
    def api(self):
        """The visqol-python API object, created on first use (it is not picklable, copies make their own)."""
        if self._api is None:
            self._api = _create_api(self.mode, self.speech_mapper, self.search_window)
        return self._api

    def ensure_ready(self) -> None:
        """Create the ViSQOL instance now, so a missing package or runtime fails before any work."""
        _ = self.api

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        """MOS-LQO of `test` against `reference`, both (channels, frames) or (frames,) at `sample_rate`."""
        ref = self._prepare(reference, sample_rate, "<reference>", allow_silence=False)
        deg = self._prepare(test, sample_rate, "<test>", allow_silence=True)
        result = self.api.measure_from_arrays(ref.astype(np.float64), deg.astype(np.float64), self.info.sample_rate)
        return {"visqol_moslqo": float(result.moslqo), "visqol_vnsim": float(result.vnsim)}

    def score_files(self, reference: str | Path, test: str | Path) -> dict[str, float]:
        """Load, downmix and resample two files, then score them; errors name the file."""
        options = AudioLoadOptions(sample_rate=self.info.sample_rate, channels=ChannelPolicy.DOWNMIX)
        ref, rate = load_audio(reference, options)
        deg, _ = load_audio(test, AudioLoadOptions(sample_rate=self.info.sample_rate, channels=ChannelPolicy.DOWNMIX,
                                                   allow_silence=True))  # fmt: skip
        _check_length(ref, rate, reference, self.max_seconds)
        _check_length(deg, rate, test, self.max_seconds)
        return self.score_pair(ref, deg, rate)

    def _prepare(self, samples: np.ndarray, rate: int, name: str, allow_silence: bool) -> np.ndarray:
        options = AudioLoadOptions(sample_rate=self.info.sample_rate, channels=ChannelPolicy.DOWNMIX,
                                   allow_silence=allow_silence)  # fmt: skip
        mono, out_rate = prepare_samples(samples, rate, options, source=name)
        _check_length(mono, out_rate, name, self.max_seconds)
        return mono[0]


def _check_length(samples: np.ndarray, rate: int, source: str | Path, max_seconds: float = MAX_SECONDS) -> None:
    seconds = samples.shape[-1] / rate
    if samples.shape[-1] < MIN_SECONDS * rate:
        raise AudioInputError(source, f"is {seconds:.3f} s long; ViSQOL needs at least {MIN_SECONDS} s")
    if seconds > max_seconds:
        raise AudioInputError(source, f"is {seconds:.1f} s long, over ViSQOL's limit of {max_seconds:g} s "
                                      f"(about 9 MB of memory per second): score segments (start_time/end_time) "
                                      f"or raise the limit with --option max_seconds=N")


def _create_api(mode: str, speech_mapper: str, search_window: int):
    try:
        from visqol import VisqolApi
    except ImportError as err:
        raise AudioqualError('ViSQOL needs the visqol-python package: pip install "visqol-python[accel]"') from err
    api = VisqolApi()
    lattice = {"auto": None, "lattice": True, "polynomial": False}[speech_mapper]
    try:
        if mode == "speech":
            api.create(mode="speech", search_window=search_window, use_lattice_model=lattice)
        else:
            api.create(mode="audio", search_window=search_window)
    except ImportError as err:
        raise AudioqualError(
            f'ViSQOL speech mode with the lattice mapper needs: pip install "visqol-python[lattice]" ({err})'
        ) from err
    return api
