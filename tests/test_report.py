"""HTML report: self-contained page with tables and plots, rendered in real headless Chromium."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from audioqual.cli.main import main
from audioqual.errors import AudioqualError
from audioqual.eval.tables import format_number
from audioqual.report.html import render_report

pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (pip install matplotlib)")
from matplotlib import image as mpimg  # noqa: E402

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """An evaluation run of three predictors on a generated two-subset listening test."""
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    rows, truth = [], []
    for subset in ("coding", "separation"):
        for system_index, system in enumerate(("low", "mid", "high", "ref")):
            for item in range(5):
                score = 1.0 + system_index + rng.normal(scale=0.4)
                rows.append([f"{subset}/{system}/{item}.wav", f"{subset}/ref/{item}.wav", system, str(item),
                             round(score, 3), subset])
                truth.append(score)
    manifest = _write_csv(root / "manifest.csv", ["test", "reference", "condition", "signal", "mean", "subset"], rows)
    truth = np.array(truth)
    specs = []
    for name, noise in (("close", 0.4), ("rough", 1.5), ("random", None)):
        values = rng.normal(size=truth.size) if noise is None else truth + rng.normal(scale=noise, size=truth.size)
        path = _write_csv(root / f"{name}.csv", ["test", name], [[r[0], v] for r, v in zip(rows, values)])
        specs.append(f"{name}={path}")
    out = root / "run"
    assert main(["evaluate", "--manifest", str(manifest), "--predictions", *specs, "-o", str(out),
                 "--bootstrap", "100"]) == 0
    return out


def test_report_is_self_contained_with_tables_and_plots(run_dir):
    assert main(["report", str(run_dir)]) == 0
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)  # nothing loaded from outside
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4  # summary + one scatter per predictor
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    for text in ("close", "rough", "random", "coding", "separation", "Williams", "Stimulus level", "System level"):
        assert text in page
    results = json.loads((run_dir / "results.json").read_text())
    overall_pcc = next(r for r in results["results"] if (r["predictor"], r["subset"], r["level"], r["statistic"])
                       == ("close", "Overall", "stimulus", "PCC"))
    assert format_number(overall_pcc["value"]) in page


def test_report_of_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(AudioqualError, match="no results.json"):
        render_report(tmp_path)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    report = run_dir / "report.html"
    if not report.exists():
        assert main(["report", str(run_dir)]) == 0
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={screenshot}", "--window-size=1200,1600", report.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    assert screenshot.is_file()
    pixels = mpimg.imread(str(screenshot))
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels[..., :3].std() > 0.05  # not a blank page
    # the shaded correlation cells are coloured: some pixels are clearly neither grey nor white
    rgb = pixels[..., :3]
    assert (rgb.max(axis=2) - rgb.min(axis=2) > 0.2).mean() > 0.001
