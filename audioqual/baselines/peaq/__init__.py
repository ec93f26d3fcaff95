"""PEAQ Basic version (ITU-R BS.1387-1): objective difference grade of a test signal
against its reference.

Written from the standard and P. Kabal's report "An examination and interpretation of
ITU-R BS.1387: Perceptual Evaluation of Audio Quality" (McGill, 2002/2003); where the
standard is ambiguous it follows Kabal's PQevalAudio, except the EHS spectra and peak search
and the bandwidth bookkeeping, which follow GstPEAQ (see `movs`). Inputs are 48 kHz, time-aligned,
float signals with 1.0 the full scale of 16-bit audio (a full-scale sine plays at 92 dB
SPL). No time alignment or resampling happens here.

Stages: `ear_model` (FFT ear model) -> `preprocessing` (level/pattern adaptation,
modulation) -> `movs` (11 MOVs with the standard's frame selection) -> `network`
(scaling, neural network, DI -> ODG).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from audioqual.baselines.peaq.ear_model import (
    HOP_SIZE,
    SAMPLE_RATE,
    analyse_frames,
    frame_signal,
    spread_time,
    total_loudness,
)
from audioqual.baselines.peaq.movs import (
    DELAY_FRAMES,
    MOD_DIFF_WINDOW,
    MOV_NAMES,
    FramePrecursors,
    average_movs,
    bandwidth,
    binaural_detection,
    data_boundary,
    detection_probability,
    energy_threshold_reached,
    error_harmonic_structure,
    modulation_difference,
    noise_loudness,
    noise_patterns,
    noise_to_mask,
    select_frames,
)
from audioqual.baselines.peaq.network import distortion_index, objective_difference_grade
from audioqual.baselines.peaq.preprocessing import level_pattern_adaptation, modulation
from audioqual.errors import AudioqualError

MIN_SAMPLES = (DELAY_FRAMES + MOD_DIFF_WINDOW) * HOP_SIZE  # 28672 samples, ~0.6 s
"""Shortest input: the modulation MOVs skip the first 0.5 s and need a 4-frame window after it."""


@dataclass(frozen=True)
class PeaqResult:
    """ODG in (-3.98, 0.22) (0 = imperceptible, -4 = very annoying), DI and the 11 MOVs."""

    odg: float
    di: float
    movs: dict[str, float] = field(default_factory=dict)


def _as_channels(signal: np.ndarray, role: str) -> np.ndarray:
    array = np.asarray(signal)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise AudioqualError(f"PEAQ {role} must be (channels, frames) or (frames,), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise AudioqualError(
            f"PEAQ {role} must hold float samples with 1.0 = full scale, got dtype {array.dtype} "
            "(divide 16-bit PCM by 32768 first)"
        )
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise AudioqualError(f"PEAQ {role} contains {bad} NaN or Inf sample(s)")
    return array


def validate_pair(reference: np.ndarray, test: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked (channels, frames) float arrays of a pair, trimmed to the shorter length."""
    if sample_rate != SAMPLE_RATE:
        raise AudioqualError(f"PEAQ runs at {SAMPLE_RATE} Hz only, got {sample_rate} Hz; resample first")
    ref = _as_channels(reference, "reference")
    tst = _as_channels(test, "test")
    if ref.shape[0] > 2:
        raise AudioqualError(f"PEAQ is defined for mono and stereo signals, got {ref.shape[0]} channels")
    if ref.shape[0] != tst.shape[0]:
        raise AudioqualError(
            f"PEAQ reference and test differ in channel count ({ref.shape[0]} vs {tst.shape[0]})"
        )
    if ref.shape[1] != tst.shape[1]:
        length = min(ref.shape[1], tst.shape[1])
        warnings.warn(
            f"PEAQ reference ({ref.shape[1]} samples) and test ({tst.shape[1]} samples) differ in length; "
            f"both are trimmed to {length}",
            stacklevel=3,
        )
        ref, tst = ref[:, :length], tst[:, :length]
    if ref.shape[1] < MIN_SAMPLES:
        raise AudioqualError(
            f"PEAQ needs at least {MIN_SAMPLES} samples ({MIN_SAMPLES / SAMPLE_RATE:.2f} s at 48 kHz), "
            f"got {ref.shape[1]}"
        )
    return ref, tst


