"""One interface over the SSL encoders of transformers: wav2vec 2.0 / XLS-R, HuBERT, WavLM, MERT.

MERT-v1 is a HuBERT-base network: its weights load into the stock
`HubertModel` without remote code (see docs/backbones.md). A Backbone gives
every hidden state (embedding output + each transformer layer) at frame
level, a time-mean pooled vector per layer, and encodes long audio in chunks
so that memory stays bounded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import (
    HubertConfig,
    HubertModel,
    PretrainedConfig,
    PreTrainedModel,
    Wav2Vec2Config,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)

from audioqual.backbones.base import METADATA_FILE, NORMALIZE_EPS, BackboneInfo, BackboneOutput, LayeredEncoder
from audioqual.errors import ModelLoadError
from audioqual.pretrained import resolve_model_dir

ARCHITECTURES: dict[str, tuple[type[PretrainedConfig], type[PreTrainedModel]]] = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model),
    "hubert": (HubertConfig, HubertModel),
    "wavlm": (WavLMConfig, WavLMModel),
    "mert": (HubertConfig, HubertModel),
}
DEFAULT_SAMPLE_RATE = {"wav2vec2": 16000, "hubert": 16000, "wavlm": 16000, "mert": 24000}
PREPROCESSOR_FILE = "preprocessor_config.json"


class Backbone(LayeredEncoder):
    """A frozen-or-trainable SSL encoder of transformers with per-layer outputs."""

    def __init__(self, model: PreTrainedModel, info: BackboneInfo):
        super().__init__()
        if info.arch not in ARCHITECTURES:
            raise ValueError(f"unknown backbone architecture {info.arch!r}; known: {sorted(ARCHITECTURES)}")
        self.model = model
        self.info = info
        self._fingerprint: str | None = None

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_hidden_states(self) -> int:
        """Number of hidden states returned: embedding output + one per transformer layer."""
        return int(self.model.config.num_hidden_layers) + 1

    @property
    def frames_per_second(self) -> float:
        stride = 1
        for value in self.model.config.conv_stride:
            stride *= value
        return self.sample_rate / stride

    @property
    def uses_attention_mask(self) -> bool:
        """Group-norm feature extractors must see zero padding, not an attention mask (HF convention)."""
        return self.model.config.feat_extract_norm == "layer"

    def normalize(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Per-clip zero-mean unit-variance over valid samples, when the backbone expects it."""
        if not self.info.normalize_input:
            return waveforms
        mask = _sample_mask(waveforms, lengths)
        count = mask.sum(dim=1, keepdim=True).clamp_min(1)
        mean = (waveforms * mask).sum(dim=1, keepdim=True) / count
        var = (((waveforms - mean) * mask) ** 2).sum(dim=1, keepdim=True) / count
        return ((waveforms - mean) / torch.sqrt(var + NORMALIZE_EPS)) * mask

    def encode(self, normalized: torch.Tensor, lengths: torch.Tensor | None = None) -> BackboneOutput:
        """Encode already-normalised waveforms."""
        if normalized.dim() != 2:
            raise ValueError(f"expected waveforms of shape [batch, samples], got {tuple(normalized.shape)}")
        attention_mask = None
        if lengths is not None and self.uses_attention_mask:
            attention_mask = _sample_mask(normalized, lengths).long()
        out = self.model(normalized, attention_mask=attention_mask, output_hidden_states=True)
        hidden = torch.stack(out.hidden_states, dim=0)
        frames = hidden.shape[2]
        if lengths is None:
            frame_mask = torch.ones(hidden.shape[1], frames, dtype=torch.bool, device=hidden.device)
        else:
            frame_lengths = self.model._get_feat_extract_output_lengths(lengths.to(hidden.device)).clamp(max=frames)
            frame_mask = torch.arange(frames, device=hidden.device)[None, :] < frame_lengths[:, None]
        return BackboneOutput(hidden_states=hidden, frame_mask=frame_mask)

    def minimum_samples(self) -> int:
        """Shortest input (in samples) that yields at least one frame."""
        kernels = self.model.config.conv_kernel
        strides = self.model.config.conv_stride
        needed = 1
        for kernel, stride in zip(reversed(kernels), reversed(strides)):
            needed = (needed - 1) * stride + kernel
        return needed

    def fingerprint(self) -> str:
        """Hash of architecture, preprocessing and weights: identifies cached features."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            info = {k: v for k, v in asdict(self.info).items() if k != "name"}
            config = {
                k: v
                for k, v in self.model.config.to_dict().items()
                if not k.startswith(("_", "mask_", "transformers_version", "layerdrop", "architectures", "dtype"))
            }
            digest.update(json.dumps([info, config], sort_keys=True, default=str).encode())
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def _save_files(self, folder: Path, state_dict: dict[str, torch.Tensor] | None = None) -> dict:
        """Weights and transformers config (`state_dict` instead of the model's own, when given); the metadata."""
        with _quiet_transformers():
            self.model.save_pretrained(folder, state_dict=state_dict)
        preprocessor = {"sampling_rate": self.sample_rate, "do_normalize": self.info.normalize_input}
        (folder / PREPROCESSOR_FILE).write_text(json.dumps(preprocessor, indent=2) + "\n")
        return asdict(self.info)

    @classmethod
    def from_config(
        cls,
        arch: str,
        sample_rate: int | None = None,
        normalize_input: bool | None = None,
        name: str | None = None,
        **config_overrides,
    ) -> Backbone:
        """A randomly initialised backbone of an architecture, e.g. for tests or training from scratch."""
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown backbone architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
        config_cls, model_cls = ARCHITECTURES[arch]
        config = config_cls(**config_overrides)
        model = model_cls(config)
        info = BackboneInfo(
            arch=arch,
            sample_rate=sample_rate or DEFAULT_SAMPLE_RATE[arch],
            normalize_input=_default_normalize(arch, config) if normalize_input is None else normalize_input,
            name=name or f"random-{arch}",
        )
        return cls(model.eval(), info)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        arch: str | None = None,
        sample_rate: int | None = None,
        normalize_input: bool | None = None,
        keep_training_augmentation: bool = False,
        revision: str | None = None,
    ) -> LayeredEncoder:
        """Load from a local directory or a hub id (hub needs network access).

        Training-time masking and LayerDrop are switched off unless
        keep_training_augmentation, as fine-tuning recipes expect. A pretrained
        encoder's name ('musicnn', 'resemblyzer:...'; see
        `audioqual.backbones.encoders`) or a folder one was saved to loads that
        encoder instead.
        """
        from audioqual.backbones.encoders import PretrainedEncoder, is_encoder_name, load_encoder

        if is_encoder_name(name_or_path):
            return load_encoder(str(name_or_path))
        local = Path(name_or_path).expanduser()
        if (local / METADATA_FILE).is_file() and "encoder" in cls.read_config(local):
            return PretrainedEncoder.from_pretrained(local)
        directory = resolve_model_dir(name_or_path, revision, marker="config.json")
        raw_config = _read_json(directory / "config.json")
        metadata = cls.read_config(directory) if (directory / METADATA_FILE).exists() else {}
        preprocessor = _read_json(directory / PREPROCESSOR_FILE) if (directory / PREPROCESSOR_FILE).exists() else {}
        arch = arch or metadata.get("arch") or detect_arch(raw_config, directory)
        config_cls, model_cls = ARCHITECTURES[arch]
        config_values = {k: v for k, v in raw_config.items() if k not in ("auto_map", "architectures", "model_type")}
        config = config_cls(**config_values)
        if not keep_training_augmentation:
            config.mask_time_prob = 0.0
            config.mask_feature_prob = 0.0
            config.layerdrop = 0.0
        try:
            with _quiet_transformers():
                model = model_cls.from_pretrained(directory, config=config)
        except (OSError, ValueError, RuntimeError) as err:
            raise ModelLoadError(f"{directory}: cannot load {arch} weights ({err})") from err
        info = BackboneInfo(
            arch=arch,
            sample_rate=sample_rate
            or metadata.get("sample_rate")
            or preprocessor.get("sampling_rate")
            or DEFAULT_SAMPLE_RATE[arch],
            normalize_input=_first_not_none(
                normalize_input,
                metadata.get("normalize_input"),
                preprocessor.get("do_normalize"),
                _default_normalize(arch, config),
            ),
            name=metadata.get("name") or str(name_or_path),
        )
        return cls(model.eval(), info)


def detect_arch(raw_config: dict, where: str | Path = "config.json") -> str:
    """Architecture from a transformers config.json (MERT is recognised by its class names)."""
    names = " ".join([str(raw_config.get("model_type", ""))] + [str(a) for a in raw_config.get("architectures") or []])
    lowered = names.lower()
    if "mert" in lowered:
        return "mert"
    for arch in ("wavlm", "hubert", "wav2vec2"):
        if arch in lowered:
            return arch
    raise ModelLoadError(f"{where}: model type {names.strip()!r} is not a supported backbone ({sorted(ARCHITECTURES)})")


def _default_normalize(arch: str, config: PretrainedConfig) -> bool:
    if arch == "mert":
        return True
    return getattr(config, "feat_extract_norm", "group") == "layer"


def _sample_mask(waveforms: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return torch.ones_like(waveforms)
    positions = torch.arange(waveforms.shape[1], device=waveforms.device)[None, :]
    return (positions < lengths.to(waveforms.device)[:, None]).to(waveforms.dtype)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{path}: cannot read ({err})") from err


def _first_not_none(*values):
    return next(v for v in values if v is not None)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No per-tensor "Loading weights" / "Writing model shards" bars for local files (they flood batch output)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
