"""The contract of a pretrained encoder from a package wheel, its registry and its save/load.

An encoder's layers may differ in width and frame rate (a CNN pools in time, an
LSTM does not). To stand behind the same interface as the SSL backbones, each
layer's frames are repeated (nearest neighbour) to the finest layer's frame
count and zero-padded to the widest layer (`hidden_size`); the exact per-layer
time means are kept separately (`BackboneOutput.layer_means`), and
`layer_dims` says how many leading values of each layer are real. Zero padding
changes neither a Euclidean nor a cosine distance between two clips' states.

Clips of a batch with different `lengths` are encoded one by one at their own
length (no padding ever enters these networks, whose convolutions and
recurrences would otherwise see it).
"""

from __future__ import annotations

import abc
import hashlib
import importlib
import importlib.util
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from audioqual.backbones.base import BackboneInfo, BackboneOutput, LayeredEncoder
from audioqual.errors import ModelLoadError

WEIGHTS_FILE = "model.safetensors"

# name -> "module:Class"; the module is imported only when the encoder is asked for.
ENCODERS: dict[str, str] = {
    "musicnn": "audioqual.backbones.encoders.musicnn:MusicnnEncoder",
    "resemblyzer": "audioqual.backbones.encoders.resemblyzer:ResemblyzerEncoder",
    "distillmos": "audioqual.backbones.encoders.distillmos:DistillMOSEncoder",
    "torchcrepe": "audioqual.backbones.encoders.crepe:CrepeEncoder",
    "basic-pitch": "audioqual.backbones.encoders.basic_pitch:BasicPitchEncoder",
    "cdpam": "audioqual.backbones.encoders.cdpam:CDPAMEncoderBackbone",
    "dnsmos": "audioqual.backbones.encoders.dnsmos:DNSMOSEncoder",
}


@dataclass(frozen=True)
class EncoderLayer:
    """One exposed layer: its name in the original network and its width."""

    name: str
    dim: int


def is_encoder_name(name: str | Path) -> bool:
    """True for a registered encoder name ('musicnn', 'musicnn:MSD_vgg') that is not also a local path."""
    text = str(name)
    return text.split(":", 1)[0] in ENCODERS and not Path(text).expanduser().exists()


def load_encoder(name: str) -> PretrainedEncoder:
    """The encoder 'NAME' or 'NAME:VARIANT' with the weights of its installed package."""
    base, _, variant = str(name).partition(":")
    if base not in ENCODERS:
        raise ModelLoadError(f"{name!r} is not a pretrained encoder; known: {sorted(ENCODERS)}")
    module_name, class_name = ENCODERS[base].split(":")
    encoder_cls: type[PretrainedEncoder] = getattr(importlib.import_module(module_name), class_name)
    variant = variant or encoder_cls.default_variant
    if variant not in encoder_cls.variants:
        raise ModelLoadError(f"{base}: unknown variant {variant!r}; choose from {list(encoder_cls.variants)}")
    return encoder_cls.from_package(variant)


