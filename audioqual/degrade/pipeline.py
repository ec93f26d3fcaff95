"""The degrade job: clean sources -> 4 s clips -> coded/degraded variants -> a JSONL manifest.

Output folder layout:
  manifest.jsonl           one row per (clip, condition), clean rows included
  sources.jsonl            one row per source: split, clip count, or the error that skipped it
  degrade_config.yaml      the configuration, so a re-run can resume the same job
  rows/<source_id>.jsonl   per-source rows (the job's crash-safe unit of work)
  audio/<split>/<source_id>/<clip>/<condition>.wav      training clips at `sample_rate`
  audio/<split>/<source_id>/<clip>/<condition>.48k.wav  full-band copies for labelling
A killed run resumes where it stopped: finished sources are not redone.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from audioqual.config import to_dict
from audioqual.data.journal import BatchJournal, run_batch
from audioqual.data.manifest import ManifestEntry, write_manifest
from audioqual.degrade.codecs import WORK_RATE, require_codecs
from audioqual.degrade.conditions import (
    CLEAN,
    Condition,
    apply_condition,
    build_conditions,
    condition_rng,
    conditions_for_clip,
)
from audioqual.degrade.config import DegradeConfig
from audioqual.degrade.segment import ClipSpan, plan_clips, rms_db, with_context
from audioqual.degrade.split import assign_splits, source_id_for
from audioqual.errors import AudioInputError, AudioqualError
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio, resample, save_audio

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
SOURCES_NAME = "sources.jsonl"
CONFIG_NAME = "degrade_config.yaml"
FULLBAND_SUFFIX = ".48k.wav"
RESUME_INSENSITIVE = ("workers",)


@dataclass
class DegradeResult:
    """What a degrade run produced."""

    manifest: Path
    sources: Path
    rows: int
    clips: int
    sources_done: int
    degraded_now: int  # degraded (non-clean) clips written by this run, for throughput
    failures: dict[str, str] = field(default_factory=dict)  # source id -> error
    seconds: float = 0.0


def run_degrade(
    inputs: list[ManifestEntry], out_dir: str | Path, config: DegradeConfig | None = None, retry_failed: bool = False
) -> DegradeResult:
    """Degrade every source of `inputs` into `out_dir`; bad sources are recorded and skipped."""
    started = time.perf_counter()
    config = config or DegradeConfig()
    config.validate()
    require_codecs(config.codecs)
    out_dir = Path(out_dir)
    sources = unique_sources(inputs)
    if not sources:
        raise AudioqualError("no input audio given to degrade")
    _check_or_write_config(out_dir, config)
    splits = assign_splits([sid for sid, _ in sources], config.validation_fraction, config.seed)
    worker = SourceWorker(out_dir, config, build_conditions(config), splits)
    base_rows = {sid: {"source_id": sid, "source_path": e.path, "split": splits[sid]} for sid, e in sources}
    earlier = set(BatchJournal(out_dir / SOURCES_NAME).records)
    journal = run_batch(
        [(sid, (sid, e)) for sid, e in sources],
        worker,
        out_dir / SOURCES_NAME,
        base_rows=base_rows,
        description="degrade (sources)",
        retry_failed=retry_failed,
    )
    rows: list[dict[str, Any]] = []
    clips = done = degraded_now = 0
    for sid, _ in sources:
        record = journal.records.get(sid)
        if record is None or record.get("error"):
            continue
        done += 1
        clips += int(record["row"]["clips"])
        source_rows = _read_jsonl(out_dir / record["row"]["rows_file"])
        if sid not in earlier:
            degraded_now += sum(1 for r in source_rows if r["degradation"] != CLEAN.kind)
        rows.extend(source_rows)
    manifest = write_manifest(out_dir / MANIFEST_NAME, rows)
    return DegradeResult(
        manifest=manifest,
        sources=out_dir / SOURCES_NAME,
        rows=len(rows),
        clips=clips,
        sources_done=done,
        degraded_now=degraded_now,
        failures=journal.failures(),
        seconds=time.perf_counter() - started,
    )


def unique_sources(inputs: list[ManifestEntry]) -> list[tuple[str, ManifestEntry]]:
    """(source id, entry) pairs; an entry's `id` field wins over the path-derived id; duplicates dropped."""
    seen: dict[str, ManifestEntry] = {}
    for entry in inputs:
        sid = str(entry.metadata["id"]) if "id" in entry.metadata else source_id_for(entry.path)
        if entry.start_time is not None or entry.end_time is not None:
            sid = f"{sid}@{entry.start_time or 0:g}"
        if sid in seen:
            log.warning("source %s (%s) is listed twice; using it once", sid, entry.path)
            continue
        seen[sid] = entry
    return list(seen.items())


@dataclass(frozen=True)
class _Clip:
    """A clip ready for degrading: its context segment, clean reference files and conditions."""

    key: str
    folder: Path
    segment: np.ndarray
    offset: int  # clip start within the segment
    frames: int
    reference: dict[str, str]
    common: dict[str, Any]
    conditions: list[Condition]


