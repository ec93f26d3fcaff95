"""Sanity statistics of a labelled manifest: MOS per condition, and how MOS ranks with bitrate per codec."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

MOS_KEY = "visqol_moslqo"


@dataclass(frozen=True)
class CodecTrend:
    """Spearman rank correlation between nominal bitrate and MOS over one codec's coded clips."""

    codec: str
    spearman: float
    p_value: float
    n: int


def labelled_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that carry a finite MOS and no error."""
    return [
        r for r in rows if not r.get("error") and isinstance(r.get(MOS_KEY), (int, float)) and math.isfinite(r[MOS_KEY])
    ]


def bitrate_trends(rows: Iterable[dict[str, Any]]) -> list[CodecTrend]:
    """Per codec: Spearman(bitrate, MOS) over its coded clips (clean clips excluded)."""
    by_codec: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in labelled_rows(rows):
        bitrate = row.get("bitrate_kbps")
        if row.get("degradation") == "codec" and isinstance(bitrate, (int, float)) and math.isfinite(bitrate):
            by_codec[str(row["codec"])].append((float(bitrate), float(row[MOS_KEY])))
    trends = []
    for codec in sorted(by_codec):
        pairs = np.array(by_codec[codec])
        if len(pairs) < 2 or len(np.unique(pairs[:, 0])) < 2:
            trends.append(CodecTrend(codec, float("nan"), float("nan"), len(pairs)))
            continue
        rho, p = stats.spearmanr(pairs[:, 0], pairs[:, 1])
        trends.append(CodecTrend(codec, float(rho), float(p), len(pairs)))
    return trends


def condition_table(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation of MOS per condition, in codec then bitrate order."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in labelled_rows(rows):
        groups[str(row.get("condition", "?"))].append(row)
    table = []
    for name, members in groups.items():
        mos = np.array([m[MOS_KEY] for m in members], dtype=float)
        first = members[0]
        table.append({"condition": name, "codec": first.get("codec"), "bitrate_kbps": first.get("bitrate_kbps"),
                      "n": len(mos), "mean": float(mos.mean()), "std": float(mos.std())})  # fmt: skip
    return sorted(table, key=_condition_order)


def format_summary(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of MOS per condition and the per-codec Spearman trend."""
    lines = [f"{'condition':<18}{'n':>6}{'mean MOS':>10}{'std':>7}"]
    for entry in condition_table(rows):
        lines.append(f"{entry['condition']:<18}{entry['n']:>6}{entry['mean']:>10.3f}{entry['std']:>7.3f}")
    for trend in bitrate_trends(rows):
        lines.append(f"Spearman(bitrate, MOS) {trend.codec}: {trend.spearman:.3f} (p={trend.p_value:.2g}, n={trend.n})")
    return "\n".join(lines)


def _condition_order(entry: dict[str, Any]) -> tuple:
    bitrate = entry.get("bitrate_kbps")
    numeric = float(bitrate) if isinstance(bitrate, (int, float)) else math.inf
    return (str(entry.get("codec") or "~"), numeric, entry["condition"])
