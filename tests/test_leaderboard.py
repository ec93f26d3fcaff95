"""`audioqual leaderboard`: means, bootstrap CIs, ranks and Holm-corrected paired tests against slow references."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from scipy import stats

from audioqual.cli.main import main
from audioqual.eval.leaderboard import build_leaderboard, holm


def _holm_reference(p):
    """Holm by its definition: step down the sorted p-values, multiply by (m - rank), keep monotone, cap at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        out[i] = min(running, 1.0)
    return out


def test_holm_matches_its_definition():
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 9))
        assert holm(p) == pytest.approx(_holm_reference(list(p)))


@pytest.fixture
def scores(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "scores.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["test", "reference", "system", "score", "distance", "mos", "error"])
        for item in range(8):
            base = rng.normal()
            for system, shift in (("a", 1.0), ("b", 0.0), ("c", 0.05)):
                writer.writerow([f"{system}{item}.wav", f"ref{item}.wav", system, base + shift + 0.1 * rng.normal(),
                                 -shift + 0.1 * rng.normal(), 3 + shift + 0.2 * rng.normal(), ""])
    return path


def test_means_ranks_intervals_and_tests_against_scipy(scores):
    board = build_leaderboard(scores, by="system", ratings="mos", n_resamples=500)
    assert board.item == "reference" and list(board.scores) == ["score", "distance", "mos"]
    rows = list(csv.DictReader(open(scores)))
    for metric in ("score", "distance"):
        for s in board.scores[metric]:
            values = [float(r[metric]) for r in rows if r["system"] == s.system]
            assert s.mean == pytest.approx(np.mean(values)) and s.n_items == 8
            assert s.low < s.mean < s.high
    assert [s.rank for s in board.scores["score"]] == [1, 3, 2]
    assert [s.rank for s in board.scores["distance"]] == [1, 3, 2]  # lower is better for distance
    tests = [c for c in board.comparisons if c.metric == "score"]
    raw = []
    for a, b in itertools.combinations("abc", 2):
        x = [float(r["score"]) for r in rows if r["system"] == a]
        y = [float(r["score"]) for r in rows if r["system"] == b]
        raw.append(stats.ttest_rel(x, y).pvalue)
    assert [c.p_value for c in tests] == pytest.approx(raw)
    assert [c.p_holm for c in tests] == pytest.approx(_holm_reference(raw))
    assert tests[0].p_holm < 0.05 and tests[2].p_holm > 0.05  # a vs b differ; b vs c do not


def test_command_writes_markdown_csv_and_html(scores, tmp_path, capsys):
    out_csv, out_html = tmp_path / "board.csv", tmp_path / "board.html"
    assert main(["leaderboard", str(scores), "--by", "system", "--metrics", "score", "--ratings", "mos",
                 "--csv", str(out_csv), "--html", str(out_html), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "| system | score mean | score rank | mos mean | mos rank |" in out and "p (Holm)" in out
    assert list(csv.DictReader(open(out_csv)))[0]["system"] == "a"
    page = out_html.read_text()
    assert "data:image/png;base64," in page and "<table>" in page
    assert main(["leaderboard", str(scores), "--by", "nope"]) == 2
