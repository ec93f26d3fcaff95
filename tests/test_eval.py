"""Evaluation harness: statistics vs scipy/brute force, aggregation, mapping, bootstrap, tests, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import stats

from audioqual.cli.evaluate_cmd import parse_prediction_spec
from audioqual.cli.main import main
from audioqual.errors import AudioqualError, ManifestError
from audioqual.eval.aggregate import system_level
from audioqual.eval.bootstrap import bootstrap_ci, resample_indices
from audioqual.eval.correlation import (
    KendallRankCorrCoef,
    MeanSquaredError,
    PearsonCorrCoef,
    SpearmanCorrCoef,
    average_ranks,
    kendall,
    mse,
    pearson,
    spearman,
)
from audioqual.eval.harness import (
    OVERALL,
    EvaluationConfig,
    evaluate,
    read_listening_test,
    read_predictions,
)
from audioqual.eval.mapping import fit_cubic
from audioqual.eval.significance import compare_predictors, paired_t, williams_t

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV_MANIFEST = SHARED_DATA / "dev_listening" / "manifest.csv"

# A fixed example with ties on both sides.
PRED = np.array([2.1, 3.4, 3.4, 1.0, 4.8, 2.9, 4.1, 0.5, 3.0, 2.2])
MOS = np.array([2.0, 3.0, 4.0, 1.5, 4.5, 3.0, 3.5, 1.0, 3.0, 2.5])


def kendall_tau_b_brute_force(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook tau-b with a double loop over pairs."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx == dy:
                concordant += 1
            else:
                discordant += 1
    return (concordant - discordant) / np.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))


def test_statistics_match_scipy_and_brute_force():
    assert pearson(PRED, MOS) == pytest.approx(stats.pearsonr(PRED, MOS).statistic, abs=1e-12)
    assert spearman(PRED, MOS) == pytest.approx(stats.spearmanr(PRED, MOS).statistic, abs=1e-12)
    assert kendall(PRED, MOS) == pytest.approx(stats.kendalltau(PRED, MOS).statistic, abs=1e-12)
    assert kendall(PRED, MOS) == pytest.approx(kendall_tau_b_brute_force(PRED, MOS), abs=1e-12)
    assert mse(PRED, MOS) == pytest.approx(sum((p - m) ** 2 for p, m in zip(PRED, MOS)) / len(PRED))
    np.testing.assert_allclose(average_ranks(PRED), stats.rankdata(PRED))
    assert np.isnan(pearson(np.ones(5), np.arange(5.0)))


def test_statistic_objects_accumulate_batches_like_functional():
    for cls, fn in ((PearsonCorrCoef, pearson), (SpearmanCorrCoef, spearman), (KendallRankCorrCoef, kendall),
                    (MeanSquaredError, mse)):
        metric = cls()
        metric.update(PRED[:3], MOS[:3])
        metric.update(PRED[3:], MOS[3:])
        assert metric.compute() == pytest.approx(fn(PRED, MOS), abs=1e-12)
        metric.reset()
        with pytest.raises(AudioqualError):
            metric.compute()
    with pytest.raises(AudioqualError, match="differ in length"):
        pearson(PRED, MOS[:-1])
    with pytest.raises(AudioqualError, match="finite"):
        mse(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_system_level_is_hand_computed_average():
    predictions = np.array([1.0, 3.0, 2.0, 6.0, 5.0])
    scores = np.array([2.0, 4.0, 1.0, 3.0, 5.0])
    systems = ["b", "b", "a", "a", "c"]
    pred_means, score_means, labels = system_level(predictions, scores, systems)
    assert labels == ["b", "a", "c"]
    np.testing.assert_allclose(pred_means, [2.0, 4.0, 5.0])
    np.testing.assert_allclose(score_means, [3.0, 2.0, 5.0])


def test_cubic_mapping_matches_polyfit_and_recovers_a_cubic():
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 5, 40)
    y = 0.3 * x**3 - x**2 + 2 * x + 1 + rng.normal(0, 0.1, 40)
    mapping = fit_cubic(x, y)
    np.testing.assert_allclose(mapping(x), np.polyval(np.polyfit(x, y, 3), x), atol=1e-9)
    exact = fit_cubic(x, 0.5 * x**3 - 2 * x + 4)
    np.testing.assert_allclose(exact(np.array([-1.0, 0.0, 2.0])), [5.5, 4.0, 4.0], atol=1e-9)
    with pytest.raises(AudioqualError, match="at least 5"):
        fit_cubic(x[:4], y[:4])


def test_bootstrap_interval_contains_estimate_and_is_reproducible():
    rng = np.random.default_rng(2)
    x = rng.normal(size=80)
    y = x + rng.normal(scale=0.8, size=80)
    estimate = pearson(x, y)

    def statistic(idx: np.ndarray) -> float:
        return pearson(x[idx], y[idx])

    first = bootstrap_ci(statistic, 80, n_resamples=500, seed=7)
    again = bootstrap_ci(statistic, 80, n_resamples=500, seed=7)
    other = bootstrap_ci(statistic, 80, n_resamples=500, seed=8)
    assert first.low < estimate < first.high
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    assert first.n_valid == 500
    strata = np.repeat(np.arange(4), 20)
    indices = resample_indices(80, 50, np.random.default_rng(0), strata)
    assert (strata[indices] == strata[None, :]).all()  # stratified resamples stay within their system


def williams_textbook(x_a: np.ndarray, x_b: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Williams' T2 written out from the correlation matrix (determinant by numpy)."""
    r = np.corrcoef(np.stack([y, x_a, x_b]))
    r12, r13, r23 = r[0, 1], r[0, 2], r[1, 2]
    n = len(y)
    det = np.linalg.det(r)
    denominator = 2 * (n - 1) / (n - 3) * det + ((r12 + r13) / 2) ** 2 * (1 - r23) ** 3
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / denominator)
    return t, 2 * stats.t.sf(abs(t), n - 3)


