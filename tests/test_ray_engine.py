"""Ray Data engine: on a local 2-worker cluster, extract, metric and compare give the local path's output."""

from __future__ import annotations

import csv

import pytest
import torch
from conftest import tone, with_noise

from audioqual.backbones.tiny import tiny_backbone
from audioqual.cli.main import main
from audioqual.deepaq.config import ModelConfig
from audioqual.deepaq.model import DeePAQModel
from audioqual.io import save_audio

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'audioqual[ray]')")


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    """One local cluster for the module: starting Ray costs seconds, so the tests share it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def two_torch_threads():
    """Local runs with 2 torch threads, as on a 2-core machine without OMP_NUM_THREADS=1 (Ray actors start with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def pairs_csv(tmp_path):
    rows = []
    for index, snr in enumerate((40, 20, 5)):
        clean = tone(1.0, 48000, 300.0 + 100 * index, seed=index)
        ref = save_audio(tmp_path / f"ref{index}.wav", clean, 48000)
        deg = save_audio(tmp_path / f"deg{index}.wav", with_noise(clean, snr, seed=index), 48000)
        rows.append({"test": deg.name, "reference": ref.name, "condition": f"snr{snr}"})
    rows.append({"test": "missing.wav", "reference": "ref0.wav", "condition": "broken"})
    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_extract_matches_local(tmp_path, wav_folder, tiny_backbone_dir, capsys):
    (wav_folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    base = ["extract", str(wav_folder), "--backbone", str(tiny_backbone_dir)]
    assert main(base + ["--cache", str(tmp_path / "c1"), "-o", str(tmp_path / "local.csv")]) == 0
    assert main(base + ["--cache", str(tmp_path / "c2"), "-o", str(tmp_path / "ray.csv"), "--engine", "ray"]) == 0
    assert "6 items on Ray: 5 with features, 1 failed" in capsys.readouterr().out
    local_text = (tmp_path / "local.csv").read_text().replace(str(tmp_path / "c1"), "CACHE")
    ray_text = (tmp_path / "ray.csv").read_text().replace(str(tmp_path / "c2"), "CACHE")
    assert ray_text == local_text
    assert "broken.wav" in ray_text.splitlines()[1]


def test_metric_matches_local(tmp_path, pairs_csv):
    base = ["metric", "twof", "--manifest", str(pairs_csv), "--workers", "2"]
    assert main(base + ["-o", str(tmp_path / "local.csv")]) == 1  # one broken pair
    assert main(base + ["-o", str(tmp_path / "ray.csv"), "--engine", "ray"]) == 1
    local_rows = list(csv.DictReader(open(tmp_path / "local.csv")))
    ray_rows = list(csv.DictReader(open(tmp_path / "ray.csv")))
    assert [r["condition"] for r in ray_rows] == ["snr40", "snr20", "snr5", "broken"]
    for local_row, ray_row in zip(local_rows, ray_rows):
        assert ray_row.keys() == local_row.keys()
        if local_row["error"]:
            assert "missing.wav" in ray_row["error"]
        else:
            assert float(ray_row["twof_mms"]) == pytest.approx(float(local_row["twof_mms"]), abs=1e-9)


def test_compare_matches_local(tmp_path, pairs_csv, two_torch_threads):
    """Bit-identical rows: the actors run torch with the driver's thread count (issue 19, item 21)."""
    model = DeePAQModel.from_config(ModelConfig(backbone=None, backbone_arch="hubert"), tiny_backbone("hubert"))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1)
    model.save_pretrained(tmp_path / "model")
    base = ["compare", "--model", str(tmp_path / "model"), "--manifest", str(pairs_csv), "--device", "cpu"]
    assert main(base + ["-o", str(tmp_path / "local.csv")]) == 1  # the missing.wav pair fails (exit 1: rows failed)
    assert main(base + ["-o", str(tmp_path / "ray.csv"), "--engine", "ray", "--workers", "2"]) == 1
    local_rows = list(csv.DictReader(open(tmp_path / "local.csv")))
    ray_rows = list(csv.DictReader(open(tmp_path / "ray.csv")))
    assert len(ray_rows) == 4 and ray_rows[0].keys() == local_rows[0].keys()
    assert ray_rows == local_rows  # every value as written, to the last digit


def test_score_matches_local(tmp_path, trained_nr, two_torch_threads):
    clips = [str(c) for c in trained_nr["clips"]] + [str(tmp_path / "missing.wav")]
    base = ["score", *clips, "--model", str(trained_nr["models"]["source"]), "--backbone", str(trained_nr["backbone"]),
            "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--quiet"]
    assert main(base + ["-o", str(tmp_path / "local.csv")]) == 0
    assert main(base + ["-o", str(tmp_path / "ray.csv"), "--engine", "ray", "--workers", "2"]) == 0
    local_rows = list(csv.DictReader(open(tmp_path / "local.csv")))
    ray_rows = list(csv.DictReader(open(tmp_path / "ray.csv")))
    assert len(ray_rows) == 5 and list(ray_rows[0]) == list(local_rows[0])
    assert "missing.wav" in ray_rows[-1]["error"]
    assert ray_rows[:-1] == local_rows[:-1]  # bit-identical, as written
