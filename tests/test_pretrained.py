"""One model-folder format: atomic saves, format versions written and checked, one loader over several kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audioqual.errors import ModelLoadError
from audioqual.pretrained import Pretrained, load_pretrained

PACKAGED = Path(__file__).resolve().parents[1] / "audioqual" / "models"


class Note(Pretrained):
    """A toy model: a text file and a config."""

    config_file = "note.json"
    model_type = "note"
    kind = "note"

    def __init__(self, text: str, fail: bool = False):
        self.text, self.fail = text, fail

    def _save_files(self, folder: Path) -> dict:
        (folder / "text.txt").write_text(self.text)
        if self.fail:
            raise RuntimeError("disk full")
        return {"model_type": "note"}

    @classmethod
    def _from_files(cls, directory: Path, config: dict) -> Note:
        return cls((directory / "text.txt").read_text())


def test_a_failed_save_leaves_the_earlier_model_whole_and_earlier_files_stay(tmp_path):
    folder = tmp_path / "model"
    Note("first").save_pretrained(folder)
    (folder / "notes.md").write_text("kept")
    with pytest.raises(RuntimeError, match="disk full"):
        Note("second", fail=True).save_pretrained(folder)
    assert Note.from_pretrained(folder).text == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left behind
    Note("third").save_pretrained(folder)
    assert Note.from_pretrained(folder).text == "third" and (folder / "notes.md").read_text() == "kept"
    assert json.loads((folder / "note.json").read_text())["format_version"] == 1


def test_versions_absent_reads_as_1_and_newer_is_refused(tmp_path):
    folder = Note("x").save_pretrained(tmp_path / "model")
    config = json.loads((folder / "note.json").read_text())
    (folder / "note.json").write_text(json.dumps({"model_type": "note"}))
    assert Note.from_pretrained(folder).text == "x"
    (folder / "note.json").write_text(json.dumps({**config, "format_version": 2}))
    with pytest.raises(ModelLoadError, match="format_version 2 is newer than this audioqual reads .*upgrade"):
        Note.from_pretrained(folder)


def test_load_pretrained_picks_the_class_that_wrote_the_folder(tmp_path):
    from audioqual.models.fusion import FusionModel

    fusion = FusionModel.from_pretrained(PACKAGED / "default_fr_v2")
    fusion.save_pretrained(tmp_path / "fusion")
    Note("n").save_pretrained(tmp_path / "note")
    assert isinstance(load_pretrained(tmp_path / "fusion", (Note, FusionModel)), FusionModel)
    assert load_pretrained(tmp_path / "note", (Note, FusionModel)).text == "n"
    with pytest.raises(ModelLoadError, match="not a NSIM-fusion model directory"):
        load_pretrained(tmp_path / "note", (FusionModel,))
    with pytest.raises(ModelLoadError, match="model directory does not exist"):
        load_pretrained(tmp_path / "absent", (Note,))


def _refuses_a_newer_format(folder: Path, config_file: str, load) -> None:
    path = folder / config_file
    path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": 99}))
    with pytest.raises(ModelLoadError, match="format_version 99 is newer"):
        load(folder)


def test_every_saved_model_kind_writes_and_checks_its_version(tmp_path):
    """No-reference model and router, DeePAQ with its backbone, the packaged folders without a version."""
    import shutil

    from audioqual.backbones import Backbone
    from audioqual.backbones.tiny import tiny_backbone
    from audioqual.deepaq.config import ModelConfig
    from audioqual.deepaq.model import DeePAQModel
    from audioqual.nr.model import NoReferenceModel
    from audioqual.nr.scoring import load_scorer
    from audioqual.nr.selection import AspectRouter

    packaged_nr = NoReferenceModel.from_pretrained(PACKAGED / "default_nr" / "torch")
    router = AspectRouter({"a": packaged_nr}, {aspect: "a" for aspect in packaged_nr.aspects})
    router.save_pretrained(tmp_path / "router")
    assert json.loads((tmp_path / "router" / "config.json").read_text())["format_version"] == 1
    legacy = json.loads((tmp_path / "router" / "config.json").read_text())
    del legacy["format_version"]  # routers were saved without a version before
    (tmp_path / "router" / "config.json").write_text(json.dumps(legacy))
    assert load_scorer(tmp_path / "router").aspects == packaged_nr.aspects
    _refuses_a_newer_format(tmp_path / "router", "config.json", load_scorer)
    shutil.copytree(PACKAGED / "default_nr" / "torch", tmp_path / "nr")
    _refuses_a_newer_format(tmp_path / "nr", "config.json", NoReferenceModel.from_pretrained)

    model = DeePAQModel.from_config(ModelConfig(backbone=None, backbone_arch="hubert", adaptation="lora"),
                                    backbone=tiny_backbone("hubert"))  # fmt: skip
    model.save_pretrained(tmp_path / "deepaq")
    metadata = json.loads((tmp_path / "deepaq" / "backbone" / "audioqual_backbone.json").read_text())
    assert metadata["format_version"] == 1 and metadata["arch"] == "hubert"
    assert DeePAQModel.from_pretrained(tmp_path / "deepaq").embedding_dim == model.embedding_dim
    _refuses_a_newer_format(tmp_path / "deepaq" / "backbone", "audioqual_backbone.json", Backbone.from_pretrained)
    _refuses_a_newer_format(tmp_path / "deepaq", "deepaq.json", DeePAQModel.from_pretrained)
    assert "format_version" not in json.loads((PACKAGED / "default_fr" / "backbone" / "audioqual_backbone.json")
                                              .read_text())  # fmt: skip
    assert DeePAQModel.from_pretrained(PACKAGED / "default_fr").backbone.info.arch == "hubert"
