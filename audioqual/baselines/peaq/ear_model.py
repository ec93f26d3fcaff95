"""FFT-based peripheral ear model of PEAQ's Basic version (ITU-R BS.1387-1, section 2.1).

Frames of 2048 samples, advanced by 1024, at 48 kHz are Hann-windowed and scaled so that a
full-scale sine sits at 92 dB SPL; the power spectrum is weighted by the outer and middle
ear, grouped into the 109 quarter-Bark bands of the Basic version, given the ear's internal
noise, spread over frequency (level-dependent upper slope) and smeared over time. The
variable names follow P. Kabal, "An examination and interpretation of ITU-R BS.1387" (2003).

Arrays carry frames on axis -2 and bins or bands on axis -1; any leading axes (signal,
channel) are batch axes. Input samples are floats where 1.0 is the full scale of 16-bit
audio (32768 in the standard's integer description).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 48000
FRAME_SIZE = 2048
HOP_SIZE = FRAME_SIZE // 2
FRAME_RATE = SAMPLE_RATE / HOP_SIZE  # 46.875 frames per second
LISTENING_LEVEL_DB = 92.0
LEVEL_REFERENCE_FREQUENCY = 1019.5  # Hz; the sine whose full-scale peak maps to 92 dB SPL
DELTA_Z = 0.25  # band width in Bark for the Basic version
MIN_BAND_ENERGY = 1e-12
SPREADING_EXPONENT = 0.4
TIME_SPREAD_TAU_100 = 0.030
TIME_SPREAD_TAU_MIN = 0.008

# Band edges and centres (Hz) of the Basic version, Table 6 of BS.1387-1 as reproduced in
# Kabal's PQCB.m. The table's misprints against the Bark formula (fl[66] = 3853.817,
# fc[100] = 13294.850, fu[28] = 933.113, fu[70] = 4643.482) are kept: conforming
# implementations use the table as printed.
BAND_LOWER = np.array([
    80.000, 103.445, 127.023, 150.762, 174.694, 198.849, 223.257, 247.950, 272.959, 298.317,
    324.055, 350.207, 376.805, 403.884, 431.478, 459.622, 488.353, 517.707, 547.721, 578.434,
    609.885, 642.114, 675.161, 709.071, 743.884, 779.647, 816.404, 854.203, 893.091, 933.119,
    974.336, 1016.797, 1060.555, 1105.666, 1152.187, 1200.178, 1249.700, 1300.816, 1353.592,
    1408.094, 1464.392, 1522.559, 1582.668, 1644.795, 1709.021, 1775.427, 1844.098, 1915.121,
    1988.587, 2064.590, 2143.227, 2224.597, 2308.806, 2395.959, 2486.169, 2579.551, 2676.223,
    2776.309, 2879.937, 2987.238, 3098.350, 3213.415, 3332.579, 3455.993, 3583.817, 3716.212,
    3853.817, 3995.399, 4142.547, 4294.979, 4452.890, 4616.482, 4785.962, 4961.548, 5143.463,
    5331.939, 5527.217, 5729.545, 5939.183, 6156.396, 6381.463, 6614.671, 6856.316, 7106.708,
    7366.166, 7635.020, 7913.614, 8202.302, 8501.454, 8811.450, 9132.688, 9465.574, 9810.536,
    10168.013, 10538.460, 10922.351, 11320.175, 11732.438, 12159.670, 12602.412, 13061.229,
    13536.710, 14029.458, 14540.103, 15069.295, 15617.710, 16186.049, 16775.035, 17385.420,
])
BAND_CENTRE = np.array([
    91.708, 115.216, 138.870, 162.702, 186.742, 211.019, 235.566, 260.413, 285.593, 311.136,
    337.077, 363.448, 390.282, 417.614, 445.479, 473.912, 502.950, 532.629, 562.988, 594.065,
    625.899, 658.533, 692.006, 726.362, 761.644, 797.898, 835.170, 873.508, 912.959, 953.576,
    995.408, 1038.511, 1082.938, 1128.746, 1175.995, 1224.744, 1275.055, 1326.992, 1380.623,
    1436.014, 1493.237, 1552.366, 1613.474, 1676.641, 1741.946, 1809.474, 1879.310, 1951.543,
    2026.266, 2103.573, 2183.564, 2266.340, 2352.008, 2440.675, 2532.456, 2627.468, 2725.832,
    2827.672, 2933.120, 3042.309, 3155.379, 3272.475, 3393.745, 3519.344, 3649.432, 3784.176,
    3923.748, 4068.324, 4218.090, 4373.237, 4533.963, 4700.473, 4872.978, 5051.700, 5236.866,
    5428.712, 5627.484, 5833.434, 6046.825, 6267.931, 6497.031, 6734.420, 6980.399, 7235.284,
    7499.397, 7773.077, 8056.673, 8350.547, 8655.072, 8970.639, 9297.648, 9636.520, 9987.683,
    10351.586, 10728.695, 11119.490, 11524.470, 11944.149, 12379.066, 12829.775, 13294.850,
    13780.887, 14282.503, 14802.338, 15341.057, 15899.345, 16477.914, 17077.504, 17690.045,
])
BAND_UPPER = np.array([
    103.445, 127.023, 150.762, 174.694, 198.849, 223.257, 247.950, 272.959, 298.317, 324.055,
    350.207, 376.805, 403.884, 431.478, 459.622, 488.353, 517.707, 547.721, 578.434, 609.885,
    642.114, 675.161, 709.071, 743.884, 779.647, 816.404, 854.203, 893.091, 933.113, 974.336,
    1016.797, 1060.555, 1105.666, 1152.187, 1200.178, 1249.700, 1300.816, 1353.592, 1408.094,
    1464.392, 1522.559, 1582.668, 1644.795, 1709.021, 1775.427, 1844.098, 1915.121, 1988.587,
    2064.590, 2143.227, 2224.597, 2308.806, 2395.959, 2486.169, 2579.551, 2676.223, 2776.309,
    2879.937, 2987.238, 3098.350, 3213.415, 3332.579, 3455.993, 3583.817, 3716.212, 3853.348,
    3995.399, 4142.547, 4294.979, 4452.890, 4643.482, 4785.962, 4961.548, 5143.463, 5331.939,
    5527.217, 5729.545, 5939.183, 6156.396, 6381.463, 6614.671, 6856.316, 7106.708, 7366.166,
    7635.020, 7913.614, 8202.302, 8501.454, 8811.450, 9132.688, 9465.574, 9810.536, 10168.013,
    10538.460, 10922.351, 11320.175, 11732.438, 12159.670, 12602.412, 13061.229, 13536.710,
    14029.458, 14540.103, 15069.295, 15617.710, 16186.049, 16775.035, 17385.420, 18000.000,
])
NUM_BANDS = BAND_CENTRE.size  # 109


def hz_to_bark(freq: np.ndarray | float) -> np.ndarray:
    """Pitch (Bark) of a frequency with the standard's mapping z = 7 asinh(f / 650)."""
    return 7.0 * np.arcsinh(np.asarray(freq, dtype=np.float64) / 650.0)


