"""Every config in configs/ loads into its config class, and DeePAQ configs read the label `audioqual label` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from audioqual.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def _config_class(path: Path):
    if path.name.startswith("nr_"):
        from audioqual.train.nr_config import NRTrainConfig

        return NRTrainConfig
    if path.name == "default_fr_frontend.yaml":
        from audioqual.models.frontend import FrontendConfig

        return FrontendConfig
    from audioqual.deepaq.config import DeePAQTrainingConfig

    return DeePAQTrainingConfig


def test_every_config_is_covered():
    assert len(CONFIGS) >= 18


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads(path):
    config = load_config(_config_class(path), path, [])
    data = getattr(config, "data", None)
    label_field = getattr(data, "label_field", None) or getattr(config, "label_field", None)
    if label_field is not None:
        from audioqual.baselines.visqol import ViSQOLMetric

        assert label_field == ViSQOLMetric().info.name, f"{path.name} reads a label `audioqual label` does not write"


def test_fad_is_advertised_where_it_is_reachable(capsys):
    """FAD compares two sets: it is the `fad` command, not a pair metric (issue 19, item 18).

    The registry lists it as distributional (issue 16), pointing at that command. The end-to-end check of its
    value is tests/test_fad.py::test_fad_command_end_to_end_matches_the_closed_form.
    """
    from audioqual.cli.main import COMMANDS, _command_module
    from audioqual.metrics.base import MetricCategory
    from audioqual.metrics.registry import registered

    pair_list = COMMANDS["metric"].split(" over ")[0]
    fad = registered()["fad"]
    assert "FAD" not in pair_list and fad.category is MetricCategory.DISTRIBUTIONAL and fad.command == "audioqual fad"
    assert "fad" in COMMANDS and _command_module("fad") is not None
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "`audioqual fad " in readme


def test_readme_layout_matches_the_package_tree():
    """Every package of audioqual/ and every top-level module is named in the README's layout, and nothing else."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    listed = set(re.findall(r"audioqual/(\w+)", layout))
    packages = {p.parent.name for p in (root / "audioqual").glob("*/__init__.py")}
    assert listed == packages
    module_entry = re.search(r"^audioqual/\*\.py(.*(?:\n {6,}.*)*)", layout, re.M).group(1)  # with its continuation
    named = {name.strip() for name in re.sub(r"\([^)]*\)", "", module_entry).split(",")}
    assert named == {p.stem for p in (root / "audioqual").glob("*.py")} - {"__init__"}


# --- dry runs: every config builds what it describes and takes one optimisation step on tiny data ------------
# Hub backbones (MERT, wav2vec 2.0, XLS-R, WavLM, Meta's Audiobox-Aesthetics) and the stage-1 front end that
# default_fr.yaml reads are swapped for tiny random backbones of the same code path; everything else (head,
# adaptation, LoRA, domains, runs, crops, DeePAQ batch sizes) is the config's. One epoch / one step each.
PATH_PREFIX = "/your_path/"  # the release's placeholder prefix that the NR configs' path_rewrite maps


@pytest.fixture(scope="module")
def dry_data(tmp_path_factory, tiny_backbone_dir):
    """AES-style rating manifests (NR configs), a degrade + label manifest (DeePAQ configs), tiny backbones."""
    from audioqual.backbones.tiny import tiny_backbone
    from audioqual.deepaq.synthetic import make_surrogate_set
    from audioqual.nr.synthetic import make_spurious_dataset

    root = tmp_path_factory.mktemp("dry_run")
    train, valid = make_spurious_dataset(root / "aes", train_per_source=8, valid_per_source=4)
    placeholder = {}
    for name, manifest in (("train", train), ("valid", valid)):
        rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        for row in rows:
            row["path"] = PATH_PREFIX + row["path"]
        placeholder[name] = root / f"placeholder_{name}.jsonl"
        placeholder[name].write_text("".join(json.dumps(row) + "\n" for row in rows))
    surrogate = make_surrogate_set(root / "deepaq", sources=6, codecs=("mp3",), bitrates=(32,), rate=16000,
                                   seconds=4.0, degradations={"noise": (10,)})
    tiny_backbone("wavlm").save_pretrained(root / "tiny_wavlm")
    return {"root": root, "train": train, "valid": valid, "placeholder": placeholder, "audio": train.parent,
            "surrogate": surrogate, "hubert": tiny_backbone_dir, "wavlm": root / "tiny_wavlm"}


