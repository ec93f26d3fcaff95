"""Train/validation split by source recording, so that no clean recording feeds both."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

TRAIN = "train"
VALIDATION = "validation"


def source_id_for(path: str | Path) -> str:
    """A readable, collision-safe id for a source file: its stem plus a hash of the path."""
    path = str(path)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:48] or "source"
    return f"{stem}-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:8]}"


def stable_unit(*parts: object) -> float:
    """A number in [0, 1) determined only by `parts` (same on every machine and run)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(source_ids: Sequence[str], validation_fraction: float, seed: int = 0) -> dict[str, str]:
    """Map each source id to "train" or "validation".

    round(n * fraction) sources go to validation (at least one when the fraction is
    positive and there are two or more sources, never all of them), chosen by a
    seeded hash, so the split of a source does not depend on input order.
    """
    unique = sorted(set(source_ids))
    n_val = int(round(len(unique) * validation_fraction))
    if validation_fraction > 0 and len(unique) >= 2:
        n_val = min(max(n_val, 1), len(unique) - 1)
    ordered = sorted(unique, key=lambda s: stable_unit("split", seed, s))
    validation = set(ordered[:n_val])
    return {s: VALIDATION if s in validation else TRAIN for s in unique}
