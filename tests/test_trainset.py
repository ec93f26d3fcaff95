"""The default model's training set: rendered sources -> clips in seeded conditions, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audioqual.data.manifest import read_manifest
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio
from audioqual.synth import tools
from audioqual.synth.tools import SynthToolMissing


def test_trainset_rows_pair_each_condition_with_its_clean_clip_and_a_rerun_resumes(tmp_path: Path) -> None:
    try:
        tools.fluidsynth_executable(), tools.soundfont_path(), tools.require_music21()
    except SynthToolMissing as err:
        pytest.skip(str(err))
    from audioqual.models.trainset import TrainsetConfig, build_trainset

    config = TrainsetConfig(stem_pairs=1, speech=0, music=0, source_seconds=13.0, max_clips_per_source=2,
                            conditions_per_clip=3, family_weights={"interference": 1.0, "mask": 1.0, "lowpass": 1.0},
                            workers=1)  # fmt: skip
    manifest = build_trainset(tmp_path / "set", config)
    entries = read_manifest(manifest)
    clips = {}
    for entry in entries:
        clips.setdefault((entry.metadata["source_id"], entry.metadata["clip_index"]), []).append(entry)
    assert len(clips) == 2 and all(len(rows) == 4 for rows in clips.values())  # clean + 3 conditions each
    options = AudioLoadOptions(channels=ChannelPolicy.KEEP)
    for rows in clips.values():
        clean = next(r for r in rows if r.metadata["condition"] == "clean")
        reference, rate = load_audio(clean.path, options)
        assert rate == 48000 and reference.shape == (1, 4 * 48000)
        assert {r.metadata["degradation"] for r in rows} <= {"clean", "interference", "mask", "lowpass"}
        for row in rows:
            assert (manifest.parent / row.metadata["reference"]).resolve() == Path(clean.path).resolve()
            assert row.metadata["split"] in ("train", "validation", "test")
            test, _ = load_audio(row.path, options)
            assert test.shape == reference.shape
            if row.metadata["condition"] != "clean":
                assert not np.allclose(test, reference, atol=1e-4)  # every condition changes the clip
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "set" / "audio").rglob("*.wav")}
    again = build_trainset(tmp_path / "set", config)
    assert [json.loads(line) for line in again.read_text().splitlines()] == [
        json.loads(line) for line in manifest.read_text().splitlines()
    ]
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "set" / "audio").rglob("*.wav")}  # resumed
