"""Offline clean-audio rendering: music21 + fluidsynth music, espeak-ng speech, clear errors when tools are missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from audioqual.data.manifest import load_entries
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio
from audioqual.synth import CLEAN_MANIFEST, render_clean, tools
from audioqual.synth.common import finish
from audioqual.synth.tools import SynthToolMissing


def require(check) -> None:
    try:
        check()
    except SynthToolMissing as err:
        pytest.skip(str(err))


def test_rendered_music_is_full_band_and_normalised(tmp_path: Path) -> None:
    require(tools.fluidsynth_executable)
    require(tools.soundfont_path)
    require(tools.require_music21)
    from audioqual.synth.music import PALETTE, render_music

    (item,) = render_music(1, tmp_path, pieces=["bach/bwv66.6.mxl"], max_seconds=4.0, min_seconds=3.0)
    audio, rate = load_audio(item.path, AudioLoadOptions(channels=ChannelPolicy.KEEP))
    assert rate == 48000 and audio.shape[0] == 2
    assert item.seconds == pytest.approx(4.0, abs=1e-3) and audio.shape[1] == int(4.0 * rate)
    assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(-1.0, abs=0.01)
    assert set(item.details["instruments"]) <= {p.lower() for p in PALETTE} and len(item.details["instruments"]) == 4
    # the re-assigned instruments carry content far above the 12 kHz where GM piano-like sounds stop
    freqs, power = sps.welch(audio.mean(0), rate, nperseg=4096)
    high = power[(freqs > 12000) & (freqs < 20000)].sum() / power.sum()
    assert 10 * np.log10(high) > -60


def test_rendered_speech(tmp_path: Path) -> None:
    require(tools.espeak_executable)
    from audioqual.synth.speech import render_speech

    items = render_speech(2, tmp_path, seed=3, min_seconds=3.0)
    assert len({i.details["voice"] for i in items}) == 2
    for item in items:
        audio, rate = load_audio(item.path, AudioLoadOptions(channels=ChannelPolicy.KEEP))
        assert rate == item.details["sample_rate"] and audio.shape[0] == 1
        assert audio.shape[1] / rate >= 3.0 - 0.1  # trailing silence is trimmed
        assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(-1.0, abs=0.01)


def test_render_clean_manifest_feeds_the_pipeline(tmp_path: Path) -> None:
    require(tools.espeak_executable)
    manifest = render_clean(tmp_path / "clean", speech=1, max_seconds=4.0)
    assert manifest.name == CLEAN_MANIFEST
    (entry,) = load_entries([manifest])
    assert Path(entry.path).is_file() and entry.metadata["kind"] == "speech"
    assert entry.metadata["engine"] == "espeak-ng"


def test_missing_tools_fail_with_install_hints(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("AUDIOQUAL_FLUIDSYNTH", raising=False)
    monkeypatch.delenv("AUDIOQUAL_ESPEAK", raising=False)
    with pytest.raises(SynthToolMissing, match="apt-get install -y fluidsynth"):
        tools.fluidsynth_executable()
    with pytest.raises(SynthToolMissing, match="apt-get install -y espeak-ng"):
        tools.espeak_executable()
    monkeypatch.setenv("AUDIOQUAL_FLUIDSYNTH", str(tmp_path / "nope"))
    with pytest.raises(SynthToolMissing, match="AUDIOQUAL_FLUIDSYNTH"):
        tools.fluidsynth_executable()
    monkeypatch.setenv("AUDIOQUAL_SOUNDFONT", str(tmp_path / "missing.sf2"))
    with pytest.raises(SynthToolMissing, match="missing.sf2"):
        tools.soundfont_path()
    monkeypatch.delenv("AUDIOQUAL_SOUNDFONT")
    monkeypatch.setattr(tools, "SOUNDFONT_CANDIDATES", (str(tmp_path / "none.sf2"),))
    with pytest.raises(SynthToolMissing, match="fluid-soundfont-gm"):
        tools.soundfont_path()
    from audioqual.synth.music import render_music

    with pytest.raises(SynthToolMissing):
        render_music(1, tmp_path)


def test_finish_trims_cuts_fades_and_normalises() -> None:
    rate = 1000
    audio = np.zeros((2, 5000), dtype=np.float32)
    audio[:, 1000:4000] = 0.2 * np.sin(np.arange(3000) / 5.0)
    done = finish(audio.copy(), rate, max_seconds=2.0)
    assert done.shape == (2, 2000)
    assert np.abs(done).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    assert done[:, -1].tolist() == [0.0, 0.0]  # faded out
    assert finish(audio.copy(), rate).shape[1] <= 3000


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
def test_corpus_listing_has_scores_not_analyses() -> None:
    require(tools.require_music21)
    from audioqual.synth.music import corpus_scores

    scores = corpus_scores()
    assert len(scores) > 1000
    assert not any(s.endswith(".rntxt") or s.endswith(".abc") for s in scores)
    assert "bach/bwv66.6.mxl" in scores


def test_stem_pairs_are_aligned_normalised_and_short_pieces_are_skipped(tmp_path: Path) -> None:
    require(tools.fluidsynth_executable)
    require(tools.soundfont_path)
    require(tools.require_music21)
    from audioqual.errors import AudioqualError
    from audioqual.models.stems import VOICE_PROGRAMS, render_stem_pairs

    (pair,) = render_stem_pairs(1, tmp_path, seed=3, max_seconds=5.0, min_seconds=3.0, pieces=["bach/bwv66.6.mxl"])
    vocal, rate = load_audio(pair.vocal, AudioLoadOptions(channels=ChannelPolicy.KEEP))
    band, _ = load_audio(pair.accompaniment, AudioLoadOptions(channels=ChannelPolicy.KEEP))
    assert rate == 48000 and vocal.shape == band.shape and vocal.shape[1] == int(5.0 * rate)
    for stem in (vocal, band):
        assert 20 * np.log10(np.abs(stem).max()) == pytest.approx(-1.0, abs=0.01)
    assert pair.details["voice"] in VOICE_PROGRAMS
    # two different renders of one score: related (same harmony) but not the same signal
    assert abs(np.corrcoef(vocal.mean(0), band.mean(0))[0, 1]) < 0.9
    with pytest.raises(AudioqualError, match="rendered only 0 of 1 stem pairs"):
        render_stem_pairs(1, tmp_path / "short", max_seconds=5.0, min_seconds=60.0, pieces=["bach/bwv66.6.mxl"])
    assert not list((tmp_path / "short").glob("*.wav"))  # nothing left behind by the skipped piece


def test_seeded_piece_choice_never_draws_the_held_out_example_piece() -> None:
    require(tools.require_music21)
    from audioqual.synth.music import HELD_OUT_PIECES, corpus_scores, seeded_candidates

    assert any(p.startswith(HELD_OUT_PIECES[0] + ".") for p in corpus_scores())
    for seed in range(3):
        drawn = seeded_candidates(seed)
        assert not [p for p in drawn if p.rsplit(".", 1)[0] in HELD_OUT_PIECES]
        assert len(drawn) == len(corpus_scores()) - len(HELD_OUT_PIECES)
    assert seeded_candidates(0, ["bach/bwv66.6.mxl"]) == ["bach/bwv66.6.mxl"]  # named pieces still render
