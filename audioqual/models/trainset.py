"""The default model's training set: offline clean audio -> 4 s clips -> codec and separation-like degradations.

Output (DeePAQ training-manifest format, the columns of `audioqual degrade`):
  clean/                  rendered stems, speech and music, and clean_manifest.jsonl listing them
  audio/<split>/<source>/<clip>/<condition>.wav   48 kHz mono clips (the clean one is the reference)
  rows/<source>.jsonl     per-source rows; sources.jsonl journals finished sources (a re-run resumes)
  manifest.jsonl          one row per clip and condition; label it with `audioqual label`

Clean material (audioqual.models.stems, audioqual.synth): vocal/accompaniment stem pairs
rendered from music21 scores, espeak-ng speech (with another piece's accompaniment as
interferer) and instrumental music. Every clip is written clean and in
`conditions_per_clip` conditions drawn, by a seeded hash of the clip, from families:
FFmpeg codecs (AAC/Opus/MP3 with bitrate labels), low-pass, white noise, and the
separation-like effects of audioqual.degrade.separation (interference, noisy-mask
separation, spectral holes, Griffin-Lim and mel-vocoder resynthesis). Splits are by
source: `train`, `validation` (checkpoint selection) and `test` (never used in training);
no clean recording is shared between them. The distance -> MOS mapping is fitted on
validation + test (audioqual.models.export).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.data.journal import run_batch
from audioqual.data.manifest import read_manifest, write_manifest
from audioqual.degrade import separation
from audioqual.degrade.codecs import WORK_RATE, require_codecs
from audioqual.degrade.conditions import CLEAN, Condition, apply_condition
from audioqual.degrade.segment import plan_clips, with_context
from audioqual.degrade.split import stable_unit
from audioqual.errors import AudioInputError, AudioqualError
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio, save_audio

log = logging.getLogger(__name__)

CLEAN_DIR = "clean"
CLEAN_MANIFEST = "clean_manifest.jsonl"
MANIFEST = "manifest.jsonl"
SOURCES = "sources.jsonl"
SPLITS = ("train", "validation", "test")


@dataclass
class TrainsetConfig:
    """What the training set is made of; every choice is seeded."""

    stem_pairs: int = 64  # vocal + accompaniment renders of music21 scores
    speech: int = 16  # espeak-ng files, each with another piece's accompaniment as interferer
    music: int = 16  # instrumental renders (audioqual.synth.music)
    environment: int = 0  # environmental scenes (audioqual.synth.procedural)
    generated: int = 0  # additive/FM-synthesised music (audioqual.synth.procedural)
    source_seconds: float = 24.0
    clip_seconds: float = 4.0
    context_seconds: float = 0.5  # processed on each side of a clip, then cut away
    max_clips_per_source: int = 5
    min_active_fraction: float = 0.6  # share of 100 ms frames within 35 dB of the clip's loudest
    conditions_per_clip: int = 5
    codecs: list[str] = field(default_factory=lambda: ["aac", "opus", "mp3"])
    bitrates_kbps: list[int] = field(default_factory=lambda: [16, 32, 48, 64, 96, 128])
    lowpass_hz: list[float] = field(default_factory=lambda: [3500, 5000, 7000, 9000, 11000, 14000])
    noise_snr_db: list[float] = field(default_factory=lambda: [5, 15, 25, 35])
    interference_sir_db: list[float] = field(default_factory=lambda: [0, 5, 10, 15, 20, 30])
    mask_mixture_sir_db: list[float] = field(default_factory=lambda: [-5, 0, 5])
    mask_noise: list[float] = field(default_factory=lambda: [0.5, 1.5, 3.0])
    hole_fractions: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 0.75])
    griffin_lim_iterations: list[int] = field(default_factory=lambda: [2, 8, 32])
    vocoder_mels: list[int] = field(default_factory=lambda: [32, 64, 128])
    family_weights: dict[str, float] = field(
        default_factory=lambda: {"codec": 3.0, "interference": 2.0, "mask": 2.0, "holes": 1.0, "griffin_lim": 1.0,
                                 "vocoder": 1.0, "lowpass": 1.0, "noise": 1.0}  # fmt: skip
    )
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    workers: int = 2


@dataclass(frozen=True)
class SepCondition:
    """A condition of this set: a degrade Condition (clean/codec/lowpass/noise) or a separation effect."""

    name: str
    family: str
    params: tuple[float, ...] = ()
    base: Condition | None = None  # conditions run by audioqual.degrade.conditions.apply_condition

    def manifest_fields(self) -> dict[str, Any]:
        if self.base is not None:
            fields = self.base.manifest_fields()
            fields["degradation"] = self.family
            return fields
        return {"condition": self.name, "degradation": self.family, "codec": None, "bitrate_kbps": None,
                "level": self.params[0] if self.params else None}  # fmt: skip


def condition_catalogue(config: TrainsetConfig) -> dict[str, list[SepCondition]]:
    """Every condition of the set, by family."""
    codec = [
        SepCondition(f"{c}_{b:g}k", "codec", (b,), Condition(f"{c}_{b:g}k", "codec", codec=c, bitrate_kbps=float(b)))
        for c in config.codecs
        for b in config.bitrates_kbps
    ]
    return {
        "codec": codec,
        "lowpass": [SepCondition(f"lowpass_{f:g}hz", "lowpass", (f,), Condition(f"lowpass_{f:g}hz", "lowpass",
                                                                                 level=float(f)))
                    for f in config.lowpass_hz],  # fmt: skip
        "noise": [SepCondition(f"noise_{s:g}db", "noise", (s,), Condition(f"noise_{s:g}db", "noise", level=float(s)))
                  for s in config.noise_snr_db],  # fmt: skip
        "interference": [SepCondition(f"interference_{s:g}db", "interference", (s,)) for s in config.interference_sir_db],
        "mask": [SepCondition(f"mask_sir{s:g}_noise{n:g}", "mask", (s, n))
                 for s in config.mask_mixture_sir_db for n in config.mask_noise],  # fmt: skip
        "holes": [SepCondition(f"holes_{p:g}", "holes", (p,)) for p in config.hole_fractions],
        "griffin_lim": [SepCondition(f"griffinlim_{i}", "griffin_lim", (i,)) for i in config.griffin_lim_iterations],
        "vocoder": [SepCondition(f"melvocoder_{m}", "vocoder", (m,)) for m in config.vocoder_mels],
    }


def pick_conditions(
    clip_key: str, catalogue: dict[str, list[SepCondition]], config: TrainsetConfig, has_interferer: bool
) -> list[SepCondition]:
    """`conditions_per_clip` distinct conditions: a family by weight, then a member uniformly (seeded hash)."""
    families = {f: w for f, w in config.family_weights.items() if catalogue.get(f) and w > 0}
    if not has_interferer:
        families = {f: w for f, w in families.items() if f not in ("interference", "mask")}
    names = sorted(families)
    weights = np.array([families[f] for f in names], dtype=np.float64)
    cumulative = np.cumsum(weights / weights.sum())
    chosen: list[SepCondition] = []
    total = sum(len(catalogue[f]) for f in names)
    draw = 0
    while len(chosen) < min(config.conditions_per_clip, total):
        u = stable_unit("family", config.seed, clip_key, draw)
        family = names[min(int(np.searchsorted(cumulative, u, side="right")), len(names) - 1)]
        members = catalogue[family]
        candidate = members[int(stable_unit("member", config.seed, clip_key, draw) * len(members))]
        if candidate not in chosen:
            chosen.append(candidate)
        draw += 1
    return chosen


def apply_sep_condition(
    condition: SepCondition, segment: np.ndarray, interferer: np.ndarray | None, offset: int, frames: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Degrade the clip at [offset, offset + frames) of a context segment (channels, n) at WORK_RATE."""
    if condition.base is not None:
        return apply_condition(condition.base, segment, offset, frames, WORK_RATE, rng,
                               max_lag=int(0.05 * WORK_RATE)).samples  # fmt: skip
    family, params = condition.family, condition.params
    if family == "interference":
        out = separation.interference(segment, interferer, params[0])
    elif family == "mask":
        out = separation.noisy_mask(segment, interferer, params[0], params[1], rng)
    elif family == "holes":
        out = separation.spectral_holes(segment, params[0], rng)
    elif family == "griffin_lim":
        out = separation.phase_reconstruction(segment, int(params[0]), rng)
    elif family == "vocoder":
        out = separation.mel_vocoder(segment, WORK_RATE, int(params[0]), 32, rng)
    else:
        raise ValueError(f"unknown condition family {family!r}")
    return out[:, offset : offset + frames]