def test_williams_test_matches_formula_and_has_nominal_size():
    rng = np.random.default_rng(3)
    y = rng.normal(size=30)
    a = y + rng.normal(scale=0.7, size=30)
    b = y + rng.normal(scale=1.2, size=30)
    result = compare_predictors(a, b, y, "PCC")
    t, p = williams_textbook(a, b, y)
    assert result.t == pytest.approx(t, rel=1e-10) and result.p_value == pytest.approx(p, rel=1e-8)
    assert result.df == 27
    ranked = compare_predictors(a, b, y, "SRCC")
    t_rank, p_rank = williams_textbook(stats.rankdata(a), stats.rankdata(b), stats.rankdata(y))
    assert ranked.t == pytest.approx(t_rank, rel=1e-10) and ranked.p_value == pytest.approx(p_rank, rel=1e-8)
    squared = compare_predictors(a, b, y, "MSE")
    reference = stats.ttest_rel((a - y) ** 2, (b - y) ** 2)
    assert squared.t == pytest.approx(reference.statistic) and squared.p_value == pytest.approx(reference.pvalue)

    # Under H0 (both predictors equally good) a 5 % test rejects about 5 % of the time.
    n, trials = 25, 4000
    rng = np.random.default_rng(4)
    y = rng.normal(size=(trials, n))
    a = y + rng.normal(size=(trials, n))
    b = y + rng.normal(size=(trials, n))
    rejections = 0
    for i in range(trials):
        r = np.corrcoef(np.stack([y[i], a[i], b[i]]))
        _, _, p_value = williams_t(r[0, 1], r[0, 2], r[1, 2], n)
        rejections += p_value <= 0.05
    assert 0.035 < rejections / trials < 0.065


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=12), rng.normal(size=12) + 0.5
    t, df, p = paired_t(a, b)
    reference = stats.ttest_rel(a, b)
    assert (t, df) == (pytest.approx(reference.statistic), 11) and p == pytest.approx(reference.pvalue)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def small_test(tmp_path: Path) -> tuple[Path, dict[str, float], dict[str, str], dict[str, str]]:
    """A 2-subset listening test with 4 systems x 3 stimuli and known scores."""
    rng = np.random.default_rng(6)
    rows, mos, system, subset = [], {}, {}, {}
    for s_index, sub in enumerate(("music", "speech")):
        for sys_index, sys_name in enumerate(("A", "B", "C", "D")):
            for item in range(3):
                path = f"audio/{sub}/{sys_name}/item{item}.wav"
                score = 1 + sys_index + 0.3 * rng.normal() + 0.2 * s_index
                rows.append([path, f"ref/{sub}/item{item}.wav", sys_name, f"item{item}", round(score, 3), sub])
                mos[path], system[path], subset[path] = round(score, 3), sys_name, sub
    (tmp_path / "lt").mkdir()
    header = ["test", "reference", "condition", "signal", "mean", "dataset"]
    manifest = _write_csv(tmp_path / "lt" / "manifest.csv", header, rows)
    return manifest, mos, system, subset


