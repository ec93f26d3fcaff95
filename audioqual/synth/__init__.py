"""Offline clean audio for users and tests without their own: rendered music and synthetic speech."""

from __future__ import annotations

from pathlib import Path

from audioqual.data.manifest import write_manifest
from audioqual.synth.common import RenderedItem
from audioqual.synth.music import render_music
from audioqual.synth.speech import render_speech
from audioqual.synth.tools import SynthToolMissing

CLEAN_MANIFEST = "clean_manifest.jsonl"


def render_clean(
    out_dir: str | Path, music: int = 0, speech: int = 0, seed: int = 0, max_seconds: float = 30.0
) -> Path:
    """Render `music` corpus pieces and `speech` espeak-ng files into out_dir; returns their manifest."""
    out_dir = Path(out_dir)
    items: list[RenderedItem] = []
    if music:
        items += render_music(music, out_dir, seed=seed, max_seconds=max_seconds)
    if speech:
        items += render_speech(speech, out_dir, seed=seed, min_seconds=min(12.0, max_seconds))
    rows = [item.manifest_row() for item in items]
    for row in rows:
        row["path"] = Path(row["path"]).name
    return write_manifest(out_dir / CLEAN_MANIFEST, rows)


__all__ = ["CLEAN_MANIFEST", "RenderedItem", "SynthToolMissing", "render_clean", "render_music", "render_speech"]
