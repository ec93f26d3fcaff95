"""Manifests: JSONL (audiobox-aesthetics style) and CSV, in and out.

A row names an audio file (`path`), optionally a segment (`start_time`,
`end_time` in seconds), and carries free metadata that is passed through.
Relative paths are resolved against the manifest's folder.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audioqual.errors import ManifestError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".aiff", ".aif", ".webm")
PATH_KEYS = ("path", "file", "filepath", "audio", "test")


@dataclass
class ManifestEntry:
    """One audio item of a manifest: a file, an optional segment, and metadata."""

    path: str
    start_time: float | None = None
    end_time: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = field(default=None, repr=False, compare=False)
    """The (absolute) folder of the manifest the entry was read from; relative path columns resolve against it."""
    raw: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    """The manifest row exactly as read (CSV values as their strings, in column order), for pass-through."""

    def passthrough(self) -> dict[str, Any]:
        """The input columns to copy to an output row: the row as read, else `to_row()`."""
        return dict(self.raw) if self.raw is not None else self.to_row()

    def resolve_path(self, key: str) -> str | None:
        """Metadata column `key` read as a file path (e.g. `reference`): relative values joined to `folder`."""
        value = self.metadata.get(key)
        if value in (None, ""):
            return None
        if self.folder is None or os.path.isabs(str(value)):
            return str(value)
        return str(self.folder / str(value))

    @property
    def item_id(self) -> str:
        """Identifier of the item: the `id` field when present, else path and segment."""
        if "id" in self.metadata:
            return str(self.metadata["id"])
        if self.start_time is None and self.end_time is None:
            return self.path
        return f"{self.path}@{self.start_time or 0.0:g}-{'' if self.end_time is None else f'{self.end_time:g}'}"

    def to_row(self) -> dict[str, Any]:
        """Flat dict for writing back to a manifest (metadata first keeps user order)."""
        row: dict[str, Any] = {"path": self.path}
        if self.start_time is not None:
            row["start_time"] = self.start_time
        if self.end_time is not None:
            row["end_time"] = self.end_time
        row.update({k: v for k, v in self.metadata.items() if k not in row})
        return row


def read_manifest(path: str | Path, path_key: str | None = None) -> list[ManifestEntry]:
    """Read a .jsonl or .csv manifest; raises ManifestError naming file and line."""
    return [entry for _, entry in read_manifest_table(path, path_key)[1]]


def read_manifest_table(
    path: str | Path, path_key: str | None = None, kind: str = "manifest", required: Sequence[str] = ()
) -> tuple[list[str], list[tuple[int, ManifestEntry]]]:
    """Columns and (line number, entry) of a manifest: `read_manifest` for callers that check columns or name lines."""
    path = Path(path)
    columns, rows = read_table(path, kind, required)
    base = path.parent.absolute()  # entries carry absolute paths: valid whatever the working directory
    csv_values = path.suffix.lower() == ".csv"
    entries = []
    for line_no, raw in rows:
        row = {k: _parse_csv_value(v) for k, v in raw.items()} if csv_values else raw
        entry = _entry_from_row(row, base, f"{path}:{line_no}", path_key)
        entry.raw = dict(raw)
        entries.append((line_no, entry))
    return columns, entries


def entries_from_paths(paths: Sequence[str | Path], recursive: bool = True) -> list[ManifestEntry]:
    """Entries for files and folders given on a command line (folders are searched for audio)."""
    entries: list[ManifestEntry] = []
    for item in paths:
        item = Path(item)
        if item.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in item.glob(pattern) if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            entries.extend(ManifestEntry(path=str(p)) for p in found)
        else:
            entries.append(ManifestEntry(path=str(item)))
    return entries


def load_entries(inputs: Sequence[str | Path]) -> list[ManifestEntry]:
    """Entries from a mix of manifests (.jsonl/.csv) and audio files or folders."""
    entries: list[ManifestEntry] = []
    for item in inputs:
        if Path(item).suffix.lower() in (".jsonl", ".csv") and Path(item).is_file():
            entries.extend(read_manifest(item))
        else:
            entries.extend(entries_from_paths([item]))
    return entries


def write_manifest(path: str | Path, rows: Iterable[dict[str, Any] | ManifestEntry]) -> Path:
    """Write rows atomically as JSONL or CSV (chosen by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dicts = [r.to_row() if isinstance(r, ManifestEntry) else dict(r) for r in rows]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            columns = _columns(dicts)
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in dicts:
                writer.writerow({k: _csv_value(row.get(k)) for k in columns})
        else:
            for row in dicts:
                handle.write(json.dumps(finite_or_null(row), default=_json_default, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def read_table(
    path: str | Path, kind: str = "manifest", required: Sequence[str] = ()
) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Columns and (line number, row) of a CSV or JSONL file: the one reader of every manifest.

    CSV values come back as the strings they are (a leading byte-order mark is
    dropped, quoted fields may span lines); JSONL values as their JSON types.
    Raises ManifestError naming the file (and line) for anything unreadable,
    and for a `required` column that no row (nor the CSV header) has.
    """
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: {kind} does not exist")
    if path.is_dir():
        raise ManifestError(f"{path}: {kind} is a directory, expected a .csv or .jsonl file")
    columns: dict[str, None] = {}
    if path.suffix.lower() == ".csv":  # the header's columns, in its order, even when there are no rows
        try:
            header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")), [])
        except (UnicodeDecodeError, csv.Error):
            header = []  # _read_rows reports it
        columns.update(dict.fromkeys(header))
    rows = []
    for line_no, row in _read_rows(path):
        columns.update(dict.fromkeys(row))
        rows.append((line_no, row))
    missing = [c for c in required if c not in columns]
    if missing:
        raise ManifestError(f"{path}: {kind} lacks column(s) {', '.join(missing)} "
                            f"(it has: {', '.join(columns) or 'no columns'})")
    return list(columns), rows


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ManifestError(f"{path}: not a UTF-8 text manifest ({err.reason})") from err
    if suffix == ".jsonl" or suffix == ".json":
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}:{line_no}: invalid JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{line_no}: each line must be a JSON object")
            yield line_no, row
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise ManifestError(f"{path}: CSV manifest has no header row")
        line_no = 1
        for row in reader:
            line_no += 1  # the record's first line (a quoted field may span several)
            if None in row:
                raise ManifestError(f"{path}:{line_no}: more fields than header columns")
            yield line_no, {k: "" if v is None else v for k, v in row.items()}
            line_no = reader.line_num
    else:
        raise ManifestError(f"{path}: unknown manifest format {suffix!r} (use .jsonl or .csv)")


def _entry_from_row(row: dict[str, Any], base: Path, where: str, path_key: str | None) -> ManifestEntry:
    keys = (path_key,) if path_key else PATH_KEYS
    key = next((k for k in keys if k in row and row[k] not in (None, "")), None)
    if key is None:
        raise ManifestError(f"{where}: row has no audio path (expected one of {', '.join(keys)})")
    audio_path = str(row[key])
    if not os.path.isabs(audio_path):
        audio_path = str(base / audio_path)
    start = _optional_float(row.get("start_time"), where, "start_time")
    end = _optional_float(row.get("end_time"), where, "end_time")
    if start is not None and end is not None and end <= start:
        raise ManifestError(f"{where}: end_time {end} is not after start_time {start}")
    metadata = {k: v for k, v in row.items() if k not in (key, "start_time", "end_time")}
    if key != "path":
        metadata.setdefault(key, row[key])
    return ManifestEntry(path=audio_path, start_time=start, end_time=end, metadata=metadata, folder=base)


def _optional_float(value: Any, where: str, name: str) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ManifestError(f"{where}: {name} {value!r} is not a number") from err
    if not math.isfinite(number) or number < 0:
        raise ManifestError(f"{where}: {name} {value!r} must be a finite, non-negative number")
    return number


def _parse_csv_value(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _csv_value(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_default)
    return "" if value is None else value


def finite_or_null(value: Any) -> Any:
    """NaN and infinities become None (JSON null): bare NaN is not valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    if hasattr(value, "tolist"):
        return finite_or_null(value.tolist())
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
