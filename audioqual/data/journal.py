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
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # A crash mid-write left a partial last line: drop it (that item is redone), so the
            # next record does not get glued onto it and lost.
            data = data[: data.rfind(b"\n") + 1]
            with open(self.path, "r+b") as handle:
                handle.truncate(len(data))
        for line in data.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "id" in record:
                records[str(record["id"])] = record
        return records

    def is_done(self, item_id: str) -> bool:
        """True when the item finished (successfully or not) in an earlier run."""
        return item_id in self.records

    def record(self, item_id: str, row: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Journal one finished item durably."""
        self.record_many([(item_id, row, error)])

    def record_many(self, results: Sequence[tuple[str, dict[str, Any] | None, str | None]]) -> None:
        """Journal several finished items with one fsync (for high-throughput engines)."""
        records = [{"id": item_id, "row": row or {}, "error": error} for item_id, row, error in results]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r, default=_to_json) + "\n" for r in records))
            handle.flush()
            os.fsync(handle.fileno())
        for record in records:
            self.records[record["id"]] = record

    def finalize(self, order: Sequence[str], base_rows: dict[str, dict[str, Any]] | None = None) -> Path:
        """Write the output manifest in `order`; failed items carry an `error` column."""
        rows = []
        for item_id in order:
            record = self.records.get(item_id)
            if record is None:
                continue
            row = dict((base_rows or {}).get(item_id, {}))
            row.update(record.get("row") or {})
            rows.append((row, record.get("error") or ""))
        columns = list(dict.fromkeys(key for row, _ in rows for key in row if key != "error"))
        write_manifest(self.output, [{**{c: row.get(c, "") for c in columns}, "error": error} for row, error in rows])
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
    todo = pending_items(journal, items, retry_failed)
    for item_id, item in tqdm(todo, desc=description, unit="item", disable=None):
        row, error = call_safely(process, item, item_id)
        journal.record(item_id, row=row, error=error)
    journal.finalize([item_id for item_id, _ in items], base_rows)
    return journal


def pending_items(journal: BatchJournal, items: Sequence[tuple[str, Any]], retry_failed: bool = False) -> list:
    """The (id, item) pairs a resumed job still has to do."""
    todo = [
        (item_id, item)
        for item_id, item in items
        if not journal.is_done(item_id) or (retry_failed and journal.records[item_id].get("error"))
    ]
    if len(todo) < len(items):
        log.info("%s: %d of %d items already done, resuming", journal.output, len(items) - len(todo), len(items))
    return todo


def call_safely(process: Callable[[Any], dict[str, Any]], item: Any, item_id: str) -> tuple[dict | None, str | None]:
    """(row, None) on success, (None, message) on any failure of one item."""
    try:
        return process(item), None
    except AudioqualError as err:
        return None, str(err)
    except Exception as err:  # noqa: BLE001 - a batch job records every failure and goes on
        log.debug("item %s failed:\n%s", item_id, traceback.format_exc())
        return None, f"{type(err).__name__}: {err}"


def _to_json(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
