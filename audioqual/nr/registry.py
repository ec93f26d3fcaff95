"""Quality heads known to the no-reference model, by name.

A head is described by a `HeadFactory`: its options dataclass, a builder, and
the kind of input it consumes ("features": cached frozen-backbone features;
"waveform": audio, for heads that contain and fine-tune their own encoder).
Built-in heads are imported only when used. A name of the form
"package.module:ATTRIBUTE" points at a factory anywhere, so new heads plug in
without editing this file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from audioqual.errors import AudioqualError

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


@dataclass(frozen=True)
class HeadFactory:
    """How to build one kind of head from its options."""

    config_cls: type
    build: Callable[[Any, InputInfo], nn.Module]
    input_kind: str

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")


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
