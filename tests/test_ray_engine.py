"""Ray Data engine: a local 2-worker cluster gives the same output as the single-machine path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'audioqual[ray]')")


def test_extract_on_two_ray_workers_matches_local(tmp_path, wav_folder, tiny_backbone_dir):
    (wav_folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    base = [sys.executable, "-m", "audioqual.cli.main", "extract", str(wav_folder), "--backbone", str(tiny_backbone_dir)]
    local = subprocess.run(
        base + ["--cache", str(tmp_path / "c1"), "-o", str(tmp_path / "local.csv")], capture_output=True, text=True, env=env
    )
    assert local.returncode == 0, local.stderr
    distributed = subprocess.run(
        base + ["--cache", str(tmp_path / "c2"), "-o", str(tmp_path / "ray.csv"), "--engine", "ray", "--workers", "2"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert distributed.returncode == 0, distributed.stderr[-3000:]
    assert "6 items on Ray: 5 with features, 1 failed" in distributed.stdout
    local_text = (tmp_path / "local.csv").read_text().replace(str(tmp_path / "c1"), "CACHE")
    ray_text = (tmp_path / "ray.csv").read_text().replace(str(tmp_path / "c2"), "CACHE")
    assert ray_text == local_text
    assert "broken.wav" in ray_text.splitlines()[1]