def _spectral_precursors(
    reference: np.ndarray, test: np.ndarray, num_frames: int, block_frames: int
) -> dict[str, np.ndarray]:
    """Frame-local precursors of a (channels, samples) pair, computed a block of frames at a
    time so that only band-domain arrays are kept for the whole signal."""
    parts: dict[str, list[np.ndarray]] = {}
    for first in range(0, num_frames, block_frames):
        stop = min(first + block_frames, num_frames)
        frames = np.stack([frame_signal(reference, first, stop), frame_signal(test, first, stop)])
        spectra = analyse_frames(frames)
        power, weighted = spectra.power_spectrum, spectra.weighted_spectrum
        bw_ref, bw_test = bandwidth(power[0], power[1])
        energetic = energy_threshold_reached(frames)
        block = {
            "unsmeared": spectra.unsmeared_excitation,
            "noise": noise_patterns(weighted[0], weighted[1]),
            "bw_ref": bw_ref,
            "bw_test": bw_test,
            "ehs": error_harmonic_structure(weighted[0], weighted[1]),
            "ehs_valid": energetic[0] | energetic[1],
        }
        for key, value in block.items():
            parts.setdefault(key, []).append(value)
    frame_axis = {"unsmeared": -2, "noise": -2}  # (..., frames, bands); the others end in frames
    return {key: np.concatenate(values, axis=frame_axis.get(key, -1)) for key, values in parts.items()}


def frame_precursors(
    reference: np.ndarray, test: np.ndarray, num_frames: int, block_frames: int = 256
) -> FramePrecursors:
    """Per-frame MOV precursors of a validated (channels, samples) pair over its first `num_frames` frames."""
    local = _spectral_precursors(reference, test, num_frames, block_frames)
    unsmeared = local["unsmeared"]  # (2, channels, frames, bands)
    excitation = spread_time(unsmeared)
    adapted_ref, adapted_test = level_pattern_adaptation(excitation[0], excitation[1])
    mod, avg_loudness = modulation(unsmeared)
    mod_diff1, mod_diff2, mod_weight = modulation_difference(mod[0], mod[1], avg_loudness[0])
    loudness = total_loudness(excitation)
    nmr_avg, nmr_max = noise_to_mask(local["noise"], excitation[0])
    probability, steps = detection_probability(excitation[0], excitation[1])
    frame_probability, frame_steps = binaural_detection(probability, steps)
    return FramePrecursors(
        bandwidth_ref=local["bw_ref"],
        bandwidth_test=local["bw_test"],
        nmr_avg=nmr_avg,
        nmr_max=nmr_max,
        mod_diff1=mod_diff1,
        mod_diff2=mod_diff2,
        mod_weight=mod_weight,
        noise_loudness=noise_loudness(mod[0], mod[1], adapted_ref, adapted_test),
        loudness_ref=loudness[0],
        loudness_test=loudness[1],
        ehs=local["ehs"],
        ehs_valid=local["ehs_valid"],
        detection_probability=frame_probability,
        detection_steps=frame_steps,
    )


def peaq_movs(reference: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """The 11 Basic-version MOVs of a (channels, frames) pair; channels are averaged as the standard does."""
    ref, tst = validate_pair(reference, test, sample_rate)
    boundary = data_boundary(ref)
    if boundary is None:
        raise AudioqualError("PEAQ reference is silent: no 5 successive samples sum above 200/32768")
    selection = select_frames(*boundary)
    if selection.last < selection.first:
        raise AudioqualError(
            f"PEAQ reference holds audio only in samples {boundary[0]}..{boundary[1]}, less than one frame"
        )
    if selection.last - selection.mod_diff_first + 1 < MOD_DIFF_WINDOW:
        warnings.warn(
            "PEAQ reference audio ends less than 0.6 s after the start: the modulation-difference and "
            "noise-loudness MOVs have no frames to average and are set to 0",
            stacklevel=2,
        )
    precursors = frame_precursors(ref, tst, selection.last + 1)
    return average_movs(precursors, selection)


def peaq_basic(
    reference: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE, clip_movs: bool = False
) -> PeaqResult:
    """PEAQ Basic ODG, DI and MOVs of a 48 kHz, time-aligned (channels, frames) or (frames,) pair.

    `clip_movs` limits the scaled MOVs to [0, 1] before the network (off in the standard).
    """
    return peaq_from_movs(peaq_movs(reference, test, sample_rate), clip_movs)


def peaq_from_movs(movs: dict[str, float], clip_movs: bool = False) -> PeaqResult:
    """PEAQ Basic ODG and DI from the 11 MOVs of `peaq_movs` (the neural network stage)."""
    di = distortion_index(movs, clip=clip_movs)
    return PeaqResult(odg=objective_difference_grade(di), di=di, movs=movs)


__all__ = [
    "peaq_from_movs",
    "MIN_SAMPLES",
    "MOV_NAMES",
    "SAMPLE_RATE",
    "PeaqResult",
    "frame_precursors",
    "peaq_basic",
    "peaq_movs",
    "validate_pair",
]
