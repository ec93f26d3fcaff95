"""Crash-safe batch jobs: every finished item is journalled before the next starts.

A job writes one JSON line per item to `<output>.partial.jsonl` (flushed and
fsynced), so a run killed at any moment loses at most the item in flight. A
re-run reads the journal, skips finished items, and `finalize` writes the
output file in input order, failed items included with their `error`.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from audioqual.data.manifest import write_manifest
from audioqual.errors import AudioqualError

log = logging.getLogger(__name__)


class BatchJournal:
    """Append-only record of finished items of one batch job."""

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".partial.jsonl")
        self.records: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return records
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: that item is redone
                if isinstance(record, dict) and "id" in record:
                    records[str(record["id"])] = record
        return records

    def is_done(self, item_id: str) -> bool:
        """True when the item finished (successfully or not) in an earlier run."""
        return item_id in self.records

    def record(self, item_id: str, row: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Journal one finished item durably."""
        record = {"id": item_id, "row": row or {}, "error": error}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=_to_json) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.records[item_id] = record

    def finalize(self, order: Sequence[str], base_rows: dict[str, dict[str, Any]] | None = None) -> Path:
        """Write the output manifest in `order`; failed items carry an `error` column."""
        rows = []
        for item_id in order:
            record = self.records.get(item_id)
            if record is None:
                continue
            row = dict((base_rows or {}).get(item_id, {}))
            row.update(record.get("row") or {})
            row["error"] = record.get("error") or ""
            rows.append(row)
        write_manifest(self.output, rows)
        return self.output

    def failures(self) -> dict[str, str]:
        """Item id -> error message of every failed item."""
        return {k: r["error"] for k, r in self.records.items() if r.get("error")}


def run_batch(
    items: Sequence[tuple[str, Any]],
    process: Callable[[Any], dict[str, Any]],
    output: str | Path,
    base_rows: dict[str, dict[str, Any]] | None = None,
    description: str = "processing",
    retry_failed: bool = False,
) -> BatchJournal:
    """Run `process` over (id, item) pairs with journalling; one bad item never stops the job.

    AudioqualError and other exceptions raised by `process` are recorded as that
    item's error. Items finished in an earlier run are skipped (failed ones too,
    unless retry_failed).
    """
    journal = BatchJournal(output)
    todo = [
        (item_id, item)
        for item_id, item in items
        if not journal.is_done(item_id) or (retry_failed and journal.records[item_id].get("error"))
    ]
    if len(todo) < len(items):
        log.info("%s: %d of %d items already done, resuming", output, len(items) - len(todo), len(items))
    for item_id, item in tqdm(todo, desc=description, unit="item", disable=None):
        try:
            row = process(item)
        except AudioqualError as err:
            journal.record(item_id, error=str(err))
        except Exception as err:  # noqa: BLE001 - a batch job records every failure and goes on
            log.debug("item %s failed:\n%s", item_id, traceback.format_exc())
            journal.record(item_id, error=f"{type(err).__name__}: {err}")
        else:
            journal.record(item_id, row=row)
    journal.finalize([item_id for item_id, _ in items], base_rows)
    return journal


def _to_json(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