class PretrainedEncoder(LayeredEncoder):
    """A network from a package's bundled weights behind the backbone interface.

    Subclasses set `encoder_name`, `distribution` and (with more than one variant) `variants`
    and `default_variant`, implement `from_package(variant)`, `layer_states` and
    `minimum_samples`, and override `normalize` when the original scales its input.
    """

    encoder_name: str = ""
    distribution: str = ""  # the pip distribution that carries the weights
    variants: tuple[str, ...] = ("default",)
    default_variant: str = "default"

    def __init__(self, variant: str, sample_rate: int, layers: Sequence[EncoderLayer], frames_per_second: float):
        super().__init__()
        if not layers:
            raise ValueError("an encoder exposes at least one layer")
        self.variant = variant
        self.layers = tuple(layers)
        self._frames_per_second = float(frames_per_second)
        self.info = BackboneInfo(
            arch=self.encoder_name, sample_rate=sample_rate, normalize_input=False, name=self.full_name
        )
        self._fingerprint: str | None = None

    @classmethod
    @abc.abstractmethod
    def from_package(cls, variant: str) -> PretrainedEncoder:
        """The encoder with the weights read from its installed package."""

    @abc.abstractmethod
    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        """Each exposed layer's states [B, F_l, D_l] for equal-length normalised waveforms [B, T]."""

    @property
    def full_name(self) -> str:
        return self.encoder_name if self.variant == self.default_variant else f"{self.encoder_name}:{self.variant}"

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def layer_dims(self) -> tuple[int, ...]:
        return tuple(layer.dim for layer in self.layers)

    @property
    def hidden_size(self) -> int:
        return max(self.layer_dims)

    @property
    def num_hidden_states(self) -> int:
        return len(self.layers)

    @property
    def frames_per_second(self) -> float:
        """Frame rate of the finest layer, which every layer is brought to."""
        return self._frames_per_second

    def normalize(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return waveforms

    def encode(self, normalized: torch.Tensor, lengths: torch.Tensor | None = None) -> BackboneOutput:
        if normalized.dim() != 2:
            raise ValueError(f"expected waveforms of shape [batch, samples], got {tuple(normalized.shape)}")
        total = normalized.shape[1]
        if lengths is None or bool((lengths >= total).all()):
            return self._encode_equal(normalized)
        outputs = [self._encode_equal(normalized[i : i + 1, : int(n)]) for i, n in enumerate(lengths.tolist())]
        frames = max(out.hidden_states.shape[2] for out in outputs)
        padded = [F.pad(out.hidden_states, (0, 0, 0, frames - out.hidden_states.shape[2])) for out in outputs]
        hidden = torch.cat(padded, dim=1)
        mask = torch.zeros(len(outputs), frames, dtype=torch.bool, device=hidden.device)
        for index, out in enumerate(outputs):
            mask[index, : out.hidden_states.shape[2]] = True
        means = torch.cat([out.layer_means for out in outputs], dim=1)
        return BackboneOutput(hidden_states=hidden, frame_mask=mask, layer_means=means)

    def _encode_equal(self, waveforms: torch.Tensor) -> BackboneOutput:
        if waveforms.shape[1] < self.minimum_samples():
            raise ValueError(
                f"{self.full_name} needs at least {self.minimum_samples()} samples "
                f"({self.minimum_samples() / self.sample_rate * 1000:.0f} ms), got {waveforms.shape[1]}"
            )
        states = self.layer_states(waveforms)
        if len(states) != len(self.layers):
            raise RuntimeError(f"{self.full_name}: {len(states)} layer outputs for {len(self.layers)} layers")
        width = self.hidden_size
        frames = max(state.shape[1] for state in states)
        hidden, means = [], []
        for layer, state in zip(self.layers, states):
            if state.shape[2] != layer.dim:
                raise RuntimeError(f"{self.full_name}: layer {layer.name} has width {state.shape[2]}, not {layer.dim}")
            means.append(F.pad(state.mean(dim=1), (0, width - layer.dim)))
            if state.shape[1] != frames:
                state = F.interpolate(state.transpose(1, 2), size=frames, mode="nearest").transpose(1, 2)
            hidden.append(F.pad(state, (0, width - layer.dim)))
        stacked = torch.stack(hidden, dim=0)
        mask = torch.ones(stacked.shape[1], frames, dtype=torch.bool, device=stacked.device)
        return BackboneOutput(hidden_states=stacked, frame_mask=mask, layer_means=torch.stack(means, dim=0))

    def fingerprint_parts(self) -> Iterator[bytes]:
        """What identifies the weights: every tensor of the state dict (ONNX encoders hash their file instead)."""
        for key, tensor in sorted(self.state_dict().items()):
            yield key.encode()
            yield tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha256()
            layers = [(layer.name, layer.dim) for layer in self.layers]
            header = [self.encoder_name, self.variant, self.sample_rate, layers]
            digest.update(json.dumps(header).encode())
            for part in self.fingerprint_parts():
                digest.update(part)
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def _save_files(self, folder: Path) -> dict:
        """Current weights (fine-tuning included); the config names the encoder, reloadable by `Backbone.from_pretrained`."""
        from safetensors.torch import save_file

        state = {key: tensor.detach().cpu().contiguous() for key, tensor in self.state_dict().items()}
        if state:
            save_file(state, str(folder / WEIGHTS_FILE))
        return {"encoder": self.encoder_name, "variant": self.variant, "arch": self.encoder_name,
                "sample_rate": self.sample_rate, "name": self.full_name}  # fmt: skip

    @classmethod
    def _from_files(cls, directory: Path, config: dict) -> PretrainedEncoder:
        """The package's network of the saved name and variant, with the saved weights."""
        from safetensors.torch import load_file

        encoder = load_encoder(f"{config['encoder']}:{config['variant']}")
        if (directory / WEIGHTS_FILE).exists():
            try:
                encoder.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
            except RuntimeError as err:
                raise ModelLoadError(f"{directory / WEIGHTS_FILE}: does not fit {encoder.full_name} ({err})") from err
        return encoder.eval()
