"""Make tests/golden/musicnn_<variant>.npz with the ORIGINAL musicnn package (TensorFlow).

Not run by the tests: they only read its output. It needs an environment the
project venv must not get (TensorFlow). How the goldens were made:

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow-cpu==2.21.0 librosa==0.11.0 tf_keras==2.21.0
    /work/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 OMP_NUM_THREADS=1 /work/tfvenv/bin/python tests/golden/make_musicnn.py

(numpy 2.4.6, soundfile 0.14.0, Python 3.11.) musicnn 0.1.0 is TF1 code: its
`tf.compat.v1.layers` calls need Keras 2, hence tf_keras with
TF_USE_LEGACY_KERAS=1; its extractor itself calls
`tf.compat.v1.disable_eager_execution()`. Nothing else is patched: the signal
is written to a float32 wav and `musicnn.extractor.extractor(wav, model=V,
extract_features=True)` runs with its defaults (input_length=3,
input_overlap=False). librosa 0.11 pads the centred STFT with zeros (librosa
< 0.10 reflected), which is what the port reproduces.

Two things the extractor gets wrong are worked around by also running the
same graph directly (`direct_*` entries): (1) it restores the checkpoint inside
a bare `try/except` and would silently run random weights if the restore
failed; the direct run restores without one, and the script asserts both
runs agree; (2) for the patches after the first, its `cnn1`, `cnn2`, `cnn3`
and `penultimate` features repeat the first patch's (it concatenates variables
it never rebinds), so those layers are taken from the direct run (checked
against the extractor on the first patch).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

SR = 16000
SECONDS = 7.0  # two whole 187-frame patches and a tail the extractor drops
VARIANTS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
OUT = Path(__file__).resolve().parent


def test_signal() -> np.ndarray:
    """The deterministic input (float32, 16 kHz): harmonic notes, a bass line, clicks and noise.

    Kept quiet enough (peak about 0.25) that the extractor's float16
    `10000 * mel` does not overflow, which the original turns into NaN.
    """
    rng = np.random.default_rng(20240615)
    n = int(SECONDS * SR)
    t = np.arange(n) / SR
    y = np.zeros(n)
    note = int(0.25 * SR)
    freqs = 220.0 * 2.0 ** (rng.integers(0, 24, size=n // note + 1) / 12.0)
    for k, start in enumerate(range(0, n, note)):
        seg = slice(start, min(start + note, n))
        tt = t[seg] - t[start]
        env = np.exp(-tt * 6.0)
        for h in range(1, 5):
            y[seg] += 0.02 / h * env * np.sin(2 * np.pi * freqs[k] * h * tt)
    y += 0.03 * np.sin(2 * np.pi * (55.0 + 10 * np.sin(2 * np.pi * 0.3 * t)) * t)
    for start in range(0, n, SR // 2):  # clicks on the beat
        y[start : start + 64] += 0.05 * rng.standard_normal(64) * np.hanning(64)
    y += 0.003 * rng.standard_normal(n)
    return y.astype(np.float32)


def _direct(model: str, batch: np.ndarray, checkpoint: str):
    """Build the extractor's graph and run every patch at once, restoring without a try/except."""
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, batch.shape[1], batch.shape[2]])
        is_training = tf.compat.v1.placeholder(tf.bool)
        outputs = models.define_model(x, is_training, model, 50)
        y = tf.nn.sigmoid(outputs[0])
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, checkpoint)
        return sess.run([y, *outputs[1:]], feed_dict={x: batch, is_training: False})


def main() -> None:
    import librosa
    import musicnn
    import soundfile as sf
    import tensorflow as tf
    from musicnn import extractor as ex

    wav = OUT / "_musicnn_input.wav"
    signal = test_signal()
    sf.write(str(wav), signal, SR, subtype="FLOAT")
    versions = f"tensorflow {tf.__version__}, librosa {librosa.__version__}, numpy {np.__version__}, musicnn 0.1.0"
    try:
        batch, spectrogram = ex.batch_data(str(wav), 187, 187)
        mel_power = librosa.feature.melspectrogram(y=signal, sr=SR, hop_length=256, n_fft=512, n_mels=96)
        print(f"max mel power {mel_power.max():.3f} (float16 overflow above 6.55)")
        assert np.isfinite(spectrogram).all()
        filterbank = librosa.filters.mel(sr=SR, n_fft=512, n_mels=96).astype(np.float32)
        for model in VARIANTS:
            taggram, _labels, features = ex.extractor(str(wav), model=model, extract_features=True)
            direct = _direct(model, batch.astype(np.float32), os.path.dirname(musicnn.__file__) + f"/{model}/")
            np.testing.assert_allclose(direct[0], taggram, rtol=1e-4, atol=1e-5)  # the restore worked
            store = {
                "versions": np.array(versions),
                "taggram": taggram.astype(np.float32),
                "mel_band_mean": spectrogram.astype(np.float32).mean(axis=0),
                "mel_first_frames": spectrogram[:8].astype(np.float32),
                "mel_frames_180_196": spectrogram[180:196].astype(np.float32),
                "mel_frames": np.array(spectrogram.shape[0]),
                "filterbank_row_sums": filterbank.sum(axis=1),
                "filterbank_col_sums": filterbank.sum(axis=0),
            }
            if "vgg" in model:
                for index in range(1, 6):
                    pool = features[f"pool{index}"]  # [P*T, F, C] (patches concatenated on time; F=1 squeezed)
                    channels = pool.shape[-1]
                    per_patch = pool.reshape(batch.shape[0], -1, pool[0].size)
                    means = per_patch.mean(axis=1)  # [P, F*C] in TF's (frequency, channel) order
                    store[f"pool{index}_mean"] = (means.mean(axis=0) if index <= 2 else means).astype(np.float32)
                    store[f"pool{index}_first_frame"] = per_patch[0, 0, : 4 * channels].astype(np.float32)
            else:
                cnn1, cnn2, cnn3, mean_pool, penultimate = direct[3], direct[4], direct[5], direct[6], direct[8]
                store["penultimate"] = penultimate.astype(np.float32)
                store["mean_pool"] = features["mean_pool"].astype(np.float32)
                store["max_pool"] = features["max_pool"].astype(np.float32)
                np.testing.assert_allclose(penultimate[0], features["penultimate"][0], rtol=1e-4, atol=1e-4)
                np.testing.assert_allclose(mean_pool, features["mean_pool"], rtol=1e-4, atol=1e-4)
                for name in ("timbral", "temporal"):
                    frames = features[name].reshape(batch.shape[0], 187, -1)  # [P, 187, D]
                    store[f"{name}_mean"] = frames.mean(axis=1).astype(np.float32)
                    store[f"{name}_first_frames"] = frames[0, :4].astype(np.float32)
                    store[f"{name}_last_frames"] = frames[-1, -4:].astype(np.float32)
                for name, value in (("cnn1", cnn1), ("cnn2", cnn2), ("cnn3", cnn3)):
                    frames = value[..., 0]  # [P, 187, 64, 1] -> [P, 187, 64]
                    np.testing.assert_allclose(frames[0], features[name][:187], rtol=1e-4, atol=1e-4)
                    store[f"{name}_mean"] = frames.mean(axis=1).astype(np.float32)
                    store[f"{name}_first_frames"] = frames[0, :4].astype(np.float32)
                    store[f"{name}_last_frames"] = frames[-1, -4:].astype(np.float32)
            path = OUT / f"musicnn_{model}.npz"
            np.savez_compressed(path, **store)
            print(model, path.name, path.stat().st_size, "bytes; taggram", taggram.shape)
    finally:
        wav.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
