"""Several metrics in one pass (`audioqual metric a,b` and `--suite`): values, shared decoding, preflight."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioqual.cli.main import main
from audioqual.metrics import pairs as pairs_module
from audioqual.metrics.base import MetricCategory, MetricInfo, PairMetric

THIS_MODULE = Path(__file__).stem


class Snr16k(PairMetric):
    """SNR of test against reference in dB at 16 kHz, mono (a full-reference metric)."""

    info = MetricInfo(name="snr", higher_is_better=True, sample_rate=16000, channels="downmix")

    def score_pair(self, reference, test, sample_rate):
        noise = np.sum((test - reference) ** 2, dtype=np.float64)
        return {"snr": 10 * np.log10(np.sum(reference**2, dtype=np.float64) / noise), "frames": test.shape[1]}


class Peak48k(PairMetric):
    """Peak of the test at 48 kHz, channels kept (a no-reference metric)."""

    info = MetricInfo(name="peak", higher_is_better=True, sample_rate=48000, channels="keep",
                      category=MetricCategory.INDEPENDENT)

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def score_pair(self, reference, test, sample_rate):
        assert reference is None
        return {"peak": self.scale * float(np.abs(test).max()), "frames": test.shape[1]}


def _write_pairs(tmp_path: Path, with_nr_row: bool = False) -> Path:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(2):
        ref = (0.3 * rng.standard_normal((36000, 2))).astype(np.float32)
        sf.write(tmp_path / f"ref{i}.wav", ref, 48000, subtype="FLOAT")
        deg = ref + (0.05 * (i + 1) * rng.standard_normal(ref.shape)).astype(np.float32)
        sf.write(tmp_path / f"deg{i}.wav", deg, 48000, subtype="FLOAT")
        rows.append([f"deg{i}.wav", f"ref{i}.wav", f"sys{i}"])
    if with_nr_row:
        rows.append(["deg0.wav", "", "nr"])
    manifest = tmp_path / "pairs.csv"
    with open(manifest, "w", newline="") as handle:
        csv.writer(handle).writerows([["test", "reference", "system"], *rows])
    return manifest


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


SNR, PEAK = f"{THIS_MODULE}:Snr16k", f"{THIS_MODULE}:Peak48k"


def test_one_pass_equals_separate_runs_and_decodes_each_file_once(tmp_path, monkeypatch):
    manifest = _write_pairs(tmp_path)
    for name, out in ((SNR, "snr.csv"), (PEAK, "peak.csv")):
        assert main(["metric", name, "--manifest", str(manifest), "-o", str(tmp_path / out)]) == 0
    decoded = []
    real_decode = pairs_module.decode_audio
    monkeypatch.setattr(pairs_module, "decode_audio", lambda path, *a: decoded.append(path) or real_decode(path, *a))
    assert main(["metric", f"{SNR},{PEAK}", "--manifest", str(manifest), "-o", str(tmp_path / "both.csv")]) == 0
    assert sorted(decoded) == sorted(str(tmp_path / f) for f in ("ref0.wav", "deg0.wav", "ref1.wav", "deg1.wav"))
    both, snr, peak = (_read(tmp_path / f) for f in ("both.csv", "snr.csv", "peak.csv"))
    assert [r["snr"] for r in both] == [r["snr"] for r in snr]
    assert [r["peak"] for r in both] == [r["peak"] for r in peak]
    # a key both metrics give is prefixed with the later metric's label
    assert [r["frames"] for r in both] == [r["frames"] for r in snr] == ["12000.0", "12000.0"]
    assert [r[f"{PEAK}_frames"] for r in both] == [r["frames"] for r in peak] == ["36000.0", "36000.0"]
    # against the obvious computation from the files
    ref, rate = sf.read(tmp_path / "ref1.wav", dtype="float32")
    assert float(both[1]["peak"]) == pytest.approx(float(np.abs(sf.read(tmp_path / "deg1.wav")[0]).max()), rel=1e-6)
    assert rate == 48000 and ref.shape == (36000, 2)


def test_rows_without_reference_get_the_no_reference_metrics_only(tmp_path):
    manifest = _write_pairs(tmp_path, with_nr_row=True)
    out = tmp_path / "out.csv"
    assert main(["metric", f"{SNR},{PEAK}", "--manifest", str(manifest), "-o", str(out)]) == 0
    rows = _read(out)
    assert rows[2]["system"] == "nr" and rows[2]["snr"] == "" and rows[2]["error"] == ""
    assert rows[2]["peak"] == rows[0]["peak"] != ""


def test_suite_yaml_with_options_and_labels_and_resume(tmp_path, capsys):
    manifest = _write_pairs(tmp_path)
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"- {SNR}\n- name: {PEAK}\n- name: {PEAK}\n  label: half\n  scale: 0.5\n")
    out = tmp_path / "out.csv"
    assert main(["metric", "--suite", str(suite), "--manifest", str(manifest), "-o", str(out)]) == 0
    rows = _read(out)
    assert [float(r["half_peak"]) for r in rows] == pytest.approx([0.5 * float(r["peak"]) for r in rows])
    capsys.readouterr()
    assert main(["metric", "--suite", str(suite), "--manifest", str(manifest), "-o", str(out)]) == 0
    assert "0 computed now, 2 reused" in capsys.readouterr().err
    suite.write_text(f"- {SNR}\n- {SNR}\n")
    assert main(["metric", "--suite", str(suite), "--manifest", str(manifest), "-o", str(out)]) == 2


def test_preflight_reports_every_problem_at_once_before_any_work(tmp_path, capsys):
    manifest = _write_pairs(tmp_path)
    (tmp_path / "needs_dep_suite.py").write_text("import some_missing_dependency_xyz\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"- no_such_metric\n- name: {PEAK}\n  colour: red\n- needs_dep_suite:Anything\n- {SNR}\n")
    out = tmp_path / "out.csv"
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        code = main(["metric", "--suite", str(suite), "--manifest", str(manifest), "-o", str(out)])
    finally:
        sys.path.remove(str(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "3 problem(s)" in err
    assert "no_such_metric: unknown metric" in err
    assert "colour" in err and "its options: scale" in err
    assert "some_missing_dependency_xyz" in err


def test_preflight_needs_a_reference_for_full_reference_metrics(tmp_path, capsys):
    manifest = tmp_path / "nr.csv"
    sf.write(tmp_path / "a.wav", np.full(4800, 0.1, dtype=np.float32), 48000)
    manifest.write_text("test\na.wav\n")
    assert main(["metric", f"{SNR},{PEAK}", "--manifest", str(manifest), "-o", str(tmp_path / "o.csv")]) == 2
    assert "need a reference and no row has one" in capsys.readouterr().err


def test_missing_files_are_listed_up_front_and_their_rows_fail(tmp_path, caplog):
    manifest = _write_pairs(tmp_path)
    (tmp_path / "deg1.wav").unlink()
    (tmp_path / "ref0.wav").unlink()
    out = tmp_path / "out.csv"
    assert main(["metric", f"{SNR},{PEAK}", "--manifest", str(manifest), "-o", str(out)]) == 1
    warning = next(r.getMessage() for r in caplog.records if "do not exist" in r.getMessage())
    assert "2 input file(s)" in warning and "deg1.wav" in warning and "ref0.wav" in warning
    rows = _read(out)
    # row 0: the reference is missing, so the full-reference metric fails and the no-reference one scores
    assert "snr" not in rows[0] and rows[0]["peak"] != "" and "ref0.wav: file does not exist" in rows[0]["error"]
    assert rows[1]["peak"] == "" and "deg1.wav: file does not exist" in rows[1]["error"]


def test_peaq_and_twof_share_their_movs_in_one_pass(tmp_path, monkeypatch):
    from audioqual.baselines import peaq_metric

    manifest = _write_pairs(tmp_path)
    for name in ("peaq", "twof"):
        assert main(["metric", name, "--manifest", str(manifest), "-o", str(tmp_path / f"{name}.csv")]) == 0
    calls = []
    real = peaq_metric.peaq_movs
    monkeypatch.setattr(peaq_metric, "peaq_movs", lambda *a: calls.append(1) or real(*a))
    assert main(["metric", "peaq,twof", "--manifest", str(manifest), "-o", str(tmp_path / "both.csv")]) == 0
    assert len(calls) == 2  # one MOV computation per pair, not one per metric and pair
    both, peaq, twof = (_read(tmp_path / f"{name}.csv") for name in ("both", "peaq", "twof"))
    assert [r["peaq_odg"] for r in both] == [r["peaq_odg"] for r in peaq]
    assert [r["twof_mms"] for r in both] == [r["twof_mms"] for r in twof]
    assert [r["twof_ADBB"] for r in both] == [r["ADBB"] for r in twof] == [r["ADBB"] for r in peaq]


def test_terminal_table_json_and_quiet(tmp_path, capsys):
    import json

    manifest = _write_pairs(tmp_path)
    out = tmp_path / "out.csv"
    args = ["metric", f"{SNR},{PEAK}", "--manifest", str(manifest), "-o", str(out)]
    assert main(args) == 0
    captured = capsys.readouterr()
    rows = _read(out)
    snr = [float(r["snr"]) for r in rows]
    snr_line = next(line for line in captured.out.splitlines() if line.startswith("snr "))
    assert snr_line.split() == ["snr", "2", f"{np.mean(snr):.4g}", f"{min(snr):.4g}", f"{max(snr):.4g}"]
    assert "throughput:" in captured.out and "wrote" in captured.err
    assert main([*args, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["snr"] for line in lines] == snr and [line["system"] for line in lines] == ["sys0", "sys1"]
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_workers_give_the_serial_output_and_ray_is_refused_with_a_clear_message(tmp_path, capsys):
    manifest = _write_pairs(tmp_path, with_nr_row=True)
    with open(manifest, "a", newline="") as handle:
        csv.writer(handle).writerow(["gone.wav", "ref0.wav", "missing"])
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"- {SNR}\n- name: {PEAK}\n- name: {PEAK}\n  label: half\n  scale: 0.5\n")
    serial, parallel = tmp_path / "serial.csv", tmp_path / "parallel.csv"
    assert main(["metric", "--suite", str(suite), "--manifest", str(manifest), "-o", str(serial)]) == 1
    capsys.readouterr()
    code = main(["metric", "--suite", str(suite), "--manifest", str(manifest), "-o", str(parallel), "--workers", "2"])
    assert code == 1
    assert "throughput:" in capsys.readouterr().out
    rows = _read(parallel)
    assert rows == _read(serial)  # same columns, values and errors, in input order
    assert rows[0]["half_peak"] != "" and rows[2]["snr"] == "" and "gone.wav" in rows[3]["error"]
    assert main(["metric", f"{SNR},{PEAK}", "--manifest", str(manifest), "-o", str(tmp_path / "ray.csv"),
                 "--engine", "ray"]) == 2
    assert "--engine ray takes a single metric" in capsys.readouterr().err