def assign_split(source_id: str, config: TrainsetConfig) -> str:
    """train / validation / test by a seeded hash of the source id."""
    u = stable_unit("split", config.seed, source_id)
    if u < config.validation_fraction:
        return "validation"
    if u < config.validation_fraction + config.test_fraction:
        return "test"
    return "train"


def render_sources(out_dir: str | Path, config: TrainsetConfig) -> Path:
    """Render the clean material into OUT/clean and list it in clean_manifest.jsonl (reused when present)."""
    from audioqual.models.stems import render_stem_pairs
    from audioqual.synth import render_music, render_speech
    from audioqual.synth.procedural import render_environment, render_generated

    folder = Path(out_dir) / CLEAN_DIR
    manifest = folder / CLEAN_MANIFEST
    if manifest.exists():
        return manifest
    folder.mkdir(parents=True, exist_ok=True)
    pairs = render_stem_pairs(config.stem_pairs, folder, config.seed, config.source_seconds)
    rows = [pair.manifest_row() for pair in pairs]
    if config.speech:
        for index, item in enumerate(render_speech(config.speech, folder, config.seed, config.source_seconds / 2)):
            row = item.manifest_row()
            row["accompaniment"] = str(pairs[index % len(pairs)].accompaniment) if pairs else None
            rows.append(row)
    if config.music:
        rows += [item.manifest_row() for item in render_music(config.music, folder, config.seed + 1,
                                                               config.source_seconds)]  # fmt: skip
    if config.environment:
        rows += [item.manifest_row() for item in render_environment(config.environment, folder, config.seed,
                                                                     config.source_seconds)]  # fmt: skip
    if config.generated:
        rows += [item.manifest_row() for item in render_generated(config.generated, folder, config.seed,
                                                                   config.source_seconds)]  # fmt: skip
    for row in rows:
        for key in ("path", "accompaniment"):
            if row.get(key):
                row[key] = Path(row[key]).name
    return write_manifest(manifest, rows)