class SourceWorker:
    """Turns one source into clips and degraded variants; returns its summary row."""

    def __init__(self, out_dir: Path, config: DegradeConfig, conditions: list[Condition], splits: dict[str, str]):
        self.out_dir = out_dir
        self.config = config
        self.conditions = conditions
        self.splits = splits

    def __call__(self, item: tuple[str, ManifestEntry]) -> dict[str, Any]:
        sid, entry = item
        cfg = self.config
        samples, rate = load_audio(
            entry.path,
            AudioLoadOptions(sample_rate=WORK_RATE, channels=ChannelPolicy(cfg.channels)),
            entry.start_time,
            entry.end_time,
        )
        if samples.shape[0] > 2:
            raise AudioInputError(
                entry.path, f"has {samples.shape[0]} channels; codecs here take 1 or 2 (set channels=downmix)"
            )
        spans = plan_clips(samples.shape[1], rate, cfg.clip_seconds, cfg.hop_seconds)
        if not spans:
            raise AudioInputError(
                entry.path, f"is {samples.shape[1] / rate:.2f} s long, shorter than one {cfg.clip_seconds:g} s clip"
            )
        spans = [s for s in spans if rms_db(samples[:, s.start : s.stop]) >= cfg.min_clip_rms_db]
        if not spans:
            raise AudioInputError(entry.path, f"every clip is quieter than {cfg.min_clip_rms_db:g} dBFS RMS (silent?)")
        spans = spans[: cfg.max_clips_per_source]
        split = self.splits[sid]
        clips = [self._prepare_clip(sid, entry, split, samples, span) for span in spans]
        tasks = [(clip, condition) for clip in clips for condition in clip.conditions]
        with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
            rows = list(pool.map(lambda task: self._condition_row(*task), tasks))
        rows_file = Path("rows") / f"{sid.replace('/', '_')}.jsonl"
        write_manifest(self.out_dir / rows_file, rows)
        return {"clips": len(spans), "rows": len(rows), "channels": samples.shape[0], "rows_file": rows_file.as_posix()}

    def _prepare_clip(
        self, sid: str, entry: ManifestEntry, split: str, samples: np.ndarray, span: ClipSpan
    ) -> _Clip:
        """Cut a clip with its coding context, write its clean reference, pick its conditions."""
        cfg = self.config
        key = f"{sid}/{span.index:04d}"
        folder = Path("audio") / split / sid.replace("/", "_") / f"{span.index:04d}"
        lo, hi = with_context(span, samples.shape[1], int(round(cfg.context_seconds * WORK_RATE)))
        segment = samples[:, lo:hi]
        reference = self._write(folder / "clean", segment[:, span.start - lo : span.stop - lo])
        offset = entry.start_time or 0.0
        common = {
            "sample_rate": cfg.sample_rate,
            "channels": int(samples.shape[0]),
            "split": split,
            "source_id": sid,
            "source_path": entry.path,
            "clip_index": span.index,
            "clip_start": round(offset + span.start / WORK_RATE, 6),
            "clip_end": round(offset + span.stop / WORK_RATE, 6),
        }
        conditions = conditions_for_clip(key, self.conditions, cfg.assignment, cfg.clean_fraction, cfg.seed)
        return _Clip(key, folder, segment, span.start - lo, span.frames, reference, common, conditions)

    def _condition_row(self, clip: _Clip, condition: Condition) -> dict[str, Any]:
        """Degrade one clip in one condition, write it, and return its manifest row."""
        cfg = self.config
        if condition == CLEAN:
            written, info = clip.reference, {}
        else:
            applied = apply_condition(
                condition,
                clip.segment,
                clip.offset,
                clip.frames,
                WORK_RATE,
                condition_rng(cfg.seed, clip.key, condition),
                max_lag=int(round(cfg.max_align_lag_ms * WORK_RATE / 1000)),
                dropout_frame_ms=cfg.effects.dropout_frame_ms,
            )
            written, info = self._write(clip.folder / condition.name, applied.samples), applied.info
        row = {"id": f"{clip.key}/{condition.name}", "path": written["path"], "reference": clip.reference["path"]}
        if "fullband_path" in written:
            row.update(fullband_path=written["fullband_path"], fullband_reference=clip.reference["fullband_path"])
            row["fullband_rate"] = WORK_RATE
        row.update(clip.common)
        row.update(condition.manifest_fields())
        row.update(info)
        return row

    def _write(self, stem: Path, clip: np.ndarray) -> dict[str, str]:
        cfg = self.config
        paths: dict[str, str] = {}
        if cfg.sample_rate == WORK_RATE:
            save_audio(self.out_dir / stem.with_suffix(".wav"), clip, WORK_RATE, subtype=cfg.subtype)
            paths["path"] = stem.with_suffix(".wav").as_posix()
            if cfg.fullband:
                paths["fullband_path"] = paths["path"]
            return paths
        training = resample(clip, WORK_RATE, cfg.sample_rate)
        save_audio(self.out_dir / stem.with_suffix(".wav"), training, cfg.sample_rate, subtype=cfg.subtype)
        paths["path"] = stem.with_suffix(".wav").as_posix()
        if cfg.fullband:
            fullband = stem.parent / (stem.name + FULLBAND_SUFFIX)
            save_audio(self.out_dir / fullband, clip, WORK_RATE, subtype=cfg.subtype)
            paths["fullband_path"] = fullband.as_posix()
        return paths


def _check_or_write_config(out_dir: Path, config: DegradeConfig) -> None:
    """Refuse to resume a folder made with a different configuration."""
    path = out_dir / CONFIG_NAME
    current = to_dict(config)
    if path.exists():
        previous = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        differs = sorted(k for k in current if k not in RESUME_INSENSITIVE and previous.get(k) != current[k])
        if differs:
            raise AudioqualError(
                f"{out_dir} holds a degrade run with a different configuration (keys {differs}); "
                "use a new output folder or delete the old one"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(yaml.safe_dump(current, sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
