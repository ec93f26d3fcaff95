"""Issue 19: bad inputs and user mistakes get a clear message, the documented exit code, and never a stale value.

Each test names the item of issue 19 it covers; docs/reliability.md lists what the user gets for each case.
"""

from __future__ import annotations

import csv
import math
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import tone

from audioqual.cli.main import main
from audioqual.data.journal import BatchJournal, run_batch
from audioqual.io import save_audio
from audioqual.metrics.base import MetricInfo, PairMetric

RATE = 16000
THIS = __name__


class Energy(PairMetric):
    """A small real metric: the test's energy relative to the reference's, in dB."""

    info = MetricInfo(name="energy", higher_is_better=True, sample_rate=RATE)

    def score_pair(self, reference, test, sample_rate):
        return {"energy": float(10 * np.log10(np.sum(test**2) / np.sum(reference**2)))}


class Peak(PairMetric):
    """Another metric whose headline column is also named `energy` (a different metric, same column)."""

    info = MetricInfo(name="energy", higher_is_better=True, sample_rate=RATE)

    def score_pair(self, reference, test, sample_rate):
        return {"energy": float(np.abs(test).max())}


class Broken(PairMetric):
    """Fails like HAAQI did on mismatched shapes: a numpy error that knows no file name."""

    info = MetricInfo(name="broken", higher_is_better=True, sample_rate=RATE)

    def score_pair(self, reference, test, sample_rate):
        return {"broken": float(np.ones(3) @ np.ones(4))}


class Slow(Energy):
    """Sleeps per pair, so a run can be killed while its workers are busy."""

    def score_pair(self, reference, test, sample_rate):
        time.sleep(30)
        return super().score_pair(reference, test, sample_rate)


def _pairs(folder: Path, n: int = 3, extra: dict[str, list[str]] | None = None, name: str = "pairs.csv") -> Path:
    rows = []
    for i in range(n):
        ref = save_audio(folder / f"ref{i}.wav", tone(0.5, RATE, 300.0 + 100 * i), RATE)
        deg = save_audio(folder / f"deg{i}.wav", tone(0.5, RATE, 300.0 + 100 * i, seed=i + 7) * (0.5 + 0.1 * i), RATE)
        rows.append({"test": deg.name, "reference": ref.name, **{k: v[i] for k, v in (extra or {}).items()}})
    path = folder / name
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# 1 ------------------------------------------------------------------------------------------------------------------
def test_output_onto_the_manifest_is_refused_before_any_work(tmp_path, tiny_deepaq_dir, capsys):
    manifest = _pairs(tmp_path)
    before = manifest.read_bytes()
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(manifest), "-o", str(manifest)]) == 2
    assert main(["compare", "--model", str(tiny_deepaq_dir), "--manifest", str(manifest), "-o", str(manifest)]) == 2
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(json.dumps({"path": "deg0.wav"}) + "\n")
    assert main(["extract", str(jsonl), "--backbone", "unused", "-o", str(jsonl)]) == 2
    err = capsys.readouterr().err
    assert err.count("would be overwritten") == 3
    assert manifest.read_bytes() == before and jsonl.read_text() == json.dumps({"path": "deg0.wav"}) + "\n"
    assert not list(tmp_path.glob("*.partial.jsonl"))


# 2 ------------------------------------------------------------------------------------------------------------------
def test_metric_resume_never_returns_values_of_another_metric_or_changed_audio(tmp_path, capsys):
    manifest = _pairs(tmp_path)
    out = tmp_path / "out.csv"
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(manifest), "-o", str(out)]) == 0
    energy = [float(r["energy"]) for r in _read(out)]
    assert main(["metric", f"{THIS}:Peak", "--manifest", str(manifest), "-o", str(out)]) == 0
    peaks = [float(r["energy"]) for r in _read(out)]
    assert peaks != energy and all(0 < p < 1 for p in peaks)
    assert "3 recomputed because their inputs or options changed" in capsys.readouterr().err
    save_audio(tmp_path / "deg1.wav", tone(0.5, RATE, 400.0, seed=3) * 0.9, RATE)  # the audio changed
    assert main(["metric", f"{THIS}:Peak", "--manifest", str(manifest), "-o", str(out)]) == 0
    assert "1 recomputed" in capsys.readouterr().err
    again = [float(r["energy"]) for r in _read(out)]
    from audioqual.io import load_audio

    new_peak = float(np.abs(load_audio(tmp_path / "deg1.wav")[0]).max())
    assert again[0] == peaks[0] and again[2] == peaks[2] and again[1] == pytest.approx(new_peak) != peaks[1]


