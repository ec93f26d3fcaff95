"""A batch job killed with SIGKILL and restarted loses nothing and ends with the uninterrupted output."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
from conftest import tone

from audioqual.io import save_audio

SLOW_METRIC = '''
import time
import numpy as np
from audioqual.metrics.base import MetricInfo, PairMetric


class SlowSNR(PairMetric):
    """Segmental-free SNR of test against reference, slowed down so a job can be killed mid-way."""

    info = MetricInfo(name="snr_db", higher_is_better=True, sample_rate=16000)

    def score_pair(self, reference, test, sample_rate):
        time.sleep(0.15)
        noise = np.mean((reference - test) ** 2) + 1e-12
        return {"snr_db": float(10 * np.log10(np.mean(reference ** 2) / noise))}
'''


def make_pairs(folder, count=24):
    rows = []
    for index in range(count):
        clean = tone(0.5, 16000, 200.0 + 10 * index, seed=index)
        noisy = clean + 0.01 * (index + 1) * np.random.default_rng(index).standard_normal(clean.shape).astype(np.float32)
        save_audio(folder / f"ref{index}.wav", clean, 16000)
        save_audio(folder / f"deg{index}.wav", noisy, 16000)
        rows.append({"test": f"deg{index}.wav", "reference": f"ref{index}.wav", "item": index})
    rows.insert(5, {"test": "absent.wav", "reference": "ref0.wav", "item": -1})
    with open(folder / "pairs.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["test", "reference", "item"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "pairs.csv"


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    (tmp_path / "slowmetric.py").write_text(SLOW_METRIC)
    manifest = make_pairs(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def command(output):
        return [sys.executable, "-m", "audioqual.cli.main", "metric", "slowmetric:SlowSNR",
                "--manifest", str(manifest), "-o", str(output)]

    reference_run = subprocess.run(command(tmp_path / "uninterrupted.csv"), env=env, capture_output=True, text=True)
    assert reference_run.returncode == 1 and "25 pairs: 24 ok, 1 failed" in reference_run.stderr

    output = tmp_path / "killed.csv"
    journal = tmp_path / "killed.csv.partial.jsonl"
    process = subprocess.Popen(command(output), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) >= 8:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(journal.read_text().splitlines())
    assert 8 <= done_before < 25, "the job must be killed mid-way"
    assert not output.exists()

    resumed = subprocess.run(command(output), env=env, capture_output=True, text=True)
    assert resumed.returncode == 1
    assert len(journal.read_text().splitlines()) == 25  # nothing journalled before the kill was redone
    assert output.read_text() == (tmp_path / "uninterrupted.csv").read_text()
