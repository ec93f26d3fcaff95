"""Meta's released Audiobox-Aesthetics model as a no-reference model directory.

`audioqual score --model DIRECTORY` then scores with Meta's weights through
the project's scoring path, and `train nr` runs can be compared with it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from audioqual.heads.aesthetics.head import HEAD_NAME, PROJECT_DEFAULT_ASPECTS, AestheticsOptions, build_head
from audioqual.nr.model import InputSpec, NoReferenceModel


def import_official(
    source: str,
    directory: str | Path,
    aspects: list[str] | None = None,
    options: AestheticsOptions | None = None,
) -> Path:
    """Save Meta's released model (file, directory or hub id) as a no-reference model directory."""
    names = list(aspects or PROJECT_DEFAULT_ASPECTS)
    options = options or AestheticsOptions()
    options.aspects = names
    spec = InputSpec(
        kind="waveform", backbone=str(source), backbone_name=str(source), sample_rate=16000, crop_seconds=None
    )
    head = build_head(options, spec.input_info(names))
    model = NoReferenceModel(
        head,
        head_name=HEAD_NAME,
        head_options=asdict(options),
        aspects=names,
        input_spec=spec,
        metadata={"imported_from": str(source)},
    )
    return model.save_pretrained(directory)
