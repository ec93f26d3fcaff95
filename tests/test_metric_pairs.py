"""Pairs scoring (parallel, resumable, per-row failures), the metric registry and `audioqual metric`."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioqual.cli.main import main
from audioqual.errors import ManifestError
from audioqual.metrics import registry
from audioqual.metrics.base import MetricCategory, MetricInfo, PairMetric
from audioqual.metrics.pairs import read_pairs, score_pairs
from audioqual.metrics.registry import MetricSpec, MetricUnavailableError, create, describe

RATE = 16000


class SegmentalSNR(PairMetric):
    """A small real metric for the tests: SNR of test against reference in dB (higher is better)."""

    info = MetricInfo(name="snr", higher_is_better=True, sample_rate=RATE, valid_range="any pair")
    calls = 0

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        type(self).calls += 1
        n = min(reference.shape[1], test.shape[1])
        noise = np.sum((test[:, :n] - reference[:, :n]) ** 2, dtype=np.float64)
        signal = np.sum(reference[:, :n] ** 2, dtype=np.float64)
        return {"snr": 10 * np.log10(signal / max(noise, 1e-12)), "snr_frames": float(n)}


class InterruptedSNR(SegmentalSNR):
    """Simulates the process being killed (KeyboardInterrupt, not an error) after `stop_after` pairs."""

    stop_after: int | None = None

    def score_pair(self, reference, test, sample_rate):
        if self.stop_after is not None and type(self).calls >= self.stop_after:
            raise KeyboardInterrupt
        return super().score_pair(reference, test, sample_rate)


class CrashingSNR(SegmentalSNR):
    """Kills its worker process outright on a pair whose test signal is the crash marker (all 0.25)."""

    def score_pair(self, reference, test, sample_rate):
        if np.allclose(test, 0.25):
            os._exit(3)
        return super().score_pair(reference, test, sample_rate)


class OffsetSNR(SegmentalSNR):
    """SegmentalSNR plus a constant, to see a constructor option arrive (in workers too)."""

    def __init__(self, offset_db: float = 0.0, label: str = "") -> None:
        self.offset_db, self.label = offset_db, label

    def score_pair(self, reference, test, sample_rate):
        scores = super().score_pair(reference, test, sample_rate)
        return {**scores, "snr": scores["snr"] + self.offset_db}


THIS_MODULE = Path(__file__).stem  # worker processes import the test metrics from this module by name


@pytest.fixture()
def pairs_csv(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """Four pairs at known SNRs, one missing file, one corrupt file; paths relative to the CSV."""
    rng = np.random.default_rng(0)
    (tmp_path / "audio").mkdir()
    reference = 0.3 * np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE).astype(np.float32)
    sf.write(tmp_path / "audio" / "ref.wav", reference, RATE)
    rows, expected = [], {}
    for snr in (30, 20, 10, 0):
        noise = rng.normal(size=RATE).astype(np.float32)
        noise *= np.sqrt(np.mean(reference**2) / np.mean(noise**2)) * 10 ** (-snr / 20)
        name = f"audio/snr{snr}.wav"
        sf.write(tmp_path / name, reference + noise, RATE, subtype="FLOAT")
        rows.append([name, "audio/ref.wav", f"cond{snr}", snr])
        expected[name] = float(snr)
    (tmp_path / "audio" / "corrupt.wav").write_bytes(b"RIFF\x00\x00not a wav file at all")
    rows.append(["audio/missing.wav", "audio/ref.wav", "gone", -1])
    rows.append(["audio/corrupt.wav", "audio/ref.wav", "broken", -2])
    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["test", "reference", "condition", "label"])
        writer.writerows(rows)
    return path, expected


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_scores_pass_columns_through_and_record_failures(pairs_csv, tmp_path):
    manifest, expected = pairs_csv
    out = tmp_path / "out.csv"
    journal = score_pairs(manifest, out, f"{THIS_MODULE}:SegmentalSNR")
    rows = _read(out)
    assert [r["test"] for r in rows] == [r["test"] for r in _read(manifest)]  # input order, raw paths
    assert list(rows[0])[:4] == ["test", "reference", "condition", "label"]
    for row in rows[:4]:
        assert float(row["snr"]) == pytest.approx(expected[row["test"]], abs=0.05)
        assert row["error"] == "" and row["label"] == str(int(expected[row["test"]]))
    assert "missing.wav: file does not exist" in rows[4]["error"] and rows[4]["snr"] == ""
    assert "corrupt.wav" in rows[5]["error"]
    assert len(journal.failures()) == 2


def test_resumes_after_an_interruption_without_rescoring(pairs_csv, tmp_path, monkeypatch):
    manifest, _ = pairs_csv
    out = tmp_path / "out.csv"
    monkeypatch.setattr(InterruptedSNR, "calls", 0)
    monkeypatch.setattr(InterruptedSNR, "stop_after", 2)
    with pytest.raises(KeyboardInterrupt):
        score_pairs(manifest, out, f"{THIS_MODULE}:InterruptedSNR")
    assert not out.exists() and InterruptedSNR.calls == 2
    monkeypatch.setattr(InterruptedSNR, "stop_after", None)
    score_pairs(manifest, out, f"{THIS_MODULE}:InterruptedSNR")
    assert InterruptedSNR.calls == 4  # the two journalled pairs were not scored again
    assert sum(1 for r in _read(out) if r["snr"]) == 4


def test_parallel_workers_match_serial_and_survive_a_worker_crash(pairs_csv, tmp_path):
    manifest, _ = pairs_csv
    crash_file = manifest.parent / "audio" / "crash.wav"
    sf.write(crash_file, np.full(RATE, 0.25, dtype=np.float32), RATE, subtype="FLOAT")
    with open(manifest, "a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["audio/crash.wav", "audio/ref.wav", "crash", -3])
    serial = _read(score_pairs(manifest, tmp_path / "serial.csv", f"{THIS_MODULE}:SegmentalSNR").output)
    parallel = _read(score_pairs(manifest, tmp_path / "parallel.csv", f"{THIS_MODULE}:CrashingSNR", workers=2).output)
    for s, p in zip(serial[:4], parallel[:4]):
        assert float(p["snr"]) == pytest.approx(float(s["snr"]), abs=1e-9) and p["error"] == ""
    assert "file does not exist" in parallel[4]["error"] and "corrupt.wav" in parallel[5]["error"]
    assert "worker process crashed" in parallel[6]["error"] and parallel[6]["snr"] == ""


def test_registry_names_and_clear_messages(tmp_path, monkeypatch):
    names = registry.registered()
    assert {"visqol", "visqol-speech", "peaq", "twof", "haaqi"} <= set(names)
    assert ("cdpam" in names) == registry._installed("cdpam")
    assert ("dnsmos" in names) == registry._installed("speechmos")
    with pytest.raises(MetricUnavailableError, match="unknown metric 'nope'; available: visqol"):
        create("nope")
    (tmp_path / "needs_dep_metric.py").write_text("import some_missing_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_SPECS", registry._SPECS + (
        MetricSpec("needy", "needs_dep_metric:Metric", "test", pip_package="xyz-pip"),
        MetricSpec("unwritten", "audioqual.baselines.not_written_yet:Metric", "test"),
    ))
    message = "needs the Python module 'some_missing_dependency_xyz': pip install xyz-pip"
    with pytest.raises(MetricUnavailableError, match=message):
        create("needy")
    with pytest.raises(MetricUnavailableError, match="not available in this version"):
        create("unwritten")
    info, status = describe(f"{THIS_MODULE}:SegmentalSNR")
    assert info is SegmentalSNR.info and status == "available"
    with pytest.raises(MetricUnavailableError, match="not a PairMetric"):
        create("audioqual.errors:AudioqualError")


def test_distributional_metric_is_registered_but_not_scored_as_pairs():
    spec = registry.registered()["fad"]
    assert spec.category is MetricCategory.DISTRIBUTIONAL and spec.requires_reference
    with pytest.raises(MetricUnavailableError, match="not pairs: run `audioqual fad`"):
        create("fad")
    info, status = describe("fad")
    assert info.category is MetricCategory.DISTRIBUTIONAL and not info.higher_is_better and status == "available"
    with pytest.raises(MetricUnavailableError) as unknown:
        create("nope")
    assert "fad" not in str(unknown.value)  # `audioqual metric` offers pair metrics only


def test_metric_cli_list_and_run(pairs_csv, tmp_path, capsys):
    assert main(["metric", "--list"]) == 0
    listing = capsys.readouterr().out
    for name in ("visqol", "peaq", "twof", "haaqi"):
        assert f"{name}: " in listing
    assert "visqol: ViSQOL v3 audio mode (MOS-LQO 1-5, 48 kHz, SVR model)\n    needs a reference:" in listing
    assert "distributional: a set of test files against a set of references (run `audioqual fad`)" in listing
    if "dnsmos" in registry.registered():
        assert "independent: scores the test signal alone, no reference" in listing
    if registry._installed("clarity"):
        assert "valid range: 0..1" in listing
    manifest, _ = pairs_csv
    out = tmp_path / "cli.csv"
    assert main(["metric", f"{THIS_MODULE}:SegmentalSNR", "--manifest", str(manifest), "-o", str(out)]) == 1
    assert "6 pairs: 4 ok, 2 failed" in capsys.readouterr().err
    assert main(["metric", "haaqi"]) == 2  # no manifest: a clear error, not a traceback


def test_metric_cli_passes_options_to_the_metric(pairs_csv, tmp_path, capsys):
    import csv

    manifest, _ = pairs_csv
    plain, shifted = tmp_path / "plain.csv", tmp_path / "shifted.csv"
    main(["metric", f"{THIS_MODULE}:OffsetSNR", "--manifest", str(manifest), "-o", str(plain)])
    main(["metric", f"{THIS_MODULE}:OffsetSNR", "--manifest", str(manifest), "-o", str(shifted), "--workers", "2",
          "--option", "offset_db=2.5", "--option", "label=yes: quoted"])  # fmt: skip
    before = [r["snr"] for r in csv.DictReader(plain.open())]
    after = [r["snr"] for r in csv.DictReader(shifted.open())]
    scored = [(float(a), float(b)) for a, b in zip(before, after, strict=True) if a and b]
    assert len(scored) == 4 and all(b == pytest.approx(a + 2.5) for a, b in scored)
    capsys.readouterr()
    assert main(["metric", f"{THIS_MODULE}:OffsetSNR", "--manifest", str(manifest), "-o", str(tmp_path / "x.csv"),
                 "--option", "gain=3"]) == 2  # fmt: skip
    assert "unexpected keyword argument 'gain' (its options: offset_db, label)" in capsys.readouterr().err
    assert main(["metric", "haaqi", "--manifest", str(manifest), "-o", str(tmp_path / "y.csv"),
                 "--option", "no-equals"]) == 2  # fmt: skip
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_bad_pairs_manifest_is_a_clear_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("test,ref\na.wav,b.wav\n")
    with pytest.raises(ManifestError, match="lacks column"):
        read_pairs(path)
    path.write_text("test,reference,start_time,end_time\na.wav,b.wav,2,1\n")
    with pytest.raises(ManifestError, match="end_time 1.0 is not after start_time 2.0"):
        read_pairs(path)