def test_compare_resume_recomputes_a_changed_reference(tmp_path, tiny_deepaq_dir, capsys):
    manifest = _pairs(tmp_path, 2)
    out = tmp_path / "out.csv"
    args = ["compare", "--model", str(tiny_deepaq_dir), "--manifest", str(manifest), "-o", str(out)]
    assert main(args) == 0
    first = [float(r["distance"]) for r in _read(out)]
    rows = _read(manifest)
    rows[0]["reference"] = "ref1.wav"  # same row position and test path, another reference
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()
    assert main(args) == 0
    second = [float(r["distance"]) for r in _read(out)]
    assert second[1] == first[1] and second[0] != pytest.approx(first[0])
    assert "1 recomputed because their inputs or options changed" in capsys.readouterr().err


def test_journal_key_mismatch_is_never_written(tmp_path):
    out = tmp_path / "o.csv"
    run_batch([("a", 1)], lambda x: {"v": x}, out, keys={"a": "k1"})
    journal = run_batch([("a", 2)], lambda x: {"v": x}, out, keys={"a": "k2"})
    assert _read(out)[0]["v"] == "2" and journal.stale == 1 and journal.reused == 0


# 3 ------------------------------------------------------------------------------------------------------------------
def test_compare_honours_start_and_end_time(tmp_path, tiny_deepaq_dir):
    from audioqual.deepaq.model import DeePAQModel
    from audioqual.deepaq.scorer import DeePAQScorer

    ref = save_audio(tmp_path / "ref.wav", tone(2.0, RATE, 440.0), RATE)
    test_audio = tone(2.0, RATE, 440.0, seed=4)
    test_audio[:, RATE:] *= 0.2  # the second half differs much more
    deg = save_audio(tmp_path / "deg.wav", test_audio, RATE)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("test,reference,start_time,end_time\ndeg.wav,ref.wav,,\ndeg.wav,ref.wav,0,0.9\n")
    out = tmp_path / "out.csv"
    assert main(["compare", "--model", str(tiny_deepaq_dir), "--manifest", str(manifest), "-o", str(out)]) == 0
    whole, segment = (float(r["distance"]) for r in _read(out))
    scorer = DeePAQScorer(DeePAQModel.from_pretrained(tiny_deepaq_dir), device="cpu")
    assert segment == pytest.approx(scorer.compare_files(ref, deg, 0.0, 0.9).distance, rel=1e-5)
    assert whole == pytest.approx(scorer.compare_files(ref, deg).distance, rel=1e-5)
    assert segment != pytest.approx(whole, rel=1e-3)


# 4 ------------------------------------------------------------------------------------------------------------------
def test_passthrough_columns_keep_their_text_and_order_and_jsonl_is_valid(tmp_path, tiny_deepaq_dir):
    _pairs(tmp_path, 2)
    manifest = tmp_path / "pairs.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "reference", "note", "test", "rating"])
        writer.writerow(["007", "ref0.wav", "line one\nline two", "deg0.wav", "nan"])
        writer.writerow(["010", "ref1.wav", "plain", "missing.wav", "1.50"])
    for command in (["compare", "--model", str(tiny_deepaq_dir)], ["metric", f"{THIS}:Energy"]):
        out = tmp_path / f"{command[0]}.csv"
        assert main([*command, "--manifest", str(manifest), "-o", str(out)]) == 1  # missing.wav fails
        rows = _read(out)
        assert list(rows[0])[:5] == ["id", "reference", "note", "test", "rating"]
        assert [r["id"] for r in rows] == ["007", "010"] and rows[0]["note"] == "line one\nline two"
        assert rows[0]["rating"] == "nan" and rows[1]["rating"] == "1.50" and rows[0]["test"] == "deg0.wav"
    out = tmp_path / "compare.jsonl"
    main(["compare", "--model", str(tiny_deepaq_dir), "--manifest", str(manifest), "-o", str(out)])

    def no_nan(token):
        raise AssertionError(f"invalid JSON constant {token}")

    rows = [json.loads(line, parse_constant=no_nan) for line in out.read_text().splitlines()]
    assert rows[0]["id"] == "007" and rows[1]["error"] and rows[1].get("distance") in (None, "")


def test_jsonl_output_writes_null_for_missing_numbers(tmp_path):
    from audioqual.data.manifest import write_manifest

    path = write_manifest(tmp_path / "o.jsonl", [{"a": float("nan"), "b": float("inf"), "c": np.float32(1.5)}])
    assert json.loads(path.read_text()) == {"a": None, "b": None, "c": 1.5}
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()


