"""A job killed with SIGKILL and restarted loses nothing: batch scoring ends with the uninterrupted output, and
every trainer (no-reference heads, DeePAQ, the v1 front end) with the uninterrupted weights."""

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


# Every trainer: a run killed with SIGKILL after its first checkpoint and started again with the same command ends
# with the weights of an uninterrupted run.

def _train_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _finish(command: list[str]) -> str:
    """Run the command to its end; its log."""
    result = subprocess.run(command, env=_train_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def _kill_after_first_checkpoint(command: list[str], checkpoint) -> dict:
    """Start the command, SIGKILL it once its first checkpoint is written, return that checkpoint."""
    import torch

    process = subprocess.Popen(command, env=_train_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), "the run ended (or timed out) before its first checkpoint"
    return torch.load(checkpoint, map_location="cpu", weights_only=False)


def _same_bytes(first, second, names) -> None:
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_nr_training_killed_and_rerun_ends_with_the_uninterrupted_weights(tmp_path, tiny_backbone_dir):
    import yaml

    from audioqual.nr.synthetic import make_spurious_dataset

    train, valid = make_spurious_dataset(tmp_path / "data", train_per_source=20, valid_per_source=6, seed=0)
    config = {"data": {"train": str(train), "valid": str(valid)},
              "features": {"backbone": str(tiny_backbone_dir), "cache_dir": str(tmp_path / "cache"), "layer": 2,
                           "crop_seconds": 1.0},
              "head": {"name": "multigauss", "options": {"pool_size": 3}},
              "optim": {"epochs": 40, "lr": 1e-3, "batch_size": 16, "device": "cpu"}, "seed": 3}  # fmt: skip
    (tmp_path / "nr.yaml").write_text(yaml.safe_dump(config))

    def command(output):
        return [sys.executable, "-m", "audioqual.cli.main", "-v", "train", "nr", "--config", str(tmp_path / "nr.yaml"),
                "--quiet", f"output_dir={output}"]  # fmt: skip

    _finish(command(tmp_path / "uninterrupted"))
    state = _kill_after_first_checkpoint(command(tmp_path / "killed"), tmp_path / "killed" / "train" / "checkpoint.pt")
    assert state["epoch"] < 40 and not (tmp_path / "killed" / "model").exists()
    assert f"after epoch {state['epoch']}" in _finish(command(tmp_path / "killed"))  # resumed, not restarted
    _same_bytes(tmp_path / "uninterrupted" / "model", tmp_path / "killed" / "model", ["model.safetensors"])


def test_deepaq_training_killed_and_rerun_ends_with_the_uninterrupted_weights(tmp_path, tiny_backbone_dir):
    from audioqual.deepaq.synthetic import make_surrogate_set

    manifest = make_surrogate_set(tmp_path / "data", sources=6, codecs=("mp3",), bitrates=(8, 32), rate=16000,
                                  seconds=0.6, degradations={"lowpass": (2000,)})  # fmt: skip

    def command(output):
        return [sys.executable, "-m", "audioqual.cli.main", "-v", "train", "deepaq", "--no-progress",
                f"model.backbone={tiny_backbone_dir}", "model.backbone_arch=hubert", "model.adaptation=frozen",
                f"data.train_manifest={manifest}", "data.val_fraction=0.34", "data.clip_seconds=0.5",
                "data.num_workers=0", f"train.output_dir={output}", "train.batch_size=6", "train.epochs=40",
                "train.learning_rate=1e-3", "train.device=cpu", f"train.feature_cache={tmp_path / 'cache'}"]  # fmt: skip

    _finish(command(tmp_path / "uninterrupted"))
    state = _kill_after_first_checkpoint(command(tmp_path / "killed"), tmp_path / "killed" / "checkpoint.pt")
    assert state["epoch"] < 39
    assert f"at epoch {state['epoch'] + 1}" in _finish(command(tmp_path / "killed"))  # resumed, not restarted
    for kept in ("best", "last"):
        _same_bytes(tmp_path / "uninterrupted" / kept, tmp_path / "killed" / kept, ["head.safetensors"])


def test_frontend_training_killed_and_rerun_ends_with_the_uninterrupted_weights(tmp_path):
    import json

    import yaml

    from audioqual.io import save_audio

    rng, rows = np.random.default_rng(0), []
    for index in range(20):
        audio = (tone(1.0, 16000, 200.0 + 150 * index, seed=index) + 0.05 * rng.standard_normal(16000)).astype(np.float32)
        save_audio(tmp_path / f"clip{index}.wav", audio, 16000)
        rows.append({"path": f"clip{index}.wav", "visqol_moslqo": 3.0, "split": "validation" if index < 3 else "train"})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    overrides = {"sample_rate": 16000, "conv_dim": [16, 16], "conv_stride": [5, 4], "conv_kernel": [10, 8],
                 "conv_bias": True, "feat_extract_norm": "layer", "hidden_size": 16, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "intermediate_size": 32, "num_conv_pos_embeddings": 16,
                 "num_conv_pos_embedding_groups": 2}  # fmt: skip
    config = {"backbone_overrides": overrides, "train_manifest": str(tmp_path / "m.jsonl"), "n_fft": 128, "n_mels": 8,
              "fmin_hz": 50.0, "fmax_hz": 8000.0, "clip_seconds": 0.5, "batch_size": 4, "learning_rate": 1e-2,
              "steps": 80, "num_workers": 0}  # fmt: skip
    (tmp_path / "frontend.yaml").write_text(yaml.safe_dump(config))

    def command(output):
        return [sys.executable, "-m", "audioqual.cli.shipped_models", "frontend", "--config",
                str(tmp_path / "frontend.yaml"), f"output_dir={output}", "--no-progress"]  # fmt: skip

    _finish(command(tmp_path / "uninterrupted"))
    state = _kill_after_first_checkpoint(command(tmp_path / "killed"), tmp_path / "killed" / "checkpoint.pt")
    assert state["step"] < 80
    assert f"resumed {tmp_path / 'killed'}" in _finish(command(tmp_path / "killed"))  # not restarted
    _same_bytes(tmp_path / "uninterrupted", tmp_path / "killed", ["model.safetensors", "frontend_readout.safetensors"])