def _dry_run_nr(path: Path, data: dict, out: Path) -> None:
    from audioqual.train.nr_config import NRTrainConfig
    from audioqual.train.nr import train_nr

    config = load_config(NRTrainConfig, path, [])
    waveform_head = config.head.name == "aesthetics"
    rewrite = bool(config.data.path_rewrite)
    overrides = [
        f"data.train={data['placeholder']['train'] if rewrite else data['train']}",
        f"data.valid={data['placeholder']['valid'] if rewrite else data['valid']}",
        f"features.backbone={data['wavlm'] if waveform_head else data['hubert']}",
        f"features.cache_dir={data['root'] / 'cache'}",
        "features.device=cpu",
        "optim.device=cpu",
        "optim.epochs=1",
        f"output_dir={out}",
    ]
    if rewrite:  # the manifests name "/your_path/..." as the release does; the config's rewrite maps it
        overrides.append(f"data.path_rewrite={json.dumps({PATH_PREFIX: str(data['audio'])})}")
    if not waveform_head:
        overrides.append("features.layer=2")  # the tiny backbone has 2 layers (hidden states 0..2)
    else:  # bf16 autocast on CPU is slow, and a 10 s window over 1 s clips is 90 % padding: same code path
        overrides += ["head.options.precision='32'", "head.options.window_seconds=1.0", "head.options.hop_seconds=1.0"]
    config = load_config(NRTrainConfig, path, overrides)
    assert train_nr(config, progress=False).is_dir()
    run_dirs = [out / "runs" / run.name for run in config.runs] or [out]
    for run_dir in run_dirs:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert set(metrics["valid"]) == set(config.data.aspects), run_dir


def _dry_run_deepaq(path: Path, data: dict, out: Path) -> None:
    from audioqual.backbones.tiny import tiny_backbone
    from audioqual.deepaq.config import DeePAQTrainingConfig
    from audioqual.deepaq.training import train_deepaq

    overrides = [f"data.train_manifest={data['surrogate']}", f"train.output_dir={out}", "train.max_steps=1",
                 "train.device=cpu", "data.num_workers=0", f"train.feature_cache={data['root'] / 'deepaq_cache'}",
                 "data.val_fraction=0.34"]
    config = load_config(DeePAQTrainingConfig, path, overrides)
    backbone = None  # deepaq_tiny.yaml builds its own random backbone from backbone_overrides
    if config.model.backbone:
        arch = "wav2vec2" if "wav2vec2" in config.model.backbone else config.model.backbone_arch or "hubert"
        backbone = tiny_backbone(arch)
    result = train_deepaq(config, backbone=backbone, progress=False)
    assert result.steps == 1 and result.best_dir.is_dir()


def _dry_run_frontend(path: Path, data: dict, out: Path) -> None:
    from audioqual.models.frontend import FrontendConfig, train_frontend

    config = load_config(FrontendConfig, path, [f"train_manifest={data['surrogate']}", f"output_dir={out}",
                                                "steps=1", "num_workers=0", "batch_size=2"])
    assert train_frontend(config, progress=False).is_dir()


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_dry_runs_one_step_on_tiny_data_of_its_layout(path, dry_data, tmp_path):
    cls = _config_class(path).__name__
    run = {"NRTrainConfig": _dry_run_nr, "FrontendConfig": _dry_run_frontend}.get(cls, _dry_run_deepaq)
    run(path, dry_data, tmp_path / "out")


def test_nr_trains_on_a_pretrained_encoder_from_a_wheel(dry_data, tmp_path):
    """`features.backbone` takes a wheel encoder's name like a hub id: features extracted, head trained, saved."""
    from audioqual.train.nr_config import NRTrainConfig
    from audioqual.train.nr import train_nr

    overrides = [f"data.train={dry_data['train']}", f"data.valid={dry_data['valid']}",
                 "features.backbone=resemblyzer", "features.layer=3",  # its `linear` projection
                 f"features.cache_dir={dry_data['root'] / 'cache'}", "features.device=cpu", "optim.device=cpu",
                 "optim.epochs=1", f"output_dir={tmp_path / 'out'}"]  # fmt: skip
    baseline = next(path for path in CONFIGS if path.name == "nr_baseline.yaml")
    config = load_config(NRTrainConfig, baseline, overrides)
    assert train_nr(config, progress=False).is_dir()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics["valid"]) == set(config.data.aspects)