# 5 ------------------------------------------------------------------------------------------------------------------
def test_a_one_sample_file_is_too_short_not_scored(tmp_path, tiny_deepaq_dir):
    _pairs(tmp_path, 1)
    save_audio(tmp_path / "one.wav", np.full((1, 1), 0.5, np.float32), RATE)
    manifest = tmp_path / "short.csv"
    manifest.write_text("test,reference\none.wav,ref0.wav\n")
    for command in (["compare", "--model", str(tiny_deepaq_dir)], ["metric", f"{THIS}:Energy"]):
        out = tmp_path / f"{command[0]}.csv"
        assert main([*command, "--manifest", str(manifest), "-o", str(out)]) == 1
        row = _read(out)[0]
        assert "one.wav" in row["error"] and "too short" in row["error"], row
        assert row.get("score", "") == "" and row.get("energy", "") == ""


# 6 ------------------------------------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find worker processes")
def test_metric_workers_die_with_a_killed_parent(tmp_path):
    manifest = _pairs(tmp_path, 4)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    script = textwrap.dedent(f"""
        import sys
        from audioqual.cli.main import main
        sys.exit(main(["metric", "{THIS}:Slow", "--manifest", {str(manifest)!r}, "-o", {str(tmp_path / 'o.csv')!r},
                       "--workers", "2"]))
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(workers) < 2:
            time.sleep(0.3)
            workers = [p for p in _children(parent.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
        assert len(workers) >= 2, "the worker processes did not start"
        time.sleep(1.0)  # let them reach their initialiser
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        orphans = [p for p in workers if _alive(p)]
        assert not orphans, f"orphan workers left behind: {orphans}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers:  # only the workers this test started, by id, should the check above have failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# 7 ------------------------------------------------------------------------------------------------------------------
def test_visqol_refuses_pairs_over_its_documented_memory_limit(tmp_path):
    from audioqual.baselines.visqol import MAX_SECONDS, ViSQOLMetric
    from audioqual.metrics.pairs import Pair, score_one

    assert ViSQOLMetric().info.max_seconds == MAX_SECONDS == 180.0
    ref = save_audio(tmp_path / "long_ref.wav", tone(2.5, RATE, 440.0), RATE)
    deg = save_audio(tmp_path / "long_deg.wav", tone(2.5, RATE, 440.0, seed=2), RATE)
    started = time.perf_counter()
    with pytest.raises(Exception, match=r"long_ref.wav: too long for visqol_moslqo: 2.5 s.*max_seconds"):
        score_one(ViSQOLMetric(max_seconds=2.0), Pair(str(ref), str(deg)))
    assert time.perf_counter() - started < 5  # refused before any ViSQOL work


# 8 ------------------------------------------------------------------------------------------------------------------
def test_summary_counts_only_this_runs_rows(tmp_path, capsys):
    manifest = _pairs(tmp_path, 3)
    out = tmp_path / "out.csv"
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(manifest), "-o", str(out)]) == 0
    one = tmp_path / "one.csv"
    one.write_text("test,reference\ndeg2.wav,ref2.wav\n")
    capsys.readouterr()
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(one), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 pairs: 1 ok, 0 failed (0 computed now, 1 reused" in err
    assert len(_read(out)) == 1


# 13 -----------------------------------------------------------------------------------------------------------------
def test_mistakes_get_messages_not_tracebacks(tmp_path, capsys):
    manifest = _pairs(tmp_path, 2)
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    predictions = tmp_path / "pred.csv"
    predictions.write_text("test,p\n")
    listening = tmp_path / "lt.csv"
    listening.write_text("test,condition,mean\ndeg0.wav,a,3\n")
    assert main(["evaluate", "--manifest", str(listening), "--predictions", str(predictions), "-o",
                 str(existing)]) == 2  # fmt: skip
    assert existing.read_text() == "keep me" and "-o must be a folder" in capsys.readouterr().err
    results = tmp_path / "run" / "results.json"
    results.parent.mkdir()
    results.write_text("{}")
    assert main(["report", str(results)]) == 2
    assert "not an evaluation results file" in capsys.readouterr().err
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(tmp_path), "-o", str(tmp_path / "o.csv")]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(manifest), "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert main(["compare", "--device", "cuda", "--ref", str(tmp_path / "ref0.wav"), str(tmp_path / "deg0.wav")]) == 2
        assert "no CUDA GPU is available" in capsys.readouterr().err


def test_a_damaged_journal_line_is_redone_not_a_crash(tmp_path):
    out = tmp_path / "o.csv"
    journal = BatchJournal(out)
    journal.path.write_text('{"id": "a", "row": "not a dict", "error": null}\n{"id": "b", "row": {"v": 1}}\n[1]\n')
    result = run_batch([("a", 5), ("b", 6)], lambda x: {"v": x}, out)
    assert [r["v"] for r in _read(out)] == ["5", "1"] and result.damaged == 2


# 14 -----------------------------------------------------------------------------------------------------------------
def test_one_csv_reader_bom_jsonl_and_header_only(tmp_path, tiny_deepaq_dir, capsys):
    _pairs(tmp_path, 1)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufefftest,reference\ndeg0.wav,ref0.wav\n".encode())
    assert main(["compare", "--model", str(tiny_deepaq_dir), "--manifest", str(bom), "-o", str(tmp_path / "c.csv")]) == 0
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(bom), "-o", str(tmp_path / "m.csv")]) == 0
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps({"test": "deg0.wav", "reference": "ref0.wav", "k": 7}) + "\n")
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(jsonl), "-o", str(tmp_path / "j.csv")]) == 0
    assert _read(tmp_path / "j.csv")[0]["k"] == "7"
    header = tmp_path / "header.csv"
    header.write_text("test,reference\n")
    capsys.readouterr()
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(header), "-o", str(tmp_path / "h.csv")]) == 2
    assert main(["compare", "--model", str(tiny_deepaq_dir), "--manifest", str(header), "-o", str(tmp_path / "h2.csv")]) == 2
    assert capsys.readouterr().err.count("no rows") == 2
    assert not (tmp_path / "h.csv").exists() and not (tmp_path / "h2.csv").exists()


# 15 -----------------------------------------------------------------------------------------------------------------
def test_metric_errors_name_the_files_and_hints_are_real(tmp_path, capsys):
    from audioqual.errors import AudioInputError
    from audioqual.io import load_audio

    manifest = _pairs(tmp_path, 1)
    out = tmp_path / "o.csv"
    assert main(["metric", f"{THIS}:Broken", "--manifest", str(manifest), "-o", str(out)]) == 1
    error = _read(out)[0]["error"]
    assert "deg0.wav" in error and "ref0.wav" in error and "ValueError" in error
    assert "--retry-failed" in capsys.readouterr().err
    import soundfile as sf

    sf.write(tmp_path / "silent.wav", np.zeros(1600, np.float32), RATE)
    with pytest.raises(AudioInputError, match="silent.wav: is all silence") as info:
        load_audio(tmp_path / "silent.wav")
    assert "pass allow_silence" not in str(info.value)


def test_peaq_channel_error_names_the_file(tmp_path):
    from audioqual.metrics.pairs import Pair, score_one
    from audioqual.metrics.registry import create

    ref = save_audio(tmp_path / "stereo_ref.wav", tone(0.5, 48000, 440.0, channels=2), 48000)
    deg = save_audio(tmp_path / "mono_deg.wav", tone(0.5, 48000, 440.0, seed=3), 48000)
    with pytest.raises(Exception, match="mono_deg.wav") as info:
        score_one(create("peaq"), Pair(str(ref), str(deg)))
    assert "channel" in str(info.value)


# 16 -----------------------------------------------------------------------------------------------------------------
def test_exit_codes_and_streams_follow_one_scheme(tmp_path, capsys):
    from audioqual.cli import exit_codes

    assert (exit_codes.OK, exit_codes.ROWS_FAILED, exit_codes.USAGE_ERROR) == (0, 1, 2)
    manifest = _pairs(tmp_path, 2)
    assert main(["metric", f"{THIS}:Energy", "--manifest", str(manifest), "-o", str(tmp_path / "a.csv")]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].split()[:2] == ["energy", "2"] and "2 pairs: 2 ok" in captured.err
    assert main(["metric", "no-such-metric", "--manifest", str(manifest), "-o", str(tmp_path / "b.csv")]) == 2
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "unknown metric" in captured.err and "usage" in captured.err


# 9-11 ---------------------------------------------------------------------------------------------------------------
def _two_scale_test(folder: Path, nan_row: bool = False) -> tuple[Path, Path]:
    """A separation-style test: every file rated for overall quality and for interference, in two subsets."""
    rng = np.random.default_rng(0)
    lines, preds = ["test,condition,subset,scale,mean"], ["test,p"]
    for subset in ("a", "b"):
        for i in range(8):
            name = f"{subset}{i}.wav"
            quality = float(i)
            lines.append(f"{name},c{i % 4},{subset},quality,{20 + 10 * quality + rng.normal():.3f}")
            lines.append(f"{name},c{i % 4},{subset},interference,{90 - 5 * quality + rng.normal():.3f}")
            preds.append(f"{name},{'nan' if nan_row and i == 0 else quality + 0.01 * i}")
    lines.append("a0.wav,c0,b,quality,50")  # the same file under another subset on the same scale: another stimulus
    manifest, predictions = folder / "lt.csv", folder / "pred.csv"
    manifest.write_text("\n".join(lines) + "\n")
    predictions.write_text("\n".join(preds) + "\n")
    return manifest, predictions


def test_one_file_on_two_scales_and_subsets_is_several_stimuli_and_scales_are_not_pooled(tmp_path):
    from audioqual.eval.harness import OVERALL, EvaluationConfig, evaluate, read_listening_test, read_predictions

    manifest, predictions = _two_scale_test(tmp_path)
    test = read_listening_test(manifest)
    run = evaluate(test, [read_predictions(predictions, test, name="p")], EvaluationConfig(n_bootstrap=50))
    assert set(run.subsets) == {OVERALL, "a/quality", "a/interference", "b/quality", "b/interference"}
    assert run.value("p", "a/quality", "stimulus", "PCC").value > 0.99
    assert run.value("p", "a/interference", "stimulus", "PCC").value < -0.99
    overall = run.value("p", OVERALL, "stimulus", "PCC")
    assert "Fisher z" in overall.note and overall.ci_low <= overall.value <= overall.ci_high
    # a pooled correlation of quality (rising) and interference (falling) ratings would be near 0 or meaningless;
    # the summary is the mean of the per-group z values
    z = np.mean([np.arctanh(run.value("p", g, "stimulus", "PCC").value) for g in run.subsets if g != OVERALL])
    assert overall.value == pytest.approx(np.tanh(z))
    assert math.isnan(run.value("p", OVERALL, "stimulus", "MSE").value)


def test_a_nan_prediction_is_counted_missing_not_fatal(tmp_path, capsys):
    manifest, predictions = _two_scale_test(tmp_path, nan_row=True)
    assert main(["evaluate", "--manifest", str(manifest), "--predictions", f"p={predictions}", "-o",
                 str(tmp_path / "run"), "--no-plots", "--bootstrap", "0"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "p: 28/33 stimuli scored (2 failed" in out  # a0 is 3 stimuli, b0 2


# 12 -----------------------------------------------------------------------------------------------------------------
def test_undefined_srcc_is_nan_and_ranks_last():
    from audioqual.nr.selection import aspect_metric, select_per_aspect

    constant = np.ones(6)
    assert math.isnan(aspect_metric(constant, np.arange(6.0), "srcc"))
    chosen = select_per_aspect({"flat": constant[:, None], "ok": -np.arange(6.0)[:, None]}, np.arange(6.0)[:, None],
                               ["PQ"])  # fmt: skip
    assert chosen.routing["PQ"] == "ok" and math.isnan(chosen.scores["flat"]["PQ"])


# 19 -----------------------------------------------------------------------------------------------------------------
def test_a_skipped_oracle_test_fails_in_ci(tmp_path):
    import shutil

    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    oracle: external oracle\n")
    (tmp_path / "test_probe.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.oracle
        def test_needs_tool():
            pytest.skip("the tool is not installed")

        def test_plain():
            pytest.skip("fine")
    """))
    command = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "AUDIOQUAL_REQUIRE_ORACLES")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    local = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert local.returncode == 0 and "2 skipped" in local.stdout
    ci = subprocess.run(command, cwd=tmp_path, env={**env, "CI": "true"}, capture_output=True, text=True)
    assert ci.returncode == 1 and "oracle test skipped in CI: Skipped: the tool is not installed" in ci.stdout
    assert "SKIPPED [1]" in ci.stdout and "fine" in ci.stdout  # -ra lists every remaining skip with its reason
    marked = [p.name for p in Path(__file__).parent.glob("test_*.py") if "pytest.mark.oracle" in p.read_text()]
    assert {"test_cdpam.py", "test_dnsmos.py", "test_haaqi.py", "test_label.py", "test_peaq.py",
            "test_aesthetics.py", "test_degrade.py"} <= set(marked)  # fmt: skip
