"""`audioqual --help` and `audioqual COMMAND --help` import no heavy library (start-up within 0.5 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audioqual.cli.main import COMMANDS

HEAVY = ("torch", "transformers", "matplotlib", "sklearn", "pandas", "ray", "onnxruntime", "numba", "visqol", "umap")
ROOT = Path(__file__).resolve().parents[1]


def _run_and_list_heavy(module: str, argv: list[str]) -> tuple[str, list[str]]:
    """stdout of `module.main(argv)` in a fresh process, and the heavy libraries it imported."""
    code = (f"import sys, json\nfrom {module} import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


def _heavy_after_help(command: str | None) -> list[str]:
    return _run_and_list_heavy("audioqual.cli.main", [command, "--help"] if command else ["--help"])[1]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_imports_no_heavy_library(command):
    assert _heavy_after_help(command) == []


def test_compare_with_the_default_model_imports_no_torch(tmp_path):
    """The default model runs on numpy alone, so `audioqual compare` in a fresh process starts fast."""
    examples = ROOT / "audioqual" / "models" / "examples"
    code = ("import sys, json\nfrom audioqual.cli.main import main\n"
            f"code = main(['compare', '--ref', {str(examples / 'reference.flac')!r}, {str(examples / 'mp3_32k.flac')!r}])\n"
            f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]), file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    exit_code, heavy = json.loads(done.stderr.strip().splitlines()[-1])
    assert exit_code == 0 and heavy == []
    assert json.loads(done.stdout)["score"] > 1.0


@pytest.mark.parametrize("step", [None, "trainset", "frontend", "export", "examples"])
def test_shipped_models_help_imports_no_heavy_library(step):
    """The steps that rebuild shipped model files parse their options before importing the library."""
    stdout, heavy = _run_and_list_heavy("audioqual.cli.shipped_models", [step, "--help"] if step else ["--help"])
    assert heavy == [] and "usage: python -m audioqual.cli.shipped_models" in stdout
