"""Content hashes: of a file's bytes, and of everything that determines a batch row's result.

Used by the feature cache (entry names) and by batch journals (a journalled
row is reused only when the key of its inputs and options is unchanged).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_HASH_BLOCK = 1 << 20


def file_content_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex, 32 chars)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()[:32]


def input_hash(path: str | Path | None) -> str:
    """Content hash of an input file, or a marker naming why there is none (missing, not a file).

    A row whose input was missing gets a key that changes once the file appears,
    so its recorded error is not reused for the new file.
    """
    if path is None:
        return "none"
    path = Path(path)
    try:
        return file_content_hash(path)
    except FileNotFoundError:
        return f"missing:{path}"
    except (IsADirectoryError, PermissionError, OSError) as err:
        return f"unreadable:{path}:{type(err).__name__}"


def result_key(*parts: Any) -> str:
    """Digest of JSON-able parts (input hashes, options, versions): the journal key of one row."""
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:40]
