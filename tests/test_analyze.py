"""Latent-space analyses and ablations (seed 000, Sec. IV) on tiny models trained on synthetic clips.

Every analysis runs end to end (API and `audioqual analyze ...`); figures are checked to hold the
expected number of series and points, and the numbers behind them against direct computations
(scipy, sklearn, hand-written loops).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import BarContainer
from scipy import stats

from audioqual.analysis import ablation
from audioqual.analysis.ablation import AblationConfig, AblationJob, assign_devices, plan_jobs, run_sweep, write_ablation
from audioqual.analysis.comparison import compare_models, write_comparison
from audioqual.analysis.latent import InputOptions, LatentSet, collect_latents, load_model, read_split
from audioqual.analysis.probing import ProbeOptions, probe_aspect, probe_domain, write_probe
from audioqual.analysis.terrain import write_terrain
from audioqual.analysis.umap_plots import umap_embedding, write_umap
from audioqual.cli.main import main
from audioqual.data.files import read_csv
from audioqual.errors import AudioqualError
from audioqual.train.config import OptimConfig
from audioqual.train.nr_config import DataConfig, DomainConfig, FeatureConfig, HeadConfig, NRTrainConfig

ASPECTS = ["PQ", "PC", "CE", "CU"]
SOURCES = ("alpha", "beta", "gamma")
VALID_PER_SOURCE = 8


def _assert_drawn_png(path, figure=None, min_colours: int = len(SOURCES) + 1) -> None:
    """A decodable PNG of the figure's pixel size (save_figure's 120 dpi) with data drawn on it, not a blank canvas.

    Replaces "file larger than 10 kB" (issue 19, item 20): a blank or broken figure fails here.
    """
    from matplotlib.image import imread

    image = imread(path)
    height, width = image.shape[:2]
    if figure is not None:
        expected = np.round(figure.get_size_inches() * 120).astype(int)
        assert (width, height) == tuple(expected), (width, height, expected)
    assert width >= 400 and height >= 300
    rgb = np.round(image[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    ink = np.any(rgb < 250, axis=1).mean()
    assert 0.02 < ink < 0.9, f"{path}: {ink:.3f} of the pixels are drawn"
    colours = {tuple(c) for c in rgb[np.ptp(rgb.astype(int), axis=1) > 40]}  # saturated: series, colour maps
    assert len(colours) >= min_colours, f"{path}: {len(colours)} saturated colours"


def _point_count(axis) -> int:
    """Points drawn by every scatter of an axis (3-D scatters keep their data in _offsets3d)."""
    total = 0
    for collection in axis.collections:
        coordinates = getattr(collection, "_offsets3d", None)
        total += len(coordinates[0]) if coordinates is not None else len(collection.get_offsets())
    return total


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_backbone_dir):
    """Synthetic rated clips, a base training config, and two tiny trained models (baseline, DAT-Source)."""
    from audioqual.nr.synthetic import make_spurious_dataset
    from audioqual.train.nr import prepare_data, train_single

    root = tmp_path_factory.mktemp("analyze")
    train, valid = make_spurious_dataset(root / "data", SOURCES, train_per_source=16,
                                         valid_per_source=VALID_PER_SOURCE, seconds=1.0, systems=5)
    config = NRTrainConfig(
        seed=0,
        output_dir=str(root / "unused"),
        data=DataConfig(train=str(train), valid=str(valid)),
        features=FeatureConfig(backbone=str(tiny_backbone_dir), layer=2, crop_seconds=1.0,
                               cache_dir=str(root / "cache"), device="cpu"),
        head=HeadConfig("multigauss", {"conv_channels": [8, 8], "dense": [16, 8]}),
        optim=OptimConfig(batch_size=16, epochs=3, lr=3e-3, device="cpu"),
    )
    prepared = prepare_data(config, progress=False)
    models = {}
    for name, domains in (("baseline", []), ("dat-source", [DomainConfig("source")])):
        variant = dataclasses.replace(config, name=name, domains=domains)
        models[name] = train_single(variant, prepared, root / name, progress=False).model_dir
    options = InputOptions(cache_dir=str(root / "cache"), device="cpu", progress=False)
    return {"root": root, "valid": valid, "config": config, "models": models, "options": options}


@pytest.fixture(scope="module")
def latents(trained):
    items = read_split(trained["valid"], ASPECTS)
    return [collect_latents(load_model(path), items, name=name, options=trained["options"])
            for name, path in trained["models"].items()]


def _model_args(trained) -> list[str]:
    args = []
    for name, path in trained["models"].items():
        args += ["-m", f"{name}={path}"]
    return args + ["--manifest", str(trained["valid"]), "--cache-dir", str(trained["root"] / "cache"),
                   "--device", "cpu", "-q"]


# ----------------------------------------------------------------------------- latents


def test_latents_are_the_models_bottleneck_and_predictions(trained, latents):
    from audioqual.nr.data import FeatureDataset
    from audioqual.nr.probe import bottleneck
    from audioqual.nr.scoring import predict_dataset
    from audioqual.analysis.latent import model_inputs

    model = load_model(trained["models"]["baseline"])
    items = read_split(trained["valid"], ASPECTS)
    dataset, _, kept, failures = model_inputs(model, [i.entry for i in items], trained["options"])
    assert isinstance(dataset, FeatureDataset) and not failures and len(kept) == len(items)
    latent = latents[0]
    np.testing.assert_allclose(latent.h, bottleneck(model, dataset), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(latent.predictions, predict_dataset(model, dataset)[0], rtol=1e-5, atol=1e-6)
    rows = [json.loads(line) for line in Path(trained["valid"]).read_text().splitlines()]
    np.testing.assert_allclose(latent.targets, [[np.mean(r[a]) for a in ASPECTS] for r in rows])
    assert latent.domains == [r["source"] for r in rows]
    assert latent.systems == [r["system"] for r in rows]
    assert latent.h.shape == (len(SOURCES) * VALID_PER_SOURCE, model.head.bottleneck_dim)


def test_router_needs_a_member(trained, tmp_path):
    from audioqual.nr.model import NoReferenceModel
    from audioqual.nr.selection import AspectRouter

    members = {n: NoReferenceModel.from_pretrained(p) for n, p in trained["models"].items()}
    router = AspectRouter(members, {"PQ": "baseline", "PC": "dat-source", "CE": "baseline", "CU": "baseline"})
    router.save_pretrained(tmp_path / "router", sources=trained["models"])
    with pytest.raises(AudioqualError, match="--member"):
        load_model(tmp_path / "router")
    assert load_model(tmp_path / "router", "dat-source").domains.keys() == {"source"}


# ----------------------------------------------------------------------------- UMAP and terrain


def test_umap_keeps_planted_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(3, 16))
    labels = np.repeat(np.arange(3), 15)
    xy = umap_embedding(centres[labels] + rng.normal(0, 0.5, size=(45, 16)))
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    neighbours = np.argsort(distances, axis=1)[:, :5]
    assert (labels[neighbours] == labels[:, None]).mean() > 0.95


@pytest.mark.parametrize("n", [3, 4, 5])
def test_umap_handles_tiny_sets(n):
    h = np.random.default_rng(n).normal(size=(n, 6))
    xy = umap_embedding(h)
    assert xy.shape == (n, 2) and np.isfinite(xy).all()


def test_umap_rejects_unusable_input():
    with pytest.raises(AudioqualError, match="at least 3"):
        umap_embedding(np.zeros((2, 4)) + np.arange(2)[:, None])
    with pytest.raises(AudioqualError, match="same for every item"):
        umap_embedding(np.ones((6, 4)))


def test_umap_figure_has_a_series_per_domain_and_every_point(latents, tmp_path):
    result = write_umap(latents, tmp_path, ["PQ", "PC"])
    axes = np.asarray(result.figure.axes[: 3 * 2]).reshape(3, 2)  # colour bars come after the panels
    n = len(SOURCES) * VALID_PER_SOURCE
    for column, latent in enumerate(latents):
        domain_axis = axes[0, column]
        assert len(domain_axis.collections) == len(SOURCES) and _point_count(domain_axis) == n
        assert sorted(label.split(" (")[0] for label in domain_axis.get_legend_handles_labels()[1]) == list(SOURCES)
        for row, aspect in enumerate(["PQ", "PC"], start=1):
            (collection,) = axes[row, column].collections
            np.testing.assert_allclose(collection.get_array(), latent.targets[:, latent.aspect_index(aspect)])
            np.testing.assert_allclose(collection.get_offsets(), result.embeddings[column])
    rows = read_csv(result.csv)
    assert len(rows) == 2 * n and {r["model"] for r in rows} == {"baseline", "dat-source"}
    first = [r for r in rows if r["model"] == "baseline"]
    np.testing.assert_allclose([[float(r["umap_1"]), float(r["umap_2"])] for r in first], result.embeddings[0])
    np.testing.assert_allclose([float(r["PQ_pred"]) for r in first], latents[0].predictions[:, 0])
    _assert_drawn_png(result.png, result.figure)


def test_terrain_heights_are_the_predicted_mos(latents, tmp_path):
    result = write_terrain(latents, tmp_path, "CE")
    n = len(SOURCES) * VALID_PER_SOURCE
    panels = [a for a in result.figure.axes if a.name == "3d"]
    assert len(panels) == 2
    for axis, latent in zip(panels, latents):
        assert len(axis.collections) == len(SOURCES) and _point_count(axis) == n
        heights = np.concatenate([np.asarray(c._offsets3d[2]) for c in axis.collections])
        expected = np.concatenate([latent.predictions[np.asarray(latent.domains) == d, 2] for d in SOURCES])
        np.testing.assert_allclose(np.sort(heights), np.sort(expected), rtol=1e-6)
        assert axis.get_zlabel() == "predicted CE"
    rows = read_csv(result.csv)
    assert len(rows) == 2 * n and result.png.name == "terrain_CE.png"
    _assert_drawn_png(result.png, result.figure)


def test_umap_and_terrain_cli(trained, tmp_path):
    assert main(["analyze", "umap", *_model_args(trained), "-o", str(tmp_path), "--aspects", "PC"]) == 0
    assert main(["analyze", "terrain", *_model_args(trained), "-o", str(tmp_path), "--aspect", "PQ"]) == 0
    n = len(SOURCES) * VALID_PER_SOURCE
    assert len(read_csv(tmp_path / "umap_points.csv")) == 2 * n
    assert len(read_csv(tmp_path / "terrain_PQ.csv")) == 2 * n
    _assert_drawn_png(tmp_path / "umap.png")
    _assert_drawn_png(tmp_path / "terrain_PQ.png")


# ----------------------------------------------------------------------------- linear probing


def _reference_domain_accuracy(h, labels, folds, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    scores = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(h, labels):
        mean, std = h[train].mean(0), h[train].std(0)
        std[std == 0] = 1.0
        fitted = LogisticRegression(max_iter=2000).fit((h[train] - mean) / std, labels[train])
        scores.append(np.mean(fitted.predict((h[test] - mean) / std) == labels[test]))
    return float(np.mean(scores))


def _reference_ridge_srcc(h, y, alpha, folds, seed):
    """Out-of-fold predictions of closed-form ridge on standardised h (intercept not penalised)."""
    from sklearn.model_selection import KFold

    out = np.empty_like(y)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(h):
        mean, std = h[train].mean(0), h[train].std(0)
        std[std == 0] = 1.0
        x = (h[train] - mean) / std
        weights = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ (y[train] - y[train].mean()))
        out[test] = (h[test] - mean) / std @ weights + y[train].mean()
    return stats.spearmanr(out, y).statistic


def test_probes_match_reference_loops_and_find_planted_information():
    rng = np.random.default_rng(1)
    n = 60
    domains = np.repeat(["a", "b", "c"], n // 3)
    quality = rng.uniform(1, 10, n)
    h = rng.normal(size=(n, 8))
    h[:, 0] += 4.0 * (domains == "a") - 4.0 * (domains == "c")  # domain written into h
    h[:, 1] += quality  # quality written into h
    options = ProbeOptions(folds=5, seed=3, alphas=(2.0,))
    accuracy, chance, n_domains, notes = probe_domain(h, list(domains), options)
    assert accuracy == pytest.approx(_reference_domain_accuracy(h, domains, 5, 3))
    assert accuracy > 0.9 and chance == pytest.approx(1 / 3) and n_domains == 3 and not notes
    srcc, spread = probe_aspect(h, quality, options)
    assert srcc == pytest.approx(_reference_ridge_srcc(h, quality, 2.0, 5, 3), abs=1e-9)
    assert srcc > 0.9 and spread >= 0.0
    noise = rng.normal(size=(n, 8))
    assert probe_domain(noise, list(domains), options)[0] < 0.6
    assert abs(probe_aspect(noise, quality, options)[0]) < 0.4


def test_probe_leaves_out_items_without_a_usable_domain():
    """The lone items are dropped, and the probe still finds the planted domain (and not on noise)."""
    rng = np.random.default_rng(2)
    labels = ["a"] * 10 + ["b"] * 10 + ["lonely", "unknown"]
    h = rng.normal(size=(22, 3))
    h[:10, 0] += 4.0  # domain "a" written into h
    h[20:, 0] += 4.0  # the left-out items look like "a"; counting them as anything would change the result
    accuracy, chance, n_domains, notes = probe_domain(h, labels, ProbeOptions(folds=3))
    assert n_domains == 2 and chance == pytest.approx(0.5) and len(notes) == 2
    assert accuracy > 0.9
    assert accuracy == pytest.approx(probe_domain(h[:20], labels[:20], ProbeOptions(folds=3))[0])
    assert probe_domain(rng.normal(size=(20, 3)), labels[:20], ProbeOptions(folds=3))[0] < 0.8


def test_probe_table_and_figure(latents, tmp_path):
    outputs = write_probe(latents, tmp_path, ProbeOptions(folds=4))
    rows = read_csv(outputs.csv)
    assert [r["model"] for r in rows] == ["baseline", "dat-source"]
    for row, result, latent in zip(rows, outputs.results, latents):
        assert float(row["domain_accuracy"]) == pytest.approx(result.domain_accuracy)
        assert result.n_domains == len(SOURCES) and result.n_items == len(latent)
        assert set(result.aspect_srcc) == set(ASPECTS)
    left, right = outputs.figure.axes[:2]
    assert len(left.patches) == 2 and _point_count(left) == 2  # one bar and one chance mark per model
    bars = [c for c in right.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(len(c) == len(ASPECTS) for c in bars)  # one series per model
    assert "Domain Acc." in outputs.markdown.read_text()


def test_probe_cli_leaves_out_unreadable_items(trained, tmp_path):
    manifest = tmp_path / "with_missing.jsonl"
    lines = Path(trained["valid"]).read_text().splitlines()
    broken = json.loads(lines[0]) | {"path": str(tmp_path / "missing.wav"), "id": "missing"}
    absolute = [json.loads(line) for line in lines]
    for row in absolute:
        row["path"] = str(Path(trained["valid"]).parent / row["path"])
    manifest.write_text("".join(json.dumps(r) + "\n" for r in [*absolute, broken]))
    args = _model_args(trained)
    args[args.index("--manifest") + 1] = str(manifest)
    assert main(["analyze", "probe", *args, "-o", str(tmp_path / "out"), "--folds", "3"]) == 0
    left_out = read_csv(tmp_path / "out" / "left_out.csv")
    assert {(r["model"], r["item_id"]) for r in left_out} == {("baseline", "missing"), ("dat-source", "missing")}
    assert "missing.wav" in left_out[0]["error"]
    rows = read_csv(tmp_path / "out" / "probe.csv")
    assert [int(r["n_items"]) for r in rows] == [len(lines)] * 2


def test_domains_from_a_kmeans_branch_are_its_training_clusters(trained, tmp_path):
    from audioqual.train.nr import prepare_data, train_single

    config = dataclasses.replace(trained["config"], name="dat-kmeans", domains=[DomainConfig("kmeans:3")])
    model_dir = train_single(config, prepare_data(config, progress=False), tmp_path / "km", progress=False).model_dir
    assignment = load_model(model_dir).domains["kmeans3"]
    train = config.data.train
    args = ["-m", f"km={model_dir}", "--manifest", train, "--cache-dir", config.features.cache_dir, "--device", "cpu",
            "-q", "--domain-branch", "kmeans3", "-o", str(tmp_path / "out")]
    assert main(["analyze", "umap", *args, "--aspects", "PQ"]) == 0
    rows = read_csv(tmp_path / "out" / "umap_points.csv")
    expected = dict(zip(assignment.item_ids, (assignment.names[i] for i in assignment.labels)))
    assert len(rows) == len(expected) and all(r["domain"] == expected[r["item_id"]] for r in rows)


# ----------------------------------------------------------------------------- Table I comparison


def test_comparison_matches_direct_computation(latents, tmp_path):
    outputs = write_comparison(latents, tmp_path)
    comparison = outputs.comparison
    systems = np.asarray(latents[0].systems)
    names = sorted(set(systems))
    for latent in latents:
        for k, aspect in enumerate(ASPECTS):
            p = np.asarray([latent.predictions[systems == s, k].astype(float).mean() for s in names])
            y = np.asarray([latent.targets[systems == s, k].mean() for s in names])
            assert comparison.values[(latent.name, aspect, "SRCC")] == pytest.approx(stats.spearmanr(p, y).statistic)
            assert comparison.values[(latent.name, aspect, "MSE")] == pytest.approx(np.mean((p - y) ** 2))
            if latent.name == "dat-source":
                base = np.asarray([latents[0].predictions[systems == s, k].astype(float).mean() for s in names])
                test = comparison.test("dat-source", aspect, "MSE")
                expected = stats.ttest_rel((p - y) ** 2, (base - y) ** 2)
                assert test.result.p_value == pytest.approx(expected.pvalue)
                assert test.significant == (expected.pvalue <= 0.05) and test.n == len(names)
    table = read_csv(outputs.csv)
    assert [r["System / Strategy"] for r in table] == ["baseline", "dat-source"]
    assert float(table[1]["PQ SRCC"]) == pytest.approx(comparison.values[("dat-source", "PQ", "SRCC")])
    tests = read_csv(outputs.tests_csv)
    assert {r["model"] for r in tests} == {"dat-source"} and len(tests) == 2 * len(ASPECTS)
    for axis, statistic in zip(outputs.figure.axes[:2], ("MSE", "SRCC")):
        bars = [c for c in axis.containers if isinstance(c, BarContainer)]
        assert len(bars) == 2 and all(len(c) == len(ASPECTS) for c in bars)
        heights = [bar.get_height() for bar in bars[1]]
        assert heights == pytest.approx([comparison.values[("dat-source", a, statistic)] for a in ASPECTS])


def test_comparison_marks_significant_differences():
    rng = np.random.default_rng(5)
    systems = [f"s{i}" for i in range(12) for _ in range(4)]
    truth = np.repeat(np.linspace(1, 9, 12), 4)[:, None] + rng.normal(0, 0.1, (48, 1))

    def latent(name, predictions):
        return LatentSet(name, [str(i) for i in range(48)], np.zeros((48, 2)), predictions, ["PQ"], truth,
                         ["d"] * 48, systems)

    good = latent("good", truth + rng.normal(0, 0.05, (48, 1)))
    bad = latent("bad", truth + 3.0 + rng.normal(0, 0.05, (48, 1)))
    comparison = compare_models([bad, good], aspects=["PQ"])
    assert comparison.test("good", "PQ", "MSE").significant
    from audioqual.analysis.comparison import comparison_markdown

    assert "\\*" in comparison_markdown(comparison).split("\n")[5]  # the row of `good`


def test_compare_cli(trained, tmp_path):
    assert main(["analyze", "compare", *_model_args(trained), "-o", str(tmp_path), "--baseline", "baseline"]) == 0
    assert len(read_csv(tmp_path / "comparison.csv")) == 2
    assert "System / Strategy" in (tmp_path / "comparison.md").read_text()
    _assert_drawn_png(tmp_path / "comparison.png", min_colours=2)


# ----------------------------------------------------------------------------- K ablation


def test_jobs_and_devices():
    config = AblationConfig(strategies=["kmeans", "random"], ks=[2, 4], seeds=[0, 1])
    jobs = plan_jobs(config)
    assert [j.job_id for j in jobs[:2]] == ["baseline-seed0", "baseline-seed1"]
    assert len(jobs) == 2 + 2 * 2 * 2 and len({j.job_id for j in jobs}) == len(jobs)
    assert AblationJob("kmeans", 4, 1).domains(None)[0].strategy == "kmeans:4"
    assert [d for _, d in assign_devices(jobs[:5], ["cuda:0", "cuda:1"])] == ["cuda:0", "cuda:1"] * 2 + ["cuda:0"]
    assert all(d is None for _, d in assign_devices(jobs, []))
    with pytest.raises(AudioqualError):
        AblationConfig(strategies=["source"])


def _reference_deltas(sweep: Path, strategy: str, k: int, aspect: str) -> tuple[list[float], list[float]]:
    delta_srcc, delta_mse = [], []
    for seed in (0, 1):
        job = json.loads((sweep / "jobs" / f"{strategy}-K{k}-seed{seed}" / "result.json").read_text())
        base = json.loads((sweep / "jobs" / f"baseline-seed{seed}" / "result.json").read_text())
        delta_srcc.append(job["metrics"][aspect]["system_srcc"] - base["metrics"][aspect]["system_srcc"])
        delta_mse.append(base["metrics"][aspect]["system_mse"] - job["metrics"][aspect]["system_mse"])
    return delta_srcc, delta_mse


def test_k_sweep_aggregates_resumes_and_records_failures(trained, tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    config = AblationConfig(ks=[2, 3], seeds=[0, 1], aspect="PQ")
    outcome = run_sweep(trained["config"], config, sweep, progress=False)
    assert len(outcome.results) == 10 and not outcome.errors
    outputs = write_ablation(outcome.results, config, sweep)

    job = json.loads((sweep / "jobs" / "kmeans-K3-seed1" / "result.json").read_text())
    predictions = read_csv(sweep / "jobs" / "kmeans-K3-seed1" / "predictions.csv")
    by_system: dict[str, list[tuple[float, float]]] = {}
    for row in predictions:
        by_system.setdefault(row["system"], []).append((float(row["PQ_pred"]), float(row["PQ_score"])))
    means = np.asarray([np.mean(v, axis=0) for v in by_system.values()])
    assert job["metrics"]["PQ"]["system_srcc"] == pytest.approx(stats.spearmanr(means[:, 0], means[:, 1]).statistic)
    assert job["metrics"]["PQ"]["system_mse"] == pytest.approx(np.mean((means[:, 0] - means[:, 1]) ** 2))

    table = {(r["strategy"], r["k"], r["aspect"]): r for r in read_csv(outputs.csv)}
    for strategy in ("kmeans", "random"):
        for k in (2, 3):
            delta_srcc, delta_mse = _reference_deltas(sweep, strategy, k, "PQ")
            row = table[(strategy, str(k), "PQ")]
            assert row["n_seeds"] == "2"
            assert float(row["delta_srcc_mean"]) == pytest.approx(np.mean(delta_srcc), abs=1e-12)
            assert float(row["delta_mse_mean"]) == pytest.approx(np.mean(delta_mse), abs=1e-12)
            assert float(row["delta_mse_std"]) == pytest.approx(np.std(delta_mse, ddof=1), abs=1e-12)
    top, bottom = outputs.figure.axes
    for axis in (top, bottom):
        assert len(axis.containers) == 2  # one error-bar series per strategy
        for container in axis.containers:
            assert len(container.lines[0].get_xdata()) == 2  # one point per K
    assert any(c.get_offsets().shape == (1, 2) for c in top.collections)  # the star at the best K
    deltas = [float(table[("kmeans", str(k), "PQ")]["delta_mse_mean"]) for k in (2, 3)]
    kmeans_line = bottom.containers[0].lines[0]
    np.testing.assert_allclose(kmeans_line.get_ydata(), deltas)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished job ran again")

    monkeypatch.setattr(ablation, "run_job", must_not_run)
    again = run_sweep(trained["config"], config, sweep, progress=False)
    assert again.skipped == 10 and again.results == outcome.results
    monkeypatch.undo()

    wider = dataclasses.replace(config, ks=[2, 3, 1000], strategies=["random"])
    outcome = run_sweep(trained["config"], wider, sweep, progress=False)
    assert set(outcome.errors) == {"random-K1000-seed0", "random-K1000-seed1"}
    assert "cannot split" in (sweep / "jobs" / "random-K1000-seed0" / "error.txt").read_text()
    assert len(outcome.results) == 2 + 2 * 2

    changed = dataclasses.replace(trained["config"], optim=dataclasses.replace(trained["config"].optim, lr=1e-3))
    with pytest.raises(AudioqualError, match="different training config"):
        run_sweep(changed, config, sweep, progress=False)


def test_k_sweep_in_worker_processes_matches_one_process(trained, tmp_path):
    config = AblationConfig(strategies=["kmeans"], ks=[2], seeds=[0], aspect="PQ")
    one = run_sweep(trained["config"], config, tmp_path / "one", progress=False)
    two = run_sweep(trained["config"], config, tmp_path / "two", workers=2, devices=["cpu", "cpu"], progress=False)
    assert not one.errors and not two.errors and set(two.results) == {"baseline-seed0", "kmeans-K2-seed0"}
    for job_id, result in one.results.items():
        for aspect, metrics in result["metrics"].items():
            assert two.results[job_id]["metrics"][aspect] == pytest.approx(metrics, rel=1e-5)
        assert two.results[job_id]["device"] == "cpu"


def test_ablate_k_cli_with_shards(trained, tmp_path):
    config = tmp_path / "base.yaml"
    import yaml

    from audioqual.config import to_dict

    config.write_text(yaml.safe_dump(to_dict(trained["config"])))
    common = ["analyze", "ablate-k", "-c", str(config), "-o", str(tmp_path / "sweep"), "--ks", "2",
              "--seeds", "0", "--strategies", "random", "-q"]
    assert main([*common, "--shard", "0/2"]) == 0  # baseline-seed0 only
    assert (tmp_path / "sweep" / "jobs" / "baseline-seed0" / "result.json").exists()
    assert not (tmp_path / "sweep" / "jobs" / "random-K2-seed0").exists()
    assert main([*common, "--shard", "1/2"]) == 0
    assert main([*common, "--aggregate-only"]) == 0
    rows = read_csv(tmp_path / "sweep" / "ablation_k.csv")
    assert {(r["strategy"], r["k"]) for r in rows} == {("baseline", ""), ("random", "2")}
    assert all(math.isfinite(float(r["delta_mse_mean"])) for r in rows)
    _assert_drawn_png(tmp_path / "sweep" / "ablation_k_PQ.png", min_colours=2)


# ----------------------------------------------------------------------------- leave-one-domain-out study


def test_robustness_study_holds_each_domain_out_resumes_and_summarises(trained, tmp_path, monkeypatch):
    from audioqual.analysis import robustness
    from audioqual.analysis.robustness import RobustnessConfig, method_config, run_study, summarize, write_summary

    rows = []
    for manifest, split in ((trained["config"].data.train, "train"), (trained["valid"], "validation")):
        rows += [{**json.loads(line), "split": split} for line in Path(manifest).read_text().splitlines() if line]
    rated = Path(trained["valid"]).parent / "rated.jsonl"  # relative paths stay valid beside the originals
    rated.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = RobustnessConfig(methods=["plain", "l2", "dat-source", "dat-random:2"], seeds=[0, 1],
                              held_out=["alpha", "gamma"], extra_eval={"valid": str(trained["valid"])})
    study = tmp_path / "study"
    results = run_study(trained["config"], rated, config, study, progress=False)
    assert len(results) == 2 * 4 * 2

    fold = study / "folds" / "alpha"
    train_domains = {json.loads(line)["source"] for line in (fold / "train.jsonl").read_text().splitlines()}
    test_domains = {json.loads(line)["source"] for line in (fold / "test.jsonl").read_text().splitlines()}
    assert train_domains == {"beta", "gamma"} and test_domains == {"alpha"}
    l2 = method_config(trained["config"], "l2", 0, config, tmp_path)
    assert l2.optim.weight_decay == config.l2_weight_decay and not l2.domains
    assert [d.strategy for d in method_config(trained["config"], "dat-random:2", 1, config, tmp_path).domains] == ["random:2"]

    table = summarize(results, "PQ")
    index = {(r["fold"], r["method"], r["seed"]): r for r in results}
    for row in table:
        evaluation, _, metric, method, n, mean = row[:6]
        values = [r["evaluations"][evaluation]["PQ"][metric] for r in results if r["method"] == method]
        assert n == len(values) and mean == pytest.approx(np.mean(values))
        if method == "dat-source" and metric == "utterance_srcc":
            deltas = [index[(f, method, s)]["evaluations"][evaluation]["PQ"][metric]
                      - index[(f, "plain", s)]["evaluations"][evaluation]["PQ"][metric]
                      for f in ("alpha", "gamma") for s in (0, 1)]
            assert row[8] == pytest.approx(np.mean(deltas))
            half = stats.t.ppf(0.975, len(deltas) - 1) * np.std(deltas, ddof=1) / math.sqrt(len(deltas))
            assert row[9] == pytest.approx(np.mean(deltas) - half)
    assert write_summary(results, study, ASPECTS).exists()
    _assert_drawn_png(study / "robustness_PQ.png", min_colours=2)
    markdown = (study / "summary.md").read_text()
    plain_row = next(r for r in table if r[0] == "held_out" and r[2] == "utterance_srcc" and r[3] == "plain")
    assert f"| plain | 4 | {plain_row[5]:.3f} [{plain_row[6]:.3f}, {plain_row[7]:.3f}]" in markdown

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run trained again")

    monkeypatch.setattr("audioqual.train.nr.train_single", must_not_train)
    assert len(run_study(trained["config"], rated, config, study, progress=False)) == len(results)
    with pytest.raises(AudioqualError, match="other settings"):
        run_study(trained["config"], rated, dataclasses.replace(config, seeds=[5]), study, progress=False)
    with pytest.raises(AudioqualError, match="unknown method"):
        RobustnessConfig(methods=["dat-nonsense"])
    assert robustness.METHODS[0] == "plain"
