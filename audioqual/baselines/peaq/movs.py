"""The 11 model output variables (MOVs) of PEAQ's Basic version (ITU-R BS.1387-1 section 4).

Per-frame precursors are vectorised over frames; `average_movs` then applies the
standard's frame selection and temporal averaging (section 5.2):

- data boundary: only frames from the first to the last frame holding reference audio
  (5 successive samples whose absolute sum exceeds 200 on the 16-bit scale, any channel);
  frames before it are still processed so the filters warm up (Kabal's PQevalAudio);
- delayed averaging: the modulation-difference and noise-loudness MOVs skip frames that
  start within the first 0.5 s of the signal;
- loudness threshold: the noise loudness additionally waits until 50 ms after both
  signals first exceed a total loudness of 0.1 sone;
- energy threshold: EHS skips frames whose second half has less than 8000 (16-bit scale)
  of energy in both the reference and the test channel;
- BandwidthRef/Test average only frames with a reference bandwidth above bin 346.

Channels are averaged after the temporal averaging; the probability-of-detection MOVs
(ADB, MFPD) combine channels per band first (the larger detection probability and step
count of the channels), as in the standard's binaural rule.

Everything follows Kabal's PQevalAudio except two readings of the EHS taken from GstPEAQ:
the log spectral ratio uses the ear-weighted spectra (equal to the plain ratio except at
DC), and the peak is the largest one after the first valley of the cepstrum-like power
(PQevalAudio compares with lag 0 only); its EHSB is 1-4 % lower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audioqual.baselines.peaq.ear_model import (
    FRAME_RATE,
    HOP_SIZE,
    group_into_bands,
    hann_window,
    internal_noise,
    masking_threshold,
)

MOV_NAMES = (
    "BandwidthRefB",
    "BandwidthTestB",
    "TotalNMRB",
    "WinModDiff1B",
    "ADBB",
    "EHSB",
    "AvgModDiff1B",
    "AvgModDiff2B",
    "RmsNoiseLoudB",
    "MFPDB",
    "RelDistFramesB",
)

INT16_SCALE = 32768.0
BOUNDARY_WINDOW = 5
BOUNDARY_THRESHOLD = 200.0 / INT16_SCALE
ENERGY_THRESHOLD = 8000.0 / INT16_SCALE**2
DELAY_FRAMES = int(np.ceil(0.5 * FRAME_RATE))  # 24 frames, 0.5 s
LOUDNESS_DELAY_FRAMES = int(np.ceil(0.05 * FRAME_RATE))  # 3 frames, 50 ms
LOUDNESS_THRESHOLD = 0.1
MOD_DIFF_WINDOW = int(np.floor(0.1 * FRAME_RATE))  # 4 frames, 100 ms
REL_DIST_THRESHOLD = 10.0 ** (1.5 / 10.0)
BANDWIDTH_REF_MIN = 346
EHS_LAGS = 256


def modulation_difference(
    mod_ref: np.ndarray, mod_test: np.ndarray, avg_loudness_ref: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ModDiff1, ModDiff2, temporal weight) per frame from (..., frames, bands) patterns.

    ModDiff = 100/Z sum w |M_test - M_ref| / (offset + M_ref) with (offset, w) = (1, 1) for
    ModDiff1 and (0.01, 1 or 0.1 where the test is less modulated) for ModDiff2; the weight
    is sum E_ref / (E_ref + 100 E_IN^0.3).
    """
    diff = np.abs(mod_test - mod_ref)
    num_bands = mod_ref.shape[-1]
    diff1 = (100.0 / num_bands) * (diff / (1.0 + mod_ref)).sum(axis=-1)
    negative_weight = np.where(mod_test >= mod_ref, 1.0, 0.1)
    diff2 = (100.0 / num_bands) * (negative_weight * diff / (0.01 + mod_ref)).sum(axis=-1)
    threshold = np.power(internal_noise(), 0.3)
    weight = (avg_loudness_ref / (avg_loudness_ref + 100.0 * threshold)).sum(axis=-1)
    return diff1, diff2, weight