def bark_to_hz(bark: np.ndarray | float) -> np.ndarray:
    """Inverse of `hz_to_bark`."""
    return 650.0 * np.sinh(np.asarray(bark, dtype=np.float64) / 7.0)


def band_edges_from_formula(delta_z: float = DELTA_Z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, centre, upper) band frequencies computed from the Bark mapping, 80 Hz - 18 kHz."""
    z_low, z_high = hz_to_bark(80.0), hz_to_bark(18000.0)
    count = int(np.ceil((z_high - z_low) / delta_z))
    zl = z_low + np.arange(count) * delta_z
    zu = np.minimum(z_low + np.arange(1, count + 1) * delta_z, z_high)
    return bark_to_hz(zl), bark_to_hz(0.5 * (zl + zu)), bark_to_hz(zu)


def hann_window(length: int = FRAME_SIZE) -> np.ndarray:
    """The standard's Hann window 0.5 (1 - cos(2 pi n / (N - 1)))."""
    n = np.arange(length)
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * n / (length - 1)))


def level_gain(level_db: float = LISTENING_LEVEL_DB, frame_size: int = FRAME_SIZE) -> float:
    """Window gain G_L mapping a full-scale sine at 1019.5 Hz to a DFT peak of `level_db`.

    The sine's frequency falls between DFT bins, so the largest bin of the Hann-windowed
    DFT is the continuous peak (amplitude/4 (N - 1)) times the peak factor g_p.
    """
    width = frame_size - 1
    freq_norm = LEVEL_REFERENCE_FREQUENCY / SAMPLE_RATE
    bin_index = np.floor(freq_norm * frame_size)
    offset = min((bin_index + 1) / frame_size - freq_norm, freq_norm - bin_index / frame_size) * width
    peak_factor = np.sin(np.pi * offset) / (np.pi * offset * (1.0 - offset**2))
    return float(10.0 ** (level_db / 20.0) / (peak_factor * width / 4.0))


def outer_middle_ear_weight(freq: np.ndarray) -> np.ndarray:
    """Power weighting |W(f)|^2 of the outer and middle ear; W(f) in dB is
    -0.6 * 3.64 (f/kHz)^-0.8 + 6.5 exp(-0.6 (f/kHz - 3.3)^2) - 1e-3 (f/kHz)^3.6 (0 at DC)."""
    f_khz = np.asarray(freq, dtype=np.float64) / 1000.0
    with np.errstate(divide="ignore"):
        weight_db = (
            -0.6 * 3.64 * np.power(f_khz, -0.8)
            + 6.5 * np.exp(-0.6 * (f_khz - 3.3) ** 2)
            - 1e-3 * np.power(f_khz, 3.6)
        )
    return np.power(10.0, weight_db / 10.0)


