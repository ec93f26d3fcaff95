"""Crash-safe batch jobs: every finished item is journalled before the next starts.

A job writes one JSON line per item to `<output>.partial.jsonl` (flushed and
fsynced), so a run killed at any moment loses at most the item in flight. A
re-run reads the journal, skips finished items, and `finalize` writes the
output file in input order, failed items included with their `error`.

Each record carries a `key`: a digest of the item's input contents and of
every option that changes its result (see `audioqual.data.hashing.result_key`).
A record is reused only when its key equals the key of this run's item; an
item whose key changed (another metric or model, edited audio, a new segment)
is computed again and counted as `stale`, so a stale value is never returned.
Records of items that are not part of this run are kept in the journal but
never reported or written.
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


def check_output(output: str | Path, *inputs: str | Path | None) -> Path:
    """Refuse, before any work, an output that is an input of the run or a directory."""
    output = Path(output)
    if output.is_dir():
        raise AudioqualError(f"{output}: -o/--output is a directory; give a file name (e.g. {output / 'out.csv'})")
    target = output.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == target:
            raise AudioqualError(f"{output}: -o/--output is the input manifest {item}; it would be overwritten. "
                                 "Write the results to another file")
    return output


class BatchJournal:
    """Append-only record of finished items of one batch job."""

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".partial.jsonl")
        self.damaged = 0
        self.records: dict[str, dict[str, Any]] = self._read()
        self.keys: dict[str, str] = {}
        self.reused = 0
        self.stale = 0
        self.computed = 0
        self.order: list[str] = []  # this run's item ids, set by finalize

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
                record = None
            if not _valid_record(record):
                # A damaged line (disk trouble, a hand edit): that item is simply done again.
                if line.strip():
                    self.damaged += 1
                continue
            records[str(record["id"])] = record
        if self.damaged:
            log.warning("%s: %d damaged line(s) ignored; those items are redone", self.path, self.damaged)
        return records

    def is_done(self, item_id: str) -> bool:
        """True when the item finished (successfully or not) in an earlier run with this run's key."""
        record = self.records.get(item_id)
        if record is None:
            return False
        key = self.keys.get(item_id)
        return key is None or record.get("key") == key

    def is_stale(self, item_id: str) -> bool:
        """True when the item was journalled, but for other inputs or options than this run's."""
        return item_id in self.records and not self.is_done(item_id)

    def record(self, item_id: str, row: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Journal one finished item durably."""
        self.record_many([(item_id, row, error)])

    def record_many(self, results: Sequence[tuple[str, dict[str, Any] | None, str | None]]) -> None:
        """Journal several finished items with one fsync (for high-throughput engines)."""
        records = [
            {"id": item_id, "key": self.keys.get(item_id), "row": row or {}, "error": error}
            for item_id, row, error in results
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r, default=_to_json) + "\n" for r in records))
            handle.flush()
            os.fsync(handle.fileno())
        for record in records:
            self.records[record["id"]] = record

    def finalize(self, order: Sequence[str], base_rows: dict[str, dict[str, Any]] | None = None) -> Path:
        """Write the output manifest in `order`; failed items carry an `error` column.

        Input columns pass through exactly as written: a result named like an input column
        (e.g. a predicted `PQ` for a manifest that holds a rated `PQ`) is written as `<name>_pred`.
        """
        self.order = list(order)
        rows = []
        renamed: set[str] = set()
        for item_id in order:
            record = self.records.get(item_id)
            if record is None or not self.is_done(item_id):  # never write a result of other inputs
                continue
            row = dict((base_rows or {}).get(item_id, {}))
            for key, value in (record.get("row") or {}).items():
                if key in row and key != "error":
                    renamed.add(key)
                    key = f"{key}_pred"
                row[key] = value
            rows.append((row, record.get("error") or ""))
        if renamed:
            log.warning("%s: the input already has column(s) %s; the results are written as %s", self.output,
                        ", ".join(sorted(renamed)), ", ".join(f"{k}_pred" for k in sorted(renamed)))  # fmt: skip
        columns = list(dict.fromkeys(key for row, _ in rows for key in row if key != "error"))
        write_manifest(self.output, [{**{c: row.get(c, "") for c in columns}, "error": error} for row, error in rows])
        return self.output

    def failures(self, order: Sequence[str] | None = None) -> dict[str, str]:
        """Item id -> error message of every failed item (of `order` only, when given)."""
        ids = self.records if order is None else [i for i in order if i in self.records]
        return {k: self.records[k]["error"] for k in ids if self.records[k].get("error")}

    def summary(self, order: Sequence[str]) -> dict[str, int]:
        """Counts over this run's items only: total, ok, failed, computed, reused, stale (recomputed)."""
        done = [i for i in order if i in self.records]
        failed = sum(1 for i in done if self.records[i].get("error"))
        return {"total": len(order), "ok": len(done) - failed, "failed": failed,
                "computed": self.computed, "reused": self.reused, "stale": self.stale}

    def summary_line(self, order: Sequence[str], noun: str = "rows") -> str:
        """One line for the user: what this run did, reused and recomputed."""
        s = self.summary(order)
        line = f"{s['total']} {noun}: {s['ok']} ok, {s['failed']} failed"
        extra = [f"{s['computed']} computed now", f"{s['reused']} reused from {self.path.name}"]
        if s["stale"]:
            extra.append(f"{s['stale']} recomputed because their inputs or options changed")
        return f"{line} ({', '.join(extra)})"


def run_batch(
    items: Sequence[tuple[str, Any]],
    process: Callable[[Any], dict[str, Any]],
    output: str | Path,
    base_rows: dict[str, dict[str, Any]] | None = None,
    description: str = "processing",
    retry_failed: bool = False,
    keys: dict[str, str] | None = None,
) -> BatchJournal:
    """Run `process` over (id, item) pairs with journalling; one bad item never stops the job.

    AudioqualError and other exceptions raised by `process` are recorded as that
    item's error. Items finished in an earlier run with the same key (see
    `keys`: item id -> digest of inputs and options) are skipped (failed ones
    too, unless retry_failed); items whose key changed are done again.
    """
    journal = BatchJournal(output)
    todo = pending_items(journal, items, retry_failed, keys)
    for item_id, item in tqdm(todo, desc=description, unit="item", disable=None):
        row, error = call_safely(process, item, item_id)
        journal.record(item_id, row=row, error=error)
    journal.finalize([item_id for item_id, _ in items], base_rows)
    return journal


def pending_items(
    journal: BatchJournal, items: Sequence[tuple[str, Any]], retry_failed: bool = False,
    keys: dict[str, str] | None = None,
) -> list:
    """The (id, item) pairs a resumed job still has to do; sets the journal's reused/stale/computed counts."""
    if keys:
        journal.keys.update(keys)
    todo = [
        (item_id, item)
        for item_id, item in items
        if not journal.is_done(item_id) or (retry_failed and journal.records[item_id].get("error"))
    ]
    journal.stale = sum(1 for item_id, _ in todo if journal.is_stale(item_id))
    journal.computed = len(todo)
    journal.reused = len(items) - len(todo)
    if journal.reused:
        log.info("%s: %d of %d items already done, resuming", journal.output, journal.reused, len(items))
    if journal.stale:
        log.warning("%s: %d journalled item(s) had other inputs or options; computing them again",
                    journal.output, journal.stale)
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


def _valid_record(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("id"), (str, int))
        and isinstance(record.get("row", {}), (dict, type(None)))
        and isinstance(record.get("error"), (str, type(None)))
        and isinstance(record.get("key"), (str, type(None)))
    )


def _to_json(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
