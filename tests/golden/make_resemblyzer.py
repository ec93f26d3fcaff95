"""Golden outputs of the original Resemblyzer 0.1.4 for tests/test_encoder_resemblyzer.py.

Environment it was run in (a venv apart from the project's, because the
package's audio module needs librosa and webrtcvad):
    python3 -m venv /work/goldvenv
    /work/goldvenv/bin/pip install torch==2.13.0 librosa==0.11.0 webrtcvad-wheels numpy scipy
    /work/goldvenv/bin/pip install --no-deps Resemblyzer==0.1.4
    /work/goldvenv/bin/python tests/golden/make_resemblyzer.py

Everything comes from the package's own functions: `audio.normalize_volume`
(the volume step of preprocess_wav; its VAD trimming is not used, as in the
port), `audio.wav_to_mel_spectrogram` (librosa) and `VoiceEncoder`
(`embed_utterance`, and its `lstm` / `linear` modules on the whole clip's mel).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from signals import voice_like

FRAMES = np.arange(0, 301, 25)  # frames kept from the frame-level layers (clip has 301)


def main() -> None:
    import librosa
    import resemblyzer
    from resemblyzer import VoiceEncoder, audio

    torch.set_num_threads(1)
    encoder = VoiceEncoder("cpu", verbose=False)
    wav = voice_like()
    wav = audio.normalize_volume(wav, audio.audio_norm_target_dBFS, increase_only=True)
    mel = audio.wav_to_mel_spectrogram(wav)
    with torch.no_grad():
        out, (hidden, _) = encoder.lstm(torch.from_numpy(mel)[None])
        projected = encoder.relu(encoder.linear(out))[0]
    utterance, partials, _ = encoder.embed_utterance(wav, return_partials=True)
    quiet = audio.normalize_volume(0.01 * voice_like(), audio.audio_norm_target_dBFS, increase_only=True)
    golden = {
        "mel_frames": mel[FRAMES],
        "mel_mean": mel.mean(axis=0),
        "frames": FRAMES,
        "lstm_last_frame": hidden[:, 0].numpy(),  # each LSTM layer's state at the last frame
        "lstm2_frames": out[0].numpy()[FRAMES],
        "lstm2_mean": out[0].numpy().mean(axis=0),
        "linear_frames": projected.numpy()[FRAMES],
        "partial_embeddings": partials,
        "utterance_embedding": utterance,
        "quiet_utterance_embedding": encoder.embed_utterance(quiet),
    }
    golden = {key: np.asarray(value, dtype=np.int64 if key == "frames" else np.float32) for key, value in golden.items()}
    golden["versions"] = np.array(f"Resemblyzer 0.1.4, librosa {librosa.__version__}, torch {torch.__version__}")
    target = Path(__file__).resolve().parent / "resemblyzer.npz"
    np.savez_compressed(target, **golden)
    print(target, {key: value.shape for key, value in golden.items()}, resemblyzer.__file__)


if __name__ == "__main__":
    main()
