"""On-disk feature cache: extract once, reuse across trainings.

Entries are .npy files named by a hash of everything that determines them
(audio content, segment, loading options, backbone weights, layers, pooling).
Writes go to a temporary file in the same folder and are renamed into place,
so an interrupted run never leaves a corrupt entry behind; a damaged entry
found on read (e.g. disk trouble) counts as a miss and is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.data.hashing import file_content_hash

DEFAULT_CACHE_DIR = Path(os.environ.get("AUDIOQUAL_CACHE", Path.home() / ".cache" / "audioqual" / "features"))
__all__ = ["DEFAULT_CACHE_DIR", "CacheKey", "FeatureCache", "file_content_hash"]


@dataclass(frozen=True)
class CacheKey:
    """Everything that identifies one cached feature array."""

    audio_hash: str
    segment: tuple[float | None, float | None]
    load_options: str
    backbone: str
    layers: tuple[int, ...] | None
    pooling: str

    def digest(self) -> str:
        payload = json.dumps(
            [self.audio_hash, list(self.segment), self.load_options, self.backbone, self.layers, self.pooling]
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:40]


class FeatureCache:
    """A folder of feature arrays addressed by CacheKey digests."""

    def __init__(self, root: str | Path = DEFAULT_CACHE_DIR):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}.npy"

    def __contains__(self, digest: str) -> bool:
        return self.path_for(digest).exists()

    def load(self, digest: str) -> np.ndarray | None:
        """The cached array, or None on a miss or a damaged entry."""
        path = self.path_for(digest)
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)
            return None

    def save(self, digest: str, array: np.ndarray, metadata: dict[str, Any] | None = None) -> Path:
        """Write an entry atomically (temp file + fsync + rename)."""
        path = self.path_for(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".partial")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        if metadata is not None:
            _write_text_atomic(path.with_suffix(".json"), json.dumps(metadata, default=str))
        return path

    def clean_partial(self) -> int:
        """Remove temporary files left by killed writers; returns how many."""
        removed = 0
        for tmp in self.root.glob("*/.tmp-*"):
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed


def _write_text_atomic(path: Path, text: str) -> None:
    descriptor, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(tmp_name, path)
