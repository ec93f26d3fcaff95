"""How the backbone is adapted: frozen, LoRA (peft) on attention q/v, or full fine-tuning.

Seed 003 (sec. 2.3, 3.1): LoRA r=8, alpha=16, dropout 0.05 and weight decay
0.01 on q_proj/v_proj for the full-reference model; fine-tuning the transformer
layers (lr 5e-5) for the non-matching-reference model. "Full" trains
everything but the convolutional feature encoder (the usual wav2vec 2.0 /
HuBERT fine-tuning recipe).
"""

from __future__ import annotations

from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from audioqual.backbones import Backbone
from audioqual.deepaq.config import ADAPTATIONS, LoraSettings

ADAPTER_DIR = "adapter"


def is_lora(backbone: Backbone) -> bool:
    """True when the backbone's transformers model is wrapped by peft (pretrained encoders never are)."""
    return isinstance(getattr(backbone, "model", None), PeftModel)


def apply_adaptation(backbone: Backbone, mode: str, lora: LoraSettings | None = None) -> Backbone:
    """Set which backbone parameters train, wrapping the model with LoRA adapters for mode 'lora'."""
    if mode not in ADAPTATIONS:
        raise ValueError(f"adaptation must be one of {ADAPTATIONS}, got {mode!r}")
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    if not hasattr(backbone, "model"):  # a pretrained encoder from a wheel (audioqual.backbones.encoders)
        if mode == "lora":
            raise ValueError(f"LoRA adapts the attention projections of transformers backbones; {backbone.name} "
                             "has none: use adaptation 'full' or 'frozen'")
        for parameter in backbone.parameters():
            parameter.requires_grad_(mode == "full")
        return backbone
    if mode == "lora":
        lora = lora or LoraSettings()
        config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            bias="none",
        )
        backbone.model = get_peft_model(backbone.model, config)
    elif mode == "full":
        for name, parameter in backbone.model.named_parameters():
            if not name.startswith("feature_extractor."):
                parameter.requires_grad_(True)
    return backbone


def load_lora_adapter(backbone: Backbone, directory: str | Path) -> Backbone:
    """Wrap the backbone with LoRA adapters saved by `save_lora_adapter` (inference mode)."""
    backbone.model = PeftModel.from_pretrained(backbone.model, str(directory), is_trainable=False)
    return backbone


def save_lora_adapter(backbone: Backbone, directory: str | Path) -> Path:
    """Save only the LoRA weights and their peft config (adapter_config.json, adapter_model.safetensors)."""
    if not is_lora(backbone):
        raise ValueError("backbone has no LoRA adapters to save")
    backbone.model.save_pretrained(str(directory))
    return Path(directory)


def base_state_dict(backbone: Backbone) -> dict:
    """The backbone's own weights under their original names, LoRA layers left out."""
    if not is_lora(backbone):
        return backbone.model.state_dict()
    state = {}
    for key, tensor in backbone.model.get_base_model().state_dict().items():
        if "lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = tensor
    return state


def base_model(backbone: Backbone) -> nn.Module:
    """The transformers model under any peft wrapper."""
    return backbone.model.get_base_model() if is_lora(backbone) else backbone.model


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in module.parameters())