def noise_loudness(
    mod_ref: np.ndarray, mod_test: np.ndarray, adapted_ref: np.ndarray, adapted_test: np.ndarray
) -> np.ndarray:
    """Partial noise loudness per frame (alpha 1.5, threshold factor 0.15, S0 0.5, floor 0)."""
    alpha, threshold_factor, s0, exponent = 1.5, 0.15, 0.5, 0.23
    threshold = internal_noise()
    s_ref = threshold_factor * mod_ref + s0
    s_test = threshold_factor * mod_test + s0
    beta = np.exp(-alpha * (adapted_test - adapted_ref) / adapted_ref)
    numerator = np.maximum(s_test * adapted_test - s_ref * adapted_ref, 0.0)
    denominator = threshold + s_ref * adapted_ref * beta
    specific = np.power(threshold / s_test, exponent) * (np.power(1.0 + numerator / denominator, exponent) - 1.0)
    return np.maximum((24.0 / mod_ref.shape[-1]) * specific.sum(axis=-1), 0.0)


def bandwidth(power_ref: np.ndarray, power_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(BwRef, BwTest) per frame from level-scaled power spectra (..., frames, 1025).

    The zero threshold is the largest test bin from 21.6 kHz (bin 921) up; BwRef is one past
    the highest bin below 921 that is 10 dB above it in the reference, BwTest one past the
    highest bin below BwRef 5 dB above it in the test (0 where none is).
    """
    zero_threshold = power_test[..., 921:1024].max(axis=-1, keepdims=True)
    ref_above = power_ref[..., :921] >= 10.0 * zero_threshold
    bw_ref = np.where(ref_above.any(axis=-1), 921 - np.argmax(ref_above[..., ::-1], axis=-1), 0)
    bins = np.arange(921)
    test_above = (power_test[..., :921] >= 10.0**0.5 * zero_threshold) & (bins < bw_ref[..., None])
    bw_test = np.where(test_above.any(axis=-1), 921 - np.argmax(test_above[..., ::-1], axis=-1), 0)
    return bw_ref, bw_test


def noise_patterns(weighted_ref: np.ndarray, weighted_test: np.ndarray) -> np.ndarray:
    """Band-grouped noise (|F_e,ref| - |F_e,test|)^2 of ear-weighted power spectra (..., 1025)."""
    return group_into_bands((np.sqrt(weighted_ref) - np.sqrt(weighted_test)) ** 2)


def noise_to_mask(noise: np.ndarray, excitation_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(band-averaged NMR, largest band NMR) per frame as linear power ratios of the noise
    patterns to the reference's masking threshold."""
    ratio = noise / masking_threshold(excitation_ref)
    return ratio.mean(axis=-1), ratio.max(axis=-1)


def detection_probability(excitation_ref: np.ndarray, excitation_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(detection probability p, steps above threshold q) per band from excitation patterns."""
    level_ref = 10.0 * np.log10(excitation_ref)
    level_test = 10.0 * np.log10(excitation_test)
    difference = level_ref - level_test
    ref_louder = difference > 0.0
    level = np.where(ref_louder, 0.3 * level_ref + 0.7 * level_test, level_test)
    slope = np.where(ref_louder, 4.0, 6.0)
    positive = np.where(level > 0.0, level, 1.0)
    polynomial = -0.198719 + positive * (
        0.0550197 + positive * (-0.00102438 + positive * (5.05622e-6 + positive * 9.01033e-11))
    )
    step = np.where(level > 0.0, 5.95072 * np.power(6.39468 / positive, 1.71332) + polynomial, 1e30)
    probability = 1.0 - np.power(0.5, np.power(difference / step, slope))
    steps = np.abs(np.trunc(difference)) / step
    return probability, steps


def binaural_detection(probability: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame total detection probability and step count from (channels, frames, bands) values.

    Channels combine per band by their maximum; bands combine as independent detectors.
    """
    p_bin = probability.max(axis=0)
    q_bin = steps.max(axis=0)
    return 1.0 - np.prod(1.0 - p_bin, axis=-1), q_bin.sum(axis=-1)


def energy_threshold_reached(frames: np.ndarray) -> np.ndarray:
    """Whether each (..., frames, 2048) frame's second half reaches the energy threshold."""
    second_half = frames[..., HOP_SIZE:].astype(np.float64)
    return (second_half**2).sum(axis=-1) >= ENERGY_THRESHOLD


_EHS_WINDOW = np.sqrt(8.0 / 3.0) * hann_window(EHS_LAGS) / EHS_LAGS


def error_harmonic_structure(weighted_ref: np.ndarray, weighted_test: np.ndarray) -> np.ndarray:
    """EHS per frame (not yet scaled by 1000) from ear-weighted power spectra (..., frames, 1025).

    D[k] = ln(F_test / F_ref) over the 2 * 256 - 1 bins below 12 kHz; its normalised
    autocorrelation over 256 lags has its mean removed, is Hann-windowed and Fourier
    transformed; EHS is the largest power that rises from the previous bin (the highest
    peak after the first valley).
    """
    lags = EHS_LAGS
    span = 2 * lags - 1
    ref = np.maximum(weighted_ref[..., :span], 1e-12)
    test = np.maximum(weighted_test[..., :span], 1e-12)
    log_ratio = np.log(test / ref)
    size = 4 * lags  # no circular wrap-around for lags 0 .. 255
    head = np.fft.rfft(log_ratio[..., :lags], n=size, axis=-1)
    whole = np.fft.rfft(log_ratio, n=size, axis=-1)
    correlation = np.fft.irfft(np.conj(head) * whole, n=size, axis=-1)[..., :lags]  # C[i] = sum_j D[j] D[i+j]
    cumulative = np.concatenate(
        [np.zeros_like(log_ratio[..., :1]), np.cumsum(log_ratio**2, axis=-1)], axis=-1
    )
    energies = cumulative[..., lags : lags + lags] - cumulative[..., :lags]  # sum of D^2 over i .. i+255
    norm = energies[..., :1] * energies
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(norm > 0.0, correlation / np.sqrt(np.where(norm > 0.0, norm, 1.0)), 1.0)
    normalised[..., 0] = 1.0
    centred = normalised - normalised.mean(axis=-1, keepdims=True)
    spectrum = np.fft.rfft(_EHS_WINDOW * centred, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    rising = power[..., 1:] > power[..., :-1]
    return np.where(rising, power[..., 1:], 0.0).max(axis=-1)


def data_boundary(reference: np.ndarray) -> tuple[int, int] | None:
    """(first, last) sample index holding reference audio in any channel, None if there is none.

    Audio starts where 5 successive absolute samples first sum above 200 (16-bit scale) and
    ends where such a run last ends.
    """
    if reference.shape[-1] < BOUNDARY_WINDOW:
        return None
    span = reference.shape[-1] - BOUNDARY_WINDOW + 1
    above = np.zeros(span, dtype=bool)
    for channel in reference:
        magnitude = np.abs(channel.astype(np.float64))
        run_sums = sum(magnitude[k : k + span] for k in range(BOUNDARY_WINDOW))
        above |= run_sums > BOUNDARY_THRESHOLD
    if not above.any():
        return None
    first = int(np.argmax(above))
    last = int(above.size - 1 - np.argmax(above[::-1])) + BOUNDARY_WINDOW - 1
    return first, last


@dataclass(frozen=True)
class FrameSelection:
    """Absolute frame indices (inclusive) that enter the averages."""

    first: int  # first frame within the data boundary
    last: int  # last frame within the data boundary
    mod_diff_first: int  # after the 0.5 s delay


def select_frames(first_sample: int, last_sample: int) -> FrameSelection:
    """Frame range for data spanning samples first..last (Kabal's PQ_Bounds)."""
    first = first_sample // HOP_SIZE
    last = (last_sample + 1 - HOP_SIZE) // HOP_SIZE
    return FrameSelection(first=first, last=last, mod_diff_first=max(first, DELAY_FRAMES))


@dataclass(frozen=True)
class FramePrecursors:
    """Per-frame MOV precursors: (channels, frames) arrays unless noted."""

    bandwidth_ref: np.ndarray
    bandwidth_test: np.ndarray
    nmr_avg: np.ndarray
    nmr_max: np.ndarray
    mod_diff1: np.ndarray
    mod_diff2: np.ndarray
    mod_weight: np.ndarray
    noise_loudness: np.ndarray
    loudness_ref: np.ndarray
    loudness_test: np.ndarray
    ehs: np.ndarray
    ehs_valid: np.ndarray
    detection_probability: np.ndarray  # (frames,), channels combined
    detection_steps: np.ndarray  # (frames,), channels combined


def _mean_or_zero(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def windowed_average(values: np.ndarray, window: int = MOD_DIFF_WINDOW) -> float:
    """sqrt(mean over windows of (mean of sqrt(values) in the window)^4); 0 when too short."""
    if values.size < window:
        return 0.0
    roots = np.lib.stride_tricks.sliding_window_view(np.sqrt(values), window)
    return float(np.sqrt(np.mean(roots.mean(axis=-1) ** 4)))


def _loudness_reached(pre: FramePrecursors, selection: FrameSelection) -> int:
    """Absolute index of the first selected frame where both signals exceed 0.1 sone in a channel."""
    span = slice(selection.first, selection.last + 1)
    loud = (pre.loudness_ref[:, span] > LOUDNESS_THRESHOLD) & (pre.loudness_test[:, span] > LOUDNESS_THRESHOLD)
    loud_any = loud.any(axis=0)
    if not loud_any.any():
        return selection.last + 1
    return selection.first + int(np.argmax(loud_any))


def average_movs(pre: FramePrecursors, selection: FrameSelection) -> dict[str, float]:
    """Temporal and channel averaging of the precursors into the 11 Basic MOVs."""
    span = slice(selection.first, selection.last + 1)
    delayed = slice(selection.mod_diff_first, selection.last + 1)
    loudness_first = max(_loudness_reached(pre, selection) + LOUDNESS_DELAY_FRAMES, selection.mod_diff_first)
    loud = slice(loudness_first, selection.last + 1)
    channels = pre.nmr_avg.shape[0]

    bw_ref, bw_test, total_nmr, rel_dist, win_diff, avg_diff1, avg_diff2, rms_loud, ehs = ([] for _ in range(9))
    for c in range(channels):
        valid_bw = pre.bandwidth_ref[c, span] > BANDWIDTH_REF_MIN
        bw_ref.append(_mean_or_zero(pre.bandwidth_ref[c, span][valid_bw]))
        bw_test.append(_mean_or_zero(pre.bandwidth_test[c, span][valid_bw]))
        total_nmr.append(10.0 * np.log10(pre.nmr_avg[c, span].mean()))
        rel_dist.append(float((pre.nmr_max[c, span] > REL_DIST_THRESHOLD).mean()))
        win_diff.append(windowed_average(pre.mod_diff1[c, delayed]))
        weight = pre.mod_weight[c, delayed]
        weight_sum = weight.sum()
        avg_diff1.append(float((weight * pre.mod_diff1[c, delayed]).sum() / weight_sum) if weight.size else 0.0)
        avg_diff2.append(float((weight * pre.mod_diff2[c, delayed]).sum() / weight_sum) if weight.size else 0.0)
        loud_values = pre.noise_loudness[c, loud]
        rms_loud.append(float(np.sqrt(np.mean(loud_values**2))) if loud_values.size else 0.0)
        ehs.append(1000.0 * _mean_or_zero(pre.ehs[c, span][pre.ehs_valid[c, span]]))

    probability = pre.detection_probability[span]
    smoothed_max = 0.0
    smoothed = 0.0
    for value in probability:
        smoothed = 0.9 * smoothed + 0.1 * value
        smoothed_max = max(smoothed_max, smoothed)
    detected = probability > 0.5
    step_sum = float(pre.detection_steps[span][detected].sum())
    if not detected.any():
        adb = 0.0
    elif step_sum > 0.0:
        adb = float(np.log10(step_sum / detected.sum()))
    else:
        adb = -0.5

    values = {
        "BandwidthRefB": np.mean(bw_ref),
        "BandwidthTestB": np.mean(bw_test),
        "TotalNMRB": np.mean(total_nmr),
        "WinModDiff1B": np.mean(win_diff),
        "ADBB": adb,
        "EHSB": np.mean(ehs),
        "AvgModDiff1B": np.mean(avg_diff1),
        "AvgModDiff2B": np.mean(avg_diff2),
        "RmsNoiseLoudB": np.mean(rms_loud),
        "MFPDB": smoothed_max,
        "RelDistFramesB": np.mean(rel_dist),
    }
    return {name: float(values[name]) for name in MOV_NAMES}

