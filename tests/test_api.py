"""The Python API (`import audioqual as aq`): the README snippet, paths and arrays, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audioqual as aq
from audioqual.models.registry import load_fr_scorer
from audioqual.errors import AudioqualError, ModelLoadError
from audioqual.metrics.pairs import Pair, score_one
from audioqual.metrics.registry import create

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_api_snippet_runs():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "aq.compare" in snippet and "aq.metric" in snippet and "aq.load_model" in snippet
    exec(compile(snippet, str(README), "exec"), {})


@pytest.fixture
def pair_files(tmp_path):
    rng = np.random.default_rng(0)
    ref = (0.2 * rng.standard_normal((2, 40000))).astype(np.float32)
    deg = ref + (0.02 * rng.standard_normal(ref.shape)).astype(np.float32)
    sf.write(tmp_path / "ref.wav", ref.T, 44100, subtype="FLOAT")
    sf.write(tmp_path / "deg.wav", deg.T, 44100, subtype="FLOAT")
    return tmp_path / "ref.wav", tmp_path / "deg.wav", ref, deg


def test_compare_on_files_equals_the_compare_command_scorer(pair_files):
    ref_path, deg_path, ref, deg = pair_files
    expected = load_fr_scorer().compare_files(ref_path, deg_path)
    result = aq.compare(ref_path, str(deg_path))
    assert isinstance(result, aq.Comparison)
    assert result.distance == expected.distance
    assert result.score == expected.scores["score"]
    assert result.scores == {k: v for k, v in expected.scores.items()}
    # arrays at the file's rate give the same value as the files
    assert aq.compare(ref, deg, sample_rate=44100) == result
    assert aq.load_model() is aq.load_model("default")


def test_metric_on_arrays_and_paths_equals_the_batch_scorer(pair_files):
    ref_path, deg_path, ref, deg = pair_files
    expected = score_one(create("twof"), Pair(str(ref_path), str(deg_path)))
    twof = aq.metric("twof")
    from_files = twof(ref_path, deg_path)
    assert isinstance(from_files, aq.MetricResult)
    assert from_files.name == "twof_mms" and from_files.higher_is_better
    assert from_files.value == expected["twof_mms"] and from_files.outputs == expected
    assert twof(ref, deg, sample_rate=44100) == from_files
    with pytest.raises(AudioqualError, match="sample_rate"):
        twof(ref, deg)


def test_score_without_a_model_uses_the_shipped_default(pair_files):
    result = aq.score(pair_files[1])
    assert set(result.aspects) == {"PQ", "PC", "CE", "CU", "overall"}
    assert all(result.std[a] > 0 for a in result.aspects)
    assert aq.score(pair_files[1]) == result  # loaded once, same answer
    with pytest.raises(ModelLoadError, match="not a model directory"):
        aq.load_model(pair_files[0].parent)
    with pytest.raises(ModelLoadError, match="full-reference model needs a reference"):
        aq.score(pair_files[1], model="default")


def test_unknown_attribute_of_the_package_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = aq.nothing_here