def band_grouping_matrix(
    lower: np.ndarray = BAND_LOWER, upper: np.ndarray = BAND_UPPER, frame_size: int = FRAME_SIZE
) -> np.ndarray:
    """(bins, bands) matrix of the fraction of each DFT bin's width [k-1/2, k+1/2] inside each band."""
    df = SAMPLE_RATE / frame_size
    k = np.arange(frame_size // 2 + 1)[:, None]
    overlap = np.minimum(upper[None, :], (k + 0.5) * df) - np.maximum(lower[None, :], (k - 0.5) * df)
    return np.clip(overlap / df, 0.0, None)


def internal_noise(centre: np.ndarray = BAND_CENTRE) -> np.ndarray:
    """Internal ear noise per band, 10^(0.4 * 0.364 (fc/kHz)^-0.8)."""
    return np.power(10.0, 0.4 * 0.364 * np.power(centre / 1000.0, -0.8))


def excitation_threshold(centre: np.ndarray = BAND_CENTRE) -> np.ndarray:
    """Threshold in quiet as an excitation, 10^(0.364 (fc/kHz)^-0.8)."""
    return np.power(10.0, 0.364 * np.power(centre / 1000.0, -0.8))


def masking_offset(num_bands: int = NUM_BANDS, delta_z: float = DELTA_Z) -> np.ndarray:
    """Power factor g_m between excitation and masking threshold: m dB = 3 up to 12 Bark, then 0.25 z."""
    z = np.arange(num_bands) * delta_z
    offset_db = np.where(z <= 12.0, 3.0, 0.25 * z)
    return np.power(10.0, offset_db / 10.0)


def time_constants(tau_100: float, tau_min: float, centre: np.ndarray = BAND_CENTRE) -> np.ndarray:
    """Per-band first-order smoothing coefficient a = exp(-1 / (frame_rate tau)),
    tau = tau_min + (100 Hz / fc) (tau_100 - tau_min)."""
    tau = tau_min + (100.0 / centre) * (tau_100 - tau_min)
    return np.exp(-1.0 / (FRAME_RATE * tau))


def recursive_smooth(x: np.ndarray, a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """y[n] = a y[n-1] + b x[n] along the frame axis (-2), starting from y[-1] = 0."""
    y = np.empty_like(x)
    state = np.zeros(x.shape[:-2] + x.shape[-1:], dtype=x.dtype)
    for n in range(x.shape[-2]):
        state = a * state + b * x[..., n, :]
        y[..., n, :] = state
    return y


def _lower_spreading_matrix(num_bands: int, delta_z: float) -> np.ndarray:
    """(source m, target j) weights a_L^(0.4 (m - j)) for j <= m, else 0."""
    m = np.arange(num_bands)
    below = m[:, None] - m[None, :]
    lower_slope = 10.0 ** (-2.7 * delta_z)
    return np.where(below >= 0, lower_slope ** (SPREADING_EXPONENT * np.clip(below, 0, None)), 0.0)


def spread_unnormalised(pitch: np.ndarray, centre: np.ndarray = BAND_CENTRE, delta_z: float = DELTA_Z) -> np.ndarray:
    """Frequency spreading of pitch patterns (..., bands) without the per-band normalisation.

    Each band's energy spreads down by 27 dB/Bark and up by 24 + 230/fc - 0.2 L dB/Bark (L its
    level in dB), scaled so its spread pattern sums (in power) to its energy; contributions add
    in the 0.4-power domain (Kabal's section 2.8).
    """
    num_bands = centre.size
    shape = pitch.shape
    energy = pitch.reshape(-1, num_bands)
    lower_slope = 10.0 ** (-2.7 * delta_z)  # a_L
    upper_slope = np.power(10.0, (-2.4 - 23.0 / centre) * delta_z) * np.power(energy, 0.2 * delta_z)  # a_U a_C a_E
    lower_gain = (1.0 - lower_slope ** (np.arange(num_bands) + 1)) / (1.0 - lower_slope)
    upper_gain = (1.0 - upper_slope ** (num_bands - np.arange(num_bands))) / (1.0 - upper_slope)
    ene = np.power(energy / (lower_gain + upper_gain - 1.0), SPREADING_EXPONENT)
    total = ene @ _lower_spreading_matrix(num_bands, delta_z)
    step = np.power(upper_slope, SPREADING_EXPONENT)
    term = ene.copy()
    for distance in range(1, num_bands):  # term[m] = Ene[m] (a_U a_C a_E[m])^(0.4 distance)
        reach = num_bands - distance
        term[:, :reach] *= step[:, :reach]
        total[:, distance:] += term[:, :reach]
    return np.power(total, 1.0 / SPREADING_EXPONENT).reshape(shape)


def spreading_normalisation(centre: np.ndarray = BAND_CENTRE, delta_z: float = DELTA_Z) -> np.ndarray:
    """B_s: the unnormalised spreading of an all-ones pitch pattern."""
    return spread_unnormalised(np.ones((1, centre.size)), centre, delta_z)[0]


def spread_frequency(pitch: np.ndarray) -> np.ndarray:
    """Unsmeared excitation patterns E_s = spread(pitch patterns) / B_s."""
    return spread_unnormalised(pitch) / _SPREAD_NORM


def spread_time(unsmeared: np.ndarray) -> np.ndarray:
    """Excitation patterns: max(E_s, first-order smoothing of E_s) with tau(8 ms .. 30 ms at 100 Hz)."""
    a = time_constants(TIME_SPREAD_TAU_100, TIME_SPREAD_TAU_MIN)
    return np.maximum(recursive_smooth(unsmeared, a, 1.0 - a), unsmeared)


def masking_threshold(excitation: np.ndarray) -> np.ndarray:
    """Masking threshold M = E / g_m of excitation patterns (..., bands)."""
    return excitation / _MASK_OFFSET


def total_loudness(excitation: np.ndarray) -> np.ndarray:
    """Total loudness (sone) of excitation patterns (..., bands) -> (...)."""
    exponent = 0.23
    threshold = excitation_threshold()
    s_db = -2.0 - 2.05 * np.arctan(BAND_CENTRE / 4000.0) - 0.75 * np.arctan((BAND_CENTRE / 1600.0) ** 2)
    index = np.power(10.0, s_db / 10.0)
    scale = 1.07664 * np.power(threshold / (index * 1e4), exponent)
    specific = scale * (np.power(1.0 - index + index * excitation / threshold, exponent) - 1.0)
    return (24.0 / NUM_BANDS) * np.maximum(specific, 0.0).sum(axis=-1)


_WINDOW = level_gain() * hann_window()
_EAR_WEIGHT = outer_middle_ear_weight(np.arange(FRAME_SIZE // 2 + 1) * SAMPLE_RATE / FRAME_SIZE)
_GROUPING = band_grouping_matrix()
_INTERNAL_NOISE = internal_noise()
_SPREAD_NORM = spreading_normalisation()
_MASK_OFFSET = masking_offset()


def group_into_bands(power: np.ndarray) -> np.ndarray:
    """Band energies (..., 109) of power spectra (..., 1025), floored at 1e-12."""
    return np.maximum(power @ _GROUPING, MIN_BAND_ENERGY)


@dataclass(frozen=True)
class FrameSpectra:
    """The frame-by-frame part of the FFT ear model, shaped (..., frames, bins or bands).

    Everything up to the frequency spreading depends on one frame only; the time spreading
    (`spread_time`) runs over the whole sequence of unsmeared excitation patterns.
    """

    power_spectrum: np.ndarray  # |F|^2, level-scaled (bins)
    weighted_spectrum: np.ndarray  # |F_e|^2, outer/middle-ear weighted (bins)
    pitch_patterns: np.ndarray  # band energies plus internal noise
    unsmeared_excitation: np.ndarray  # after frequency spreading


def frame_signal(samples: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Frames first .. stop-1 of (..., samples) as (..., frames, 2048); frame i starts at sample
    1024 i, and samples past the end are zeros."""
    begin, end = first * HOP_SIZE, (stop - 1) * HOP_SIZE + FRAME_SIZE
    segment = samples[..., begin:end]
    padded = np.pad(segment, [(0, 0)] * (samples.ndim - 1) + [(0, end - begin - segment.shape[-1])])
    windows = np.lib.stride_tricks.sliding_window_view(padded, FRAME_SIZE, axis=-1)
    return windows[..., ::HOP_SIZE, :]


def analyse_frames(frames: np.ndarray) -> FrameSpectra:
    """Frame-by-frame ear model of (..., frames, 2048) sample frames: windowed, level-scaled
    DFT, outer/middle-ear weighting, band grouping, internal noise, frequency spreading."""
    spectrum = np.fft.rfft(frames.astype(np.float64) * _WINDOW, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    weighted = power * _EAR_WEIGHT
    pitch = group_into_bands(weighted) + _INTERNAL_NOISE
    return FrameSpectra(
        power_spectrum=power,
        weighted_spectrum=weighted,
        pitch_patterns=pitch,
        unsmeared_excitation=spread_frequency(pitch),
    )
