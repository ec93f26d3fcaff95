"""PEAQ Basic's output stage (ITU-R BS.1387-1 section 6): MOV scaling, the 11-3-1 neural
network giving the distortion index DI, and the mapping of DI to the objective difference
grade ODG = b_min + (b_max - b_min) sigmoid(DI). Constants are the standard's Tables 11-13
(as in Kabal's PQnNet.m and GstPEAQ's nn.c).
"""

from __future__ import annotations

import numpy as np

from audioqual.baselines.peaq.movs import MOV_NAMES

MOV_MIN = np.array([
    393.916656, 361.965332, -24.045116, 1.110661, -0.206623, 0.074318,
    1.113683, 0.950345, 0.029985, 0.000101, 0.0,
])
MOV_MAX = np.array([
    921.0, 881.131226, 16.212030, 107.137772, 2.886017, 13.933351,
    63.257874, 1145.018555, 14.819740, 1.0, 1.0,
])
INPUT_WEIGHTS = np.array([  # (11 MOVs, 3 hidden nodes)
    [-0.502657, 0.436333, 1.219602],
    [4.307481, 3.246017, 1.123743],
    [4.984241, -2.211189, -0.192096],
    [0.051056, -1.762424, 4.331315],
    [2.321580, 1.789971, -0.754560],
    [-5.303901, -3.452257, -10.814982],
    [2.730991, -6.111805, 1.519223],
    [0.624950, -1.331523, -5.955151],
    [3.102889, 0.871260, -5.922878],
    [-1.051468, -0.939882, -0.142913],
    [-1.804679, -0.503610, -0.620456],
])
INPUT_BIAS = np.array([-2.518254, 0.654841, -2.207228])
OUTPUT_WEIGHTS = np.array([-3.817048, 4.107138, 4.629582])
OUTPUT_BIAS = -0.307594
ODG_MIN = -3.98
ODG_MAX = 0.22


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x))."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def scale_movs(movs: dict[str, float] | np.ndarray, clip: bool = False) -> np.ndarray:
    """(MOV - a_min) / (a_max - a_min) in the standard's MOV order; `clip` limits it to [0, 1]."""
    values = np.array([movs[name] for name in MOV_NAMES]) if isinstance(movs, dict) else np.asarray(movs, float)
    scaled = (values - MOV_MIN) / (MOV_MAX - MOV_MIN)
    return np.clip(scaled, 0.0, 1.0) if clip else scaled


def distortion_index(movs: dict[str, float] | np.ndarray, clip: bool = False) -> float:
    """DI = w_y,bias + sum_j w_y[j] sigmoid(w_x,bias[j] + sum_i w_x[i, j] x_i) of the scaled MOVs x."""
    hidden = sigmoid(INPUT_BIAS + scale_movs(movs, clip) @ INPUT_WEIGHTS)
    return float(OUTPUT_BIAS + hidden @ OUTPUT_WEIGHTS)


def objective_difference_grade(di: float) -> float:
    """ODG = -3.98 + 4.2 sigmoid(DI), in (-3.98, 0.22)."""
    return float(ODG_MIN + (ODG_MAX - ODG_MIN) * sigmoid(di))
