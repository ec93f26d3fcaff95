"""musicnn (Pons & Serra, 2019): music-tagging CNNs on log-mel patches, ported to torch.

Weights: the TF1 checkpoints inside the `musicnn==0.1.0` wheel (ISC licence,
Music Technology Group, Universitat Pompeu Fabra), read at load time with
`tf_checkpoint.read_checkpoint` (no TensorFlow, nothing written to disk; the
read tensors are cached in memory per checkpoint). Variants, all in the wheel:

- `MSD_musicnn` (default), `MTT_musicnn`: musically motivated front-end
  (vertical "timbral" filters 7x38 and 7x67 over the mel axis, horizontal
  "temporal" filters of 128, 64 and 32 frames, each max-pooled over frequency),
  a mid-end of three 7-frame 1-D convolutions with dense/residual connections,
  and a back-end of temporal max+mean pooling, a 200-unit dense layer and 50
  sigmoid tags. Trained on the Million Song Dataset (MSD, last.fm tags) or on
  MagnaTagATune (MTT).
- `MSD_vgg`, `MTT_vgg`: five 3x3 convolution blocks of 128 filters with max
  pooling, then 50 sigmoid tags.
(`MSD_musicnn_big` is not in the wheel, only in the source repository.)

Preprocessing is that of `musicnn.extractor.batch_data`: 16 kHz mono, librosa
power mel spectrogram (n_fft 512, hop 256, periodic Hann window, centred with
zero padding as librosa >= 0.10 pads, 96 Slaney mel bands 0-8 kHz with Slaney
area norm; the filterbank is computed here in numpy exactly as librosa does),
the mel power rounded to float16 and `log10(10000 x + 1)` evaluated in float16
arithmetic as numpy does, then cut into patches of 187 frames (3 s) with the
extractor's default hop of 187 frames (`input_overlap=False`: no overlap); the
frames after the last whole patch are dropped, as in the original. One
deliberate difference: where the original's float16 product `10000 x`
overflows (mel power above 6.55: common in loud music, a 0.5-amplitude sine
reaches 123), numpy gives inf, the original's front-end and pooled features
then hold inf, and what its later layers make of inf depends on TensorFlow's
kernels (its taggram stays finite); here the product saturates at the float16
maximum (log-mel 4.816), so loud input gives finite features everywhere, and
outputs equal the original's wherever it does not overflow. Batch norms run in inference
mode (moving statistics, epsilon 1e-3 as tf.layers).

Layers (names and contents as the extractor's `features` dictionary):

- musicnn: `timbral` [408] and `temporal` [153] (front-end), `cnn1`, `cnn2`,
  `cnn3` [64 each] (mid-end), frame level: 187 frames per patch at the mel rate
  of 62.5 frames/s; then per patch (one frame per 2.992 s): `mean_pool` and
  `max_pool` [753] (temporal pooling of the concatenated front- and mid-end
  features), `penultimate` [200] (batch-normed dense layer) and `taggram` [50]
  (sigmoid tag probabilities; labels in `MSD_LABELS` / `MTT_LABELS`).
- vgg: `pool1` .. `pool5`, the pooled feature maps flattened per time step in
  TensorFlow's (frequency, channel) order: 92, 46, 23, 11 and 2 frames per
  patch of widths 48x128, 24x128, 12x128, 6x128 and 1x128; then `taggram` [50].

Every layer's frames are concatenated over patches, so the finest layer has
187 (musicnn) or 92 (vgg) frames per patch; the shortest input is one patch,
47616 samples (2.976 s).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioqual.backbones.encoders.base import EncoderLayer, PretrainedEncoder
from audioqual.backbones.encoders.tf_checkpoint import read_checkpoint
from audioqual.errors import ModelLoadError
from audioqual.packages import package_file

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
PATCH_HOP = PATCH_FRAMES  # extractor default input_overlap=False
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default
FLOAT16_MAX = 65504.0

MTT_LABELS = ('guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano', 'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing', 'vocals', 'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft', 'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal', 'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral')  # fmt: skip
MSD_LABELS = ('rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance', '00s', 'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists', 'classic rock', 'soul', 'indie rock', 'Mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental', 'punk', 'oldies', 'blues', 'hard rock', 'ambient', 'acoustic', 'experimental', 'female vocalist', 'guitar', 'Hip-Hop', '70s', 'party', 'country', 'easy listening', 'sexy', 'catchy', 'funk', 'electro', 'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop', 'sad', 'House', 'happy')  # fmt: skip


# ---------------------------------------------------------------- preprocessing


def _hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """librosa.hz_to_mel with htk=False (Slaney's auditory toolbox scale)."""
    freq = np.asanyarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(freq >= min_log_hz, min_log_mel + np.log(np.maximum(freq, min_log_hz) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """librosa.mel_to_hz with htk=False."""
    mels = np.asanyarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels) (fmin 0, fmax sr/2, htk=False, norm='slaney'), float32."""
    fmin, fmax = 0.0, sr / 2.0
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def _round_half(x: torch.Tensor) -> torch.Tensor:
    """Round float32 values to float16 precision (numpy's float16 ops compute in float32 and round)."""
    return x.to(torch.float16).to(torch.float32)


def log_mel(waveforms: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    """musicnn's input representation [B, frames, 96] of [B, T] waveforms at 16 kHz.

    librosa computes the STFT of float32 audio with a float64 window in float64
    and stores it as complex64; the power and the mel projection are float32.
    """
    window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64, device=waveforms.device)
    spec = torch.stft(
        waveforms.to(torch.float32).to(torch.float64), N_FFT, HOP, window=window,
        center=True, pad_mode="constant", return_complex=True,
    ).to(torch.complex64)  # fmt: skip
    power = spec.abs().pow(2)  # [B, 257, frames]
    mel = torch.matmul(filterbank, power).transpose(1, 2)  # [B, frames, 96]
    mel = _round_half(mel)  # audio_rep.astype(np.float16)
    scaled = _round_half((mel * 10000.0).clamp(max=FLOAT16_MAX))  # saturates where numpy overflows to inf
    return _round_half(torch.log10(_round_half(scaled + 1.0)))


def patches(mel: torch.Tensor) -> torch.Tensor:
    """[B, frames, 96] -> [B, P, 187, 96]: the extractor's patches (hop 187, tail dropped)."""
    count = (mel.shape[1] - PATCH_FRAMES) // PATCH_HOP + 1
    if count < 1:
        raise ValueError(f"need at least {PATCH_FRAMES} mel frames for one patch, got {mel.shape[1]}")
    return mel.unfold(1, PATCH_FRAMES, PATCH_HOP)[:, :count].transpose(2, 3)


# ---------------------------------------------------------------- networks


def _bn2d(channels: int) -> nn.BatchNorm2d:
    """tf.layers batch norm: epsilon 1e-3, momentum 0.99 (torch's 0.01)."""
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


def _bn1d(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=BN_EPS, momentum=0.01)


class MusicnnNet(nn.Module):
    """models.build_musicnn: front-end '7774timbraltemporal', dense mid-end, 'globalpool_dense' back-end."""

    def __init__(self, num_classes: int = 50, num_filt_midend: int = 64, num_units_backend: int = 200):
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.input_bn = _bn2d(1)
        self.timbral = nn.ModuleList([nn.Conv2d(1, timbral, (7, int(f * N_MELS))) for f in (0.4, 0.7)])
        self.timbral_bn = nn.ModuleList([_bn2d(timbral) for _ in range(2)])
        self.temporal = nn.ModuleList([nn.Conv2d(1, temporal, (k, 1)) for k in (128, 64, 32)])
        self.temporal_bn = nn.ModuleList([_bn2d(temporal) for _ in range(3)])
        frontend = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList(
            [nn.Conv1d(frontend if i == 0 else num_filt_midend, num_filt_midend, 7) for i in range(3)]
        )
        self.midend_bn = nn.ModuleList([_bn1d(num_filt_midend) for _ in range(3)])
        pooled = frontend + 3 * num_filt_midend
        self.pool_bn = _bn1d(2 * pooled)
        self.dense = nn.Linear(2 * pooled, num_units_backend)
        self.dense_bn = _bn1d(num_units_backend)
        self.output = nn.Linear(num_units_backend, num_classes)
        self.dims = {"timbral": 2 * timbral, "temporal": 3 * temporal, "cnn1": num_filt_midend,
                     "cnn2": num_filt_midend, "cnn3": num_filt_midend, "mean_pool": pooled, "max_pool": pooled,
                     "penultimate": num_units_backend, "taggram": num_classes}  # fmt: skip

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[N, 187, 96] log-mel patches -> the layers of `dims`: frame level [N, 187, D], per patch [N, 1, D]."""
        x = self.input_bn(x[:, None])  # [N, 1, T, 96]
        padded = F.pad(x, (0, 0, 3, 3))
        front = []
        for conv, bn in zip(self.timbral, self.timbral_bn):
            front.append(bn(F.relu(conv(padded))).amax(dim=3))  # [N, C, T]
        for conv, bn in zip(self.temporal, self.temporal_bn):
            k = conv.kernel_size[0]
            same = F.pad(x, (0, 0, (k - 1) // 2, k - 1 - (k - 1) // 2))  # TF 'same': the extra pad goes after
            front.append(bn(F.relu(conv(same))).amax(dim=3))
        frontend = torch.cat(front, dim=1)  # [N, 561, T]
        mids = []
        h = frontend
        for index, (conv, bn) in enumerate(zip(self.midend, self.midend_bn)):
            out = bn(F.relu(conv(F.pad(h, (3, 3)))))
            h = out if index == 0 else out + h
            mids.append(h)
        features = torch.cat([frontend, *mids], dim=1)  # [N, 753, T]
        max_pool, mean_pool = features.amax(dim=2), features.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # tf.concat([max, mean], 2) then flatten
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(flat))))
        taggram = torch.sigmoid(self.output(penultimate))
        frames = [torch.cat(front[:2], 1), torch.cat(front[2:], 1), *mids]
        return [f.transpose(1, 2) for f in frames] + [v[:, None] for v in (mean_pool, max_pool, penultimate, taggram)]

    def load_tf(self, tensors: dict[str, np.ndarray]) -> None:
        convs = [*self.timbral, *self.temporal]
        bns = [self.input_bn, *self.timbral_bn, *self.temporal_bn, *self.midend_bn, self.pool_bn, self.dense_bn]
        state = {}
        for index, conv in enumerate(convs):
            _put_conv2d(state, conv, tensors, _tf_name("conv2d", index))
        for index, conv in enumerate(self.midend):
            prefix = _tf_name("conv2d", len(convs) + index)
            kernel = tensors[f"{prefix}/kernel"]  # [7, C_in, 1, C_out]: the width spans all input features
            state[conv.weight] = kernel[:, :, 0, :].transpose(2, 1, 0)
            state[conv.bias] = tensors[f"{prefix}/bias"]
        for index, bn in enumerate(bns):
            _put_bn(state, bn, tensors, _tf_name("batch_normalization", index))
        _put_dense(state, self.dense, tensors, "dense")
        _put_dense(state, self.output, tensors, "dense_1")
        _assign(self, state)


class VggNet(nn.Module):
    """models.vgg: five 3x3 conv + batch-norm + max-pool blocks, then a dense layer of tags."""

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))

    def __init__(self, num_classes: int = 50, num_filters: int = 128):
        super().__init__()
        self.input_bn = _bn2d(1)
        self.convs = nn.ModuleList([nn.Conv2d(1 if i == 0 else num_filters, num_filters, 3, padding=1) for i in range(5)])
        self.bns = nn.ModuleList([_bn2d(num_filters) for _ in range(5)])
        time, freq, self.dims = PATCH_FRAMES, N_MELS, {}
        self.frames: dict[str, int] = {}
        for index, (pool, stride) in enumerate(self.POOLS):
            time, freq = (time - pool[0]) // stride[0] + 1, (freq - pool[1]) // stride[1] + 1
            self.dims[f"pool{index + 1}"] = freq * num_filters
            self.frames[f"pool{index + 1}"] = time
        self.output = nn.Linear(time * self.dims["pool5"], num_classes)
        self.dims["taggram"] = num_classes
        self.frames["taggram"] = 1

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[N, 187, 96] log-mel patches -> pool1..pool5 [N, T_l, F_l * 128] (TF NHWC order) and taggram [N, 1, 50]."""
        h = self.input_bn(x[:, None])
        pools = []
        for conv, bn, (pool, stride) in zip(self.convs, self.bns, self.POOLS):
            h = F.max_pool2d(bn(F.relu(conv(h))), pool, stride)
            pools.append(h.permute(0, 2, 3, 1).flatten(2))  # [N, T, F * C]
        taggram = torch.sigmoid(self.output(pools[-1].flatten(1)))
        return pools + [taggram[:, None]]

    def load_tf(self, tensors: dict[str, np.ndarray]) -> None:
        state = {}
        for index, conv in enumerate(self.convs):
            _put_conv2d(state, conv, tensors, f"{index + 1}CNN")
        for index, bn in enumerate([self.input_bn, *self.bns]):
            _put_bn(state, bn, tensors, _tf_name("batch_normalization", index))
        _put_dense(state, self.output, tensors, "dense")
        _assign(self, state)


def _tf_name(base: str, index: int) -> str:
    """tf.layers' automatic names: base, base_1, base_2, ..."""
    return base if index == 0 else f"{base}_{index}"


def _put_conv2d(state: dict, conv: nn.Conv2d, tensors: dict[str, np.ndarray], prefix: str) -> None:
    state[conv.weight] = tensors[f"{prefix}/kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
    state[conv.bias] = tensors[f"{prefix}/bias"]


def _put_bn(state: dict, bn: nn.modules.batchnorm._BatchNorm, tensors: dict[str, np.ndarray], prefix: str) -> None:
    state[bn.weight] = tensors[f"{prefix}/gamma"]
    state[bn.bias] = tensors[f"{prefix}/beta"]
    state[bn.running_mean] = tensors[f"{prefix}/moving_mean"]
    state[bn.running_var] = tensors[f"{prefix}/moving_variance"]


def _put_dense(state: dict, linear: nn.Linear, tensors: dict[str, np.ndarray], prefix: str) -> None:
    state[linear.weight] = tensors[f"{prefix}/kernel"].T
    state[linear.bias] = tensors[f"{prefix}/bias"]


def _assign(module: nn.Module, state: dict) -> None:
    """Copy every (parameter or buffer -> array) pair, checking shapes and that nothing was left unset."""
    targets = {id(t) for t in [*module.parameters(), *module.buffers()] if t.dim() > 0}  # not BN step counters
    if {id(t) for t in state} != targets:
        raise ModelLoadError(f"{type(module).__name__}: checkpoint does not cover every weight")
    with torch.no_grad():
        for target, array in state.items():
            value = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
            if tuple(value.shape) != tuple(target.shape):
                raise ModelLoadError(f"checkpoint tensor of shape {tuple(value.shape)} for {tuple(target.shape)}")
            target.copy_(value)


@functools.lru_cache(maxsize=8)
def _checkpoint(prefix: str, size: int, mtime_ns: int) -> dict[str, np.ndarray]:
    """The model variables of a checkpoint (optimizer slots dropped), read once per file version."""
    tensors = read_checkpoint(prefix)
    return {k: v for k, v in tensors.items() if "/Adam" not in k and not k.endswith("_power")}


# ---------------------------------------------------------------- encoder


class MusicnnEncoder(PretrainedEncoder):
    """musicnn / vgg music taggers with the extractor's preprocessing; see the module docstring."""

    encoder_name = "musicnn"
    distribution = "musicnn"
    variants = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
    default_variant = "MSD_musicnn"

    def __init__(self, variant: str):
        if variant not in self.variants:
            raise ModelLoadError(f"musicnn: unknown variant {variant!r}; choose from {list(self.variants)}")
        net: MusicnnNet | VggNet = VggNet() if "vgg" in variant else MusicnnNet()
        frames = getattr(net, "frames", None) or {
            name: (PATCH_FRAMES if name in ("timbral", "temporal", "cnn1", "cnn2", "cnn3") else 1) for name in net.dims
        }
        finest = max(frames.values())
        patch_seconds = PATCH_HOP * HOP / SAMPLE_RATE
        layers = [EncoderLayer(name, dim) for name, dim in net.dims.items()]
        super().__init__(variant, SAMPLE_RATE, layers, frames_per_second=finest / patch_seconds)
        self.net = net
        self.labels = MSD_LABELS if variant.startswith("MSD") else MTT_LABELS
        self.register_buffer("filterbank", torch.from_numpy(mel_filterbank()), persistent=False)
        self.eval()

    @classmethod
    def from_package(cls, variant: str) -> MusicnnEncoder:
        index = package_file("musicnn", Path(variant) / ".index", cls.distribution)
        package_file("musicnn", Path(variant) / ".data-00000-of-00001", cls.distribution)
        stat = index.stat()
        encoder = cls(variant)
        encoder.net.load_tf(_checkpoint(str(index.parent) + "/", stat.st_size, stat.st_mtime_ns))
        return encoder.eval()

    def minimum_samples(self) -> int:
        # librosa's centred STFT gives 1 + T // 256 frames; one patch needs 187
        return (PATCH_FRAMES - 1) * HOP

    def log_mel_patches(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The network input [B, P, 187, 96] of [B, T] 16 kHz waveforms."""
        return patches(log_mel(waveforms, self.filterbank))

    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        batch = self.log_mel_patches(waveforms)
        count = batch.shape[1]
        outputs = self.net(batch.flatten(0, 1))
        return [out.reshape(waveforms.shape[0], count * out.shape[1], out.shape[2]) for out in outputs]

    def tags(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The taggram [B, P, 50]: per-patch tag probabilities (labels in `self.labels`)."""
        return self.layer_states(waveforms)[-1]
