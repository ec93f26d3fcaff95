"""Audio input and output."""

from audioqual.io.audio import (
    AudioLoadOptions,
    ChannelPolicy,
    Normalization,
    audio_info,
    decode_audio,
    load_audio,
    prepare_samples,
    resample,
)
from audioqual.io.write import save_audio

__all__ = [
    "AudioLoadOptions",
    "ChannelPolicy",
    "Normalization",
    "audio_info",
    "decode_audio",
    "load_audio",
    "prepare_samples",
    "resample",
    "save_audio",
]
