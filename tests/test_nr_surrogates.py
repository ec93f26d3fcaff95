"""Surrogate targets of the no-reference training set and the procedural domains, against obvious references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from audioqual.nr.surrogates import (
    condition_params,
    cu_from_excess,
    pc_from_sources,
    pq_from_nsim,
    severity_fractions,
    source_count,
    write_splits,
)
from audioqual.synth.procedural import RATE, render_environment, render_generated


def test_aspect_maps_are_the_documented_linear_and_log_rules():
    assert pq_from_nsim(1.0) == 10 and pq_from_nsim(0.0) == 1 and pq_from_nsim(0.675) == pytest.approx(5.5)
    assert [pc_from_sources(n) for n in (1, 2, 4, 8, 64)] == [1, 4, 7, 10, 10]
    assert cu_from_excess(0.0) == 10 and cu_from_excess(10.0) == pytest.approx(5.5) and cu_from_excess(40.0) == 1


def _row(family, condition, **fields):
    return {"degradation": family, "condition": condition, **fields}


def test_severity_ranks_each_family_from_benign_to_severe():
    rows = [_row("codec", f"aac_{b}k", bitrate_kbps=b) for b in (128, 16, 64)]
    rows += [_row("noise", f"noise_{s}db", level=s) for s in (35, 5)]
    rows += [_row("holes", f"holes_{p}", level=p) for p in (0.1, 0.75, 0.25)]
    rows += [_row("mask", f"mask_sir{s}_noise{n}") for s, n in ((5, 0.5), (-5, 3.0), (5, 3.0))]
    rows += [_row("clean", "clean")]
    fractions = severity_fractions(rows)
    assert [fractions[("codec", (b,))] for b in (128, 64, 16)] == pytest.approx([1 / 3, 2 / 3, 1])
    assert [fractions[("noise", (s,))] for s in (35, 5)] == [0.5, 1.0]
    assert [fractions[("holes", (p,))] for p in (0.1, 0.25, 0.75)] == pytest.approx([1 / 3, 2 / 3, 1])
    assert fractions[("mask", (5.0, 0.5))] < fractions[("mask", (5.0, 3.0))] < fractions[("mask", (-5.0, 3.0))]
    assert condition_params(rows[-2]) == (5.0, 3.0)


def test_source_counts_add_the_interferer():
    assert source_count(_row("codec", "x"), {"kind": "music", "instruments": ["a", "b", "c"]}) == 3
    assert source_count(_row("interference", "x"), {"kind": "vocal"}) == 3
    assert source_count(_row("noise", "x"), {"kind": "environment", "sources": 2}) == 2


def test_splits_partition_the_labelled_rows(tmp_path):
    rows = [{"id": str(i), "path": f"/a/{i}.wav", "split": s} for i, s in enumerate(["train", "validation", "test"] * 3)]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths = write_splits(labelled, tmp_path / "out")
    ids = {name: [json.loads(line)["id"] for line in path.read_text().splitlines()] for name, path in paths.items()}
    assert ids == {"train": ["0", "3", "6"], "valid": ["1", "4", "7"], "test": ["2", "5", "8"]}


@pytest.mark.parametrize("render", [render_environment, render_generated])
def test_procedural_domains_are_seeded_audible_and_count_their_sources(render, tmp_path):
    import soundfile as sf

    first = render(3, tmp_path / "a", seed=4, seconds=2.0)
    again = render(3, tmp_path / "b", seed=4, seconds=2.0)
    other = render(1, tmp_path / "c", seed=5, seconds=2.0)
    for item, twin in zip(first, again):
        audio, rate = sf.read(item.path)
        assert rate == RATE and 1.5 * RATE < len(audio) <= 2.0 * RATE
        assert np.isfinite(audio).all() and 0.5 < np.abs(audio).max() < 1.0
        assert 1 <= item.details["sources"] <= 4
        np.testing.assert_array_equal(audio, sf.read(twin.path)[0])
    assert not np.array_equal(sf.read(first[0].path)[0][:1000], sf.read(other[0].path)[0][:1000])
    assert math.isfinite(first[0].seconds)