class SourceDegrader:
    """Cuts one clean source into clips and writes each clip clean and in its conditions."""

    def __init__(self, out_dir: Path, config: TrainsetConfig):
        self.out_dir = out_dir
        self.config = config
        self.catalogue = condition_catalogue(config)

    def __call__(self, item: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        sid, source = item
        cfg = self.config
        options = AudioLoadOptions(sample_rate=WORK_RATE, channels=ChannelPolicy.KEEP)
        clean, _ = load_audio(source["path"], options)
        interferer = None
        if source.get("accompaniment"):
            band, _ = load_audio(source["accompaniment"], options)
            if band.shape[0] != clean.shape[0]:
                band = np.repeat(band.mean(axis=0, keepdims=True), clean.shape[0], axis=0)
            if band.shape[1] < clean.shape[1]:
                band = np.pad(band, ((0, 0), (0, clean.shape[1] - band.shape[1])))
            interferer = band[:, : clean.shape[1]]
        split = assign_split(sid, cfg)
        spans = [s for s in plan_clips(clean.shape[1], WORK_RATE, cfg.clip_seconds) if self._active(clean[:, s.start:s.stop])]
        spans = spans[: cfg.max_clips_per_source]
        if not spans:
            raise AudioInputError(source["path"], "has no clip with enough sound")
        tasks = []
        for span in spans:
            key = f"{sid}/{span.index:04d}"
            lo, hi = with_context(span, clean.shape[1], int(round(cfg.context_seconds * WORK_RATE)))
            clip = (key, span, lo, hi)
            conditions = pick_conditions(key, self.catalogue, cfg, interferer is not None and _audible(interferer[:, lo:hi]))
            tasks += [(clip, c) for c in [SepCondition("clean", "clean", base=CLEAN), *conditions]]
        require_codecs(sorted({t[1].base.codec for t in tasks if t[1].family == "codec"}))

        def run(task: tuple[tuple, SepCondition]) -> dict[str, Any]:
            (key, span, lo, hi), condition = task
            folder = Path("audio") / split / sid / f"{span.index:04d}"
            rng = np.random.default_rng(int(stable_unit("rng", cfg.seed, key, condition.name) * 2**63))
            segment = clean[:, lo:hi]
            band = interferer[:, lo:hi] if interferer is not None else None
            out = apply_sep_condition(condition, segment, band, span.start - lo, span.frames, rng)
            path = folder / f"{condition.name}.wav"
            save_audio(self.out_dir / path, out.mean(axis=0, keepdims=True), WORK_RATE, subtype="FLOAT")
            return {"id": f"{key}/{condition.name}", "path": path.as_posix(),
                    "reference": (folder / "clean.wav").as_posix(), **condition.manifest_fields(),
                    "split": split, "source_id": sid, "kind": source.get("kind"), "clip_index": span.index,
                    "clip_start": round(span.start / WORK_RATE, 6), "clip_end": round(span.stop / WORK_RATE, 6),
                    "sample_rate": WORK_RATE, "channels": 1}  # fmt: skip

        with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
            rows = list(pool.map(run, tasks))
        rows_file = Path("rows") / f"{sid}.jsonl"
        write_manifest(self.out_dir / rows_file, rows)
        return {"clips": len(spans), "rows": len(rows), "rows_file": rows_file.as_posix(), "split": split}

    def _active(self, clip: np.ndarray) -> bool:
        """Enough of the clip sounds: most 100 ms frames within 35 dB of the loudest one."""
        mono = clip.mean(axis=0)
        frame = WORK_RATE // 10
        power = np.mean(mono[: mono.size // frame * frame].reshape(-1, frame) ** 2, axis=1)
        if power.max() <= 1e-10:
            return False
        return float(np.mean(power > power.max() * 10 ** -3.5)) >= self.config.min_active_fraction


def _audible(samples: np.ndarray) -> bool:
    return float(np.mean(samples.astype(np.float64) ** 2)) > 1e-8


def build_trainset(out_dir: str | Path, config: TrainsetConfig | None = None, retry_failed: bool = False) -> Path:
    """Render (once), then degrade every source (resumable); returns OUT/manifest.jsonl."""
    config = config or TrainsetConfig()
    out_dir = Path(out_dir)
    clean_manifest = render_sources(out_dir, config)
    sources = []
    for entry in read_manifest(clean_manifest):
        row = {**entry.to_row(), "accompaniment": entry.resolve_path("accompaniment")}
        sources.append((str(row["id"]), row))
    if not sources:
        raise AudioqualError(f"{clean_manifest}: no clean sources")
    journal = run_batch([(sid, (sid, row)) for sid, row in sources], SourceDegrader(out_dir, config), out_dir / SOURCES,
                        description="degrade (sources)", retry_failed=retry_failed)  # fmt: skip
    rows: list[dict[str, Any]] = []
    for sid, _ in sources:
        record = journal.records.get(sid)
        if record is None or record.get("error"):
            log.warning("source %s failed: %s", sid, record and record.get("error"))
            continue
        text = (out_dir / record["row"]["rows_file"]).read_text(encoding="utf-8")
        rows += [json.loads(line) for line in text.splitlines() if line.strip()]  # paths stay relative to OUT
    if not rows:
        raise AudioqualError("no source could be degraded")
    return write_manifest(out_dir / MANIFEST, rows)
