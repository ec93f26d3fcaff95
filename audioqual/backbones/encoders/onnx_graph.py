"""Encoders that run an ONNX file shipped in a wheel with onnxruntime, hidden layers included.

An ONNX graph only returns its declared outputs. To read intermediate tensors
(the output of each conv block or dense layer), `with_extra_outputs` declares
them as further graph outputs, in memory, when the session is created. It does
so on the serialized bytes, without the `onnx` package: in the protobuf wire
format a message field that occurs twice is merged and a repeated field is
appended to, so `model + ModelProto{graph: GraphProto{output: [ValueInfoProto
{name}, ...]}}` parses as the same model with more outputs. A name-only
ValueInfoProto (no type) is accepted by onnxruntime, which infers the type.

These encoders have no torch parameters: `fingerprint_parts` hashes the ONNX
file, and `save_pretrained` writes only the name and variant (the base class
saves no weights file for an empty state dict); loading a saved folder
re-opens the installed package's file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from audioqual.backbones.encoders.base import EncoderLayer, PretrainedEncoder
from audioqual.backbones.encoders.protobuf import length_delimited
from audioqual.errors import ModelLoadError

MODEL_FIELD_GRAPH = 7  # ModelProto.graph
GRAPH_FIELD_OUTPUT = 12  # GraphProto.output
VALUE_INFO_FIELD_NAME = 1  # ValueInfoProto.name


def with_extra_outputs(model_bytes: bytes, names: Sequence[str]) -> bytes:
    """The serialized ONNX model with the tensors `names` appended to its graph outputs."""
    outputs = b"".join(
        length_delimited(
            GRAPH_FIELD_OUTPUT, length_delimited(VALUE_INFO_FIELD_NAME, name.encode())
        )
        for name in names
    )
    return model_bytes + length_delimited(MODEL_FIELD_GRAPH, outputs)


class OnnxEncoder(PretrainedEncoder):
    """A PretrainedEncoder whose network is an ONNX file run by onnxruntime.

    Subclasses give `extra_outputs` (intermediate tensor names to expose) and
    call `run_graph`, which returns every declared and extra output by name.
    The session is created on first use with torch's intra-op thread count and
    is not pickled (each process opens its own).
    """

    extra_outputs: tuple[str, ...] = ()

    def __init__(self, variant: str, sample_rate: int, layers: Sequence[EncoderLayer], frames_per_second: float,
                 model_path: Path):  # fmt: skip
        super().__init__(variant, sample_rate, layers, frames_per_second)
        self.model_path = Path(model_path)
        self._model_bytes = self.model_path.read_bytes()
        self._session = None

    def fingerprint_parts(self) -> Iterator[bytes]:
        """The ONNX file's bytes identify the weights (there is no torch state dict)."""
        yield self.model_path.name.encode()
        yield self._model_bytes

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    @property
    def session(self):
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError as err:
                raise ModelLoadError(
                    f"{self.encoder_name} runs an ONNX model: pip install onnxruntime"
                ) from err
            options = ort.SessionOptions()
            options.intra_op_num_threads = max(1, torch.get_num_threads())
            options.inter_op_num_threads = 1
            options.log_severity_level = (
                3  # name-only extra outputs log a type-inference notice otherwise
            )
            model = with_extra_outputs(self._model_bytes, self.extra_outputs)
            try:
                self._session = ort.InferenceSession(
                    model, options, providers=["CPUExecutionProvider"]
                )
            except Exception as err:
                raise ModelLoadError(
                    f"{self.model_path}: not a loadable ONNX model ({type(err).__name__}: {err})"
                ) from err
        return self._session

    def run_graph(
        self, inputs: dict[str, np.ndarray], names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """The named outputs (declared or extra) of one run."""
        return dict(zip(names, self.session.run(list(names), inputs)))
