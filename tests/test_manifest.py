"""Manifests in and out, the batch journal, and dataclass configs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from audioqual.config import ConfigError, load_config
from audioqual.data.journal import BatchJournal, run_batch
from audioqual.data.manifest import ManifestEntry, load_entries, read_manifest, write_manifest
from audioqual.errors import AudioInputError, ManifestError


def test_jsonl_manifest_resolves_relative_paths_and_keeps_metadata(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"path": "a.wav", "start_time": 1.0, "end_time": 2.5, "source": "ears", "PQ": 7.5}) + "\n\n"
        + json.dumps({"path": "/abs/b.wav"}) + "\n"
    )
    entries = read_manifest(manifest)
    assert entries[0].path == str(tmp_path / "a.wav")
    assert (entries[0].start_time, entries[0].end_time) == (1.0, 2.5)
    assert entries[0].metadata == {"source": "ears", "PQ": 7.5}
    assert entries[1].path == "/abs/b.wav" and entries[1].start_time is None
    assert entries[0].item_id != entries[1].item_id


def test_path_columns_resolve_against_the_manifest_folder_from_any_working_directory(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "m.jsonl").write_text(
        json.dumps({"path": "deg.wav", "reference": "refs/ref.wav", "other": "/abs/o.wav", "empty": ""}) + "\n"
    )
    monkeypatch.chdir(tmp_path)
    (entry,) = read_manifest("data/m.jsonl")
    assert entry.path == str(tmp_path / "data" / "deg.wav")
    assert entry.resolve_path("reference") == str(tmp_path / "data" / "refs" / "ref.wav")
    assert entry.resolve_path("other") == "/abs/o.wav"
    assert entry.resolve_path("empty") is None and entry.resolve_path("missing") is None
    assert ManifestEntry("x.wav", metadata={"reference": "r.wav"}).resolve_path("reference") == "r.wav"  # no folder


def test_csv_roundtrip(tmp_path):
    rows = [{"test": "t1.wav", "reference": "r1.wav", "mean": 4.5}, {"test": "t2.wav", "reference": "r2.wav", "mean": 2}]
    path = write_manifest(tmp_path / "pairs.csv", rows)
    entries = read_manifest(path)
    assert [e.metadata["mean"] for e in entries] == [4.5, 2]
    assert entries[0].path == str(tmp_path / "t1.wav")
    assert entries[0].metadata["reference"] == "r1.wav"


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"path": "a.wav"}\n{broken\n', r"m.jsonl:2: invalid JSON"),
        ('[1, 2]\n', "must be a JSON object"),
        ('{"other": 1}\n', "no audio path"),
        ('{"path": "a.wav", "start_time": "x"}\n', "not a number"),
        ('{"path": "a.wav", "start_time": 3, "end_time": 1}\n', "not after"),
    ],
)
def test_bad_manifests_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "m.jsonl"
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_unknown_manifest_format(tmp_path):
    path = tmp_path / "m.xml"
    path.write_text("<x/>")
    with pytest.raises(ManifestError, match="unknown manifest format"):
        read_manifest(path)


def test_load_entries_mixes_folders_files_and_manifests(tmp_path, wav_folder):
    manifest = write_manifest(tmp_path / "m.jsonl", [ManifestEntry(path=str(wav_folder / "clip0.wav"))])
    entries = load_entries([str(wav_folder), str(manifest), str(wav_folder / "clip1.wav")])
    assert len(entries) == 7


def test_run_batch_records_failures_and_resumes(tmp_path):
    calls = []

    def process(value):
        calls.append(value)
        if value == 3:
            raise AudioInputError("three.wav", "is broken")
        if value == 4:
            raise ValueError("unexpected")
        return {"double": value * 2}

    items = [(f"id{v}", v) for v in range(6)]
    output = tmp_path / "out.csv"
    journal = run_batch(items, process, output)
    assert journal.failures() == {"id3": "three.wav: is broken", "id4": "ValueError: unexpected"}
    text = output.read_text().splitlines()
    assert text[0] == "double,error" and len(text) == 7
    assert text[3] == "4," and text[4] == ",three.wav: is broken"
    calls.clear()
    run_batch(items, process, output)
    assert calls == []  # everything was journalled
    run_batch(items, process, output, retry_failed=True)
    assert calls == [3, 4]


def test_journal_ignores_a_line_cut_by_a_crash(tmp_path):
    journal = BatchJournal(tmp_path / "out.jsonl")
    journal.record("a", {"x": 1})
    with open(journal.path, "a") as handle:
        handle.write('{"id": "b", "row": {"x"')  # killed mid-write
    reloaded = BatchJournal(tmp_path / "out.jsonl")
    assert reloaded.is_done("a") and not reloaded.is_done("b")
    reloaded.record("b", {"x": 2})
    assert BatchJournal(tmp_path / "out.jsonl").records["b"]["row"] == {"x": 2}  # not glued to the cut line


@dataclass
class Inner:
    rate: float = 1e-4
    layers: list[int] = field(default_factory=lambda: [1, 2])


@dataclass
class Outer:
    name: str = "x"
    epochs: int = 30
    inner: Inner = field(default_factory=Inner)
    strategy: str | None = None


def test_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: run1\ninner:\n  rate: 1e-2\n")
    config = load_config(Outer, path, ["epochs=5", "inner.layers=[3, 4]", "strategy=kmeans:8"])
    assert config == Outer(name="run1", epochs=5, inner=Inner(rate=0.01, layers=[3, 4]), strategy="kmeans:8")


@pytest.mark.parametrize("override, message", [("bogus=1", "unknown key"), ("epochs=many", "expected int"), ("x", "key=value")])
def test_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, None, [override])