def test_harness_joins_paths_and_matches_scipy(small_test, tmp_path):
    manifest, mos, system, subset = small_test
    rng = np.random.default_rng(7)
    paths = list(mos)
    pred = {p: mos[p] + rng.normal(scale=0.6) for p in paths}
    # Absolute paths for half, paths relative to another folder for the rest, a failed row, a stray row.
    rows = [[str(manifest.parent / p) if i % 2 else f"../lt/{p}", p, 3.0, pred[p], ""] for i, p in enumerate(paths)]
    rows[0][3] = ""
    rows[0][4] = "decoder crashed"
    rows.append(["elsewhere/unknown.wav", "x", 1.0, 2.0, ""])
    (tmp_path / "preds").mkdir()
    pred_csv = _write_csv(tmp_path / "preds" / "p.csv", ["test", "signal", "mean", "score", "error"], rows)

    test = read_listening_test(manifest)
    predictions = read_predictions(pred_csv, test)
    assert predictions.column == "score"  # `mean` is a listening-test column, never a default score
    assert (predictions.n_failed, predictions.n_unmatched) == (1, 1)
    run = evaluate(test, [predictions], EvaluationConfig(n_bootstrap=200, seed=0))
    assert run.subsets == [OVERALL, "music", "speech"]

    kept = paths[1:]
    x = np.array([pred[p] for p in kept])
    y = np.array([mos[p] for p in kept])
    overall = {s: run.value("score", OVERALL, "stimulus", s).value for s in ("PCC", "SRCC", "KTAU", "MSE")}
    assert overall["PCC"] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert overall["SRCC"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert overall["KTAU"] == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert overall["MSE"] == pytest.approx(np.mean((x - y) ** 2), abs=1e-12)

    music = [p for p in kept if subset[p] == "music"]
    sys_x = [np.mean([pred[p] for p in music if system[p] == s]) for s in "ABCD"]
    sys_y = [np.mean([mos[p] for p in music if system[p] == s]) for s in "ABCD"]
    assert run.value("score", "music", "system", "PCC").value == pytest.approx(stats.pearsonr(sys_x, sys_y).statistic)
    assert run.value("score", "music", "system", "SRCC").value == pytest.approx(stats.spearmanr(sys_x, sys_y).statistic)
    assert run.value("score", "music", "system", "MSE").n == 4
    overall_system = run.value("score", OVERALL, "system", "PCC")
    assert overall_system.n == 8  # systems are (subset, condition): A in music is not A in speech
    for result in run.results:
        if np.isfinite(result.ci_low):
            assert result.ci_low <= result.value <= result.ci_high, result


def test_harness_mapping_and_significance(small_test):
    manifest, mos, _, _ = small_test
    test = read_listening_test(manifest)
    rng = np.random.default_rng(8)
    good = np.array([np.exp(mos[k]) for k in mos]) + rng.normal(scale=0.5, size=len(mos))
    bad = rng.normal(size=len(mos))
    sets = []
    for name, values in (("good", good), ("bad", bad)):
        sets.append(read_predictions(
            _write_csv(manifest.parent / f"{name}.csv", ["test", name], [[k, v] for k, v in zip(mos, values)]),
            test,
        ))
    run = evaluate(test, sets, EvaluationConfig(mapping="cubic", n_bootstrap=0))
    y = test.scores
    mapped = np.polyval(np.polyfit(good, y, 3), good)
    assert run.value("good", OVERALL, "stimulus", "PCC").value == pytest.approx(stats.pearsonr(mapped, y).statistic)
    assert run.value("good", OVERALL, "stimulus", "SRCC").value == pytest.approx(stats.spearmanr(good, y).statistic)
    williams = [t for t in run.tests if (t.subset, t.level, t.statistic) == (OVERALL, "stimulus", "PCC")]
    assert len(williams) == 1 and williams[0].significant and williams[0].df == len(y) - 3
    assert {t.statistic for t in run.tests} == {"PCC", "SRCC", "MSE"}


def test_bad_inputs_raise_clear_errors(tmp_path, small_test):
    manifest, _, _, _ = small_test
    with pytest.raises(ManifestError, match="lacks column"):
        read_listening_test(_write_csv(tmp_path / "m.csv", ["test", "mean"], [["a.wav", 1]]))
    bad = _write_csv(tmp_path / "bad.csv", ["test", "score"], [["audio/music/A/item0.wav", "high"]])
    with pytest.raises(ManifestError, match=r"bad.csv:2: score 'high' is not a number"):
        read_predictions(bad, read_listening_test(manifest), column="score")
    assert parse_prediction_spec("v=out/p.csv:visqol") == ("v", Path("out/p.csv"), "visqol")
    assert parse_prediction_spec("out/p.csv") == (None, Path("out/p.csv"), None)


def negative_log_spectral_distance(reference: Path, test: Path) -> float:
    """An honest trivial predictor: minus the RMS dB difference of magnitude spectra (2048-point frames)."""
    spectra = []
    for path in (reference, test):
        audio, _ = sf.read(path, dtype="float32", always_2d=True)
        mono = audio.mean(axis=1)
        frames = np.lib.stride_tricks.sliding_window_view(mono, 2048)[::1024] * np.hanning(2048)
        spectra.append(np.abs(np.fft.rfft(frames, axis=1)))
    n = min(len(spectra[0]), len(spectra[1]))
    ref_db, test_db = (20 * np.log10(s[:n] + 1e-5) for s in spectra)
    return -float(np.sqrt(np.mean((ref_db - test_db) ** 2)))


@pytest.mark.skipif(not DEV_MANIFEST.is_file(), reason=f"shared listening-test data absent ({DEV_MANIFEST})")
def test_evaluate_cli_on_dev_listening_test(tmp_path):
    base = DEV_MANIFEST.parent
    with open(DEV_MANIFEST, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scores = [negative_log_spectral_distance(base / r["reference"], base / r["test"]) for r in rows]
    predictions = _write_csv(tmp_path / "lsd.csv", ["test", "neg_lsd"],
                             [[str(base / r["test"]), s] for r, s in zip(rows, scores)])
    out = tmp_path / "run"
    assert main(["evaluate", "--manifest", str(DEV_MANIFEST), "--predictions", f"lsd={predictions}",
                 "-o", str(out), "--bootstrap", "200"]) == 0
    data = json.loads((out / "results.json").read_text())
    result = {(r["level"], r["statistic"]): r for r in data["results"] if r["subset"] == OVERALL}
    x, y = np.array(scores), np.array([float(r["mean"]) for r in rows])
    assert result[("stimulus", "PCC")]["value"] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert result[("stimulus", "SRCC")]["value"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert result[("stimulus", "KTAU")]["value"] == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    systems = sorted({r["condition"] for r in rows})
    sys_x = [x[[r["condition"] == s for r in rows]].mean() for s in systems]
    sys_y = [y[[r["condition"] == s for r in rows]].mean() for s in systems]
    assert result[("system", "SRCC")]["value"] == pytest.approx(stats.spearmanr(sys_x, sys_y).statistic, abs=1e-12)
    assert result[("system", "PCC")]["n"] == len(systems) == 5
    assert data["coverage"]["lsd"]["stimuli_scored"] == len(rows)
    for name in ("table_stimulus.md", "table_system.csv", "table_overall.md", "significance.csv", "results.csv"):
        assert (out / name).is_file()
    assert "| Overall |" in (out / "table_stimulus.md").read_text()
    if data["plots"]:
        assert (out / data["plots"]["lsd"]).stat().st_size > 1000
    print("neg-LSD on dev listening test:", {k: round(v["value"], 3) for k, v in result.items()})


def test_within_signal_correlation_is_the_mean_of_per_signal_scipy_values(small_test, tmp_path):
    manifest, mos, system, subset = small_test
    rng = np.random.default_rng(11)
    pred = {p: mos[p] + rng.normal(scale=0.8) for p in mos}
    pred_csv = _write_csv(tmp_path / "p.csv", ["test", "score"], [[str(manifest.parent / p), v] for p, v in pred.items()])
    test = read_listening_test(manifest)
    run = evaluate(test, [read_predictions(pred_csv, test)], EvaluationConfig(n_bootstrap=100, seed=0))

    signal = {row["test"]: row["signal"] for row in test.rows}
    for sub in ("music", "speech"):
        per_signal = []
        for name in sorted(set(signal.values())):
            members = [p for p in mos if subset[p] == sub and signal[p] == name]
            per_signal.append(stats.spearmanr([pred[p] for p in members], [mos[p] for p in members]).statistic)
        result = run.value("score", sub, "within", "SRCC")
        assert result.value == pytest.approx(np.mean(per_signal), abs=1e-12)
        assert result.n == 3
    overall = run.value("score", OVERALL, "within", "SRCC")
    assert overall.n == 6  # item0 of music and item0 of speech are different signals
    assert run.value("score", OVERALL, "within", "MSE") is None
