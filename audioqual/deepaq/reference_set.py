"""Clean reference sets for non-matching-reference scoring, with their embeddings cached on disk.

A reference set is a folder of audio files or a manifest. Each file's
embedding is stored in the feature cache under a key made of the file's
content hash, the loading options and the fingerprint of the exact model
(weights included), so a set is embedded once per model and a changed file
or model is never served stale. Unreadable references are skipped with a
warning; a set with no usable file is an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from audioqual.data.manifest import load_entries
from audioqual.deepaq.scorer import DeePAQScorer
from audioqual.errors import AudioqualError
from audioqual.features.cache import CacheKey, FeatureCache, file_content_hash

log = logging.getLogger(__name__)


@dataclass
class ReferenceSet:
    """Embeddings [R, E] of the usable reference files, and the files that failed."""

    paths: list[str]
    embeddings: np.ndarray
    failures: dict[str, str] = field(default_factory=dict)
    reused: int = 0


def reference_paths(source: str | Path) -> list[str]:
    """Audio files of a folder (recursively) or of a manifest (.jsonl/.csv)."""
    source = Path(source)
    if not source.exists():
        raise AudioqualError(f"{source}: non-matching reference set does not exist")
    entries = load_entries([source])
    if not entries:
        raise AudioqualError(f"{source}: no audio files found for the non-matching reference set")
    return [entry.path for entry in entries]


def build_reference_set(
    scorer: DeePAQScorer, source: str | Path, cache: FeatureCache | None = None, progress: bool = True
) -> ReferenceSet:
    """Embed every reference file of `source`, reusing cached embeddings of this model."""
    paths = reference_paths(source)
    fingerprint = scorer.model.fingerprint()
    token = f"deepaq-embedding;downmix;sr={scorer.sample_rate};chunk={scorer.model.chunk_seconds}"
    result = ReferenceSet(paths=[], embeddings=np.zeros((0, scorer.model.embedding_dim), dtype=np.float32))
    embeddings: list[np.ndarray] = []
    for path in tqdm(paths, desc="reference set", unit="file", disable=not progress or None):
        try:
            digest = CacheKey(file_content_hash(path), (None, None), token, fingerprint, None, "embedding").digest()
            embedding = cache.load(digest) if cache is not None else None
            if embedding is None:
                audio = scorer.load(path)
                embedding = scorer.embed(scorer.check_length(audio.samples, path))
                if cache is not None:
                    cache.save(digest, embedding, {"path": path, "model": fingerprint})
            else:
                result.reused += 1
        except (AudioqualError, OSError) as err:
            result.failures[path] = str(err)
            log.warning("skipping reference %s: %s", path, err)
            continue
        result.paths.append(path)
        embeddings.append(embedding)
    if not embeddings:
        raise AudioqualError(f"{source}: none of the {len(paths)} reference file(s) could be used")
    result.embeddings = np.stack(embeddings).astype(np.float32)
    return result
