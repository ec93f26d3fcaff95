"""Quality heads known to the no-reference model, by name.

A head is described by a `HeadFactory`: its options dataclass, a builder, the
kind of input it consumes ("features": cached frozen-backbone features;
"waveform": audio, for heads that contain and fine-tune their own encoder) and,
optionally, how to open `features.backbone` when that is not a transformers
model (e.g. Meta's Audiobox-Aesthetics checkpoint).
Built-in heads are imported only when used. A name of the form
"package.module:ATTRIBUTE" points at a factory anywhere, so new heads plug in
without editing this file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from audioqual.errors import AudioqualError

if TYPE_CHECKING:
    from audioqual.backbones import Backbone

INPUT_KINDS = ("features", "waveform")
BUILTIN_HEADS = {
    "multigauss": "audioqual.heads.multigauss:FACTORY",
    "aesthetics": "audioqual.aesthetics:FACTORY",
}


@dataclass(frozen=True)
class InputInfo:
    """What a head needs to know about its input to be built."""

    num_aspects: int
    channels: int | None = None  # feature width D (features heads)
    frames: int | None = None  # fixed number of frames T (features heads)
    sample_rate: int | None = None  # waveform heads
    backbone: str | None = None  # backbone id or directory (waveform heads load it)
    aspects: tuple[str, ...] = ()  # the aspect names, in output order (len == num_aspects)

    def __post_init__(self) -> None:
        if self.aspects and len(self.aspects) != self.num_aspects:
            raise ValueError(f"{len(self.aspects)} aspect names for {self.num_aspects} aspects")


@dataclass(frozen=True)
class HeadFactory:
    """How to build one kind of head from its options."""

    config_cls: type
    build: Callable[[Any, InputInfo], nn.Module]
    input_kind: str
    load_backbone: Callable[[str], Backbone] | None = None  # None: Backbone.from_pretrained

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")

    def open_backbone(self, name_or_path: str) -> Backbone:
        """The backbone `name_or_path` (hub id, directory, or what this head's loader accepts)."""
        if self.load_backbone is not None:
            return self.load_backbone(name_or_path)
        from audioqual.backbones import Backbone

        return Backbone.from_pretrained(name_or_path)


def head_factory(name: str) -> HeadFactory:
    """The factory registered under `name` (or at "module:ATTRIBUTE")."""
    target = BUILTIN_HEADS.get(name, name)
    if ":" not in target:
        raise AudioqualError(f"unknown head {name!r}; known: {sorted(BUILTIN_HEADS)} or 'package.module:FACTORY'")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise AudioqualError(f"head {name!r} is not available in this version ({err})") from err
    factory = getattr(module, attribute, None)
    if not isinstance(factory, HeadFactory):
        raise AudioqualError(f"{target} is not a HeadFactory")
    return factory
