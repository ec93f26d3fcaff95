"""Read the variables of a TensorFlow checkpoint (format V2) without TensorFlow.

A V2 checkpoint `PREFIX` is two files: `PREFIX.index`, a LevelDB-style sorted
table (SSTable) mapping each variable name to a `BundleEntryProto` (dtype,
shape, shard, offset and size of its bytes), and `PREFIX.data-00000-of-0000N`,
the raw little-endian tensor bytes back to back. Both formats are small and
stable (tensorflow/core/util/tensor_bundle, tensorflow/core/lib/io/table), so
this module parses them by hand: the table's blocks (prefix-compressed
key/value entries, uncompressed as TensorFlow writes them) and the few varint
fields of the protobuf messages. Partitioned (sliced) variables and compressed
blocks are refused with an error rather than misread.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from audioqual.backbones.encoders import protobuf
from audioqual.errors import ModelLoadError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48  # two block handles padded to 40 bytes + 8-byte magic
_BLOCK_TRAILER = 5  # compression type (1 byte) + masked crc32c (4 bytes)

# tensorflow/core/framework/types.proto DataType -> numpy little-endian dtype
_DTYPES = {
    1: "<f4",  # DT_FLOAT
    2: "<f8",  # DT_DOUBLE
    3: "<i4",  # DT_INT32
    4: "u1",  # DT_UINT8
    5: "<i2",  # DT_INT16
    6: "i1",  # DT_INT8
    9: "<i8",  # DT_INT64
    10: "?",  # DT_BOOL
    19: "<f2",  # DT_HALF
}


def _block_entries(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The key/value entries of one table block (keys are prefix-compressed against the previous key)."""
    if data[offset + size] != 0:
        raise ValueError("compressed table blocks are not supported")
    block = data[offset : offset + size]
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    entries: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < end:
        shared, pos = protobuf.read_varint(block, pos)
        non_shared, pos = protobuf.read_varint(block, pos)
        value_length, pos = protobuf.read_varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + value_length]))
        pos += value_length
    return entries


def _table(index_bytes: bytes) -> dict[bytes, bytes]:
    """Every key/value of an SSTable held in memory."""
    if len(index_bytes) < _FOOTER_SIZE:
        raise ValueError("file too short for a table footer")
    footer = index_bytes[-_FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise ValueError("not a TensorFlow/LevelDB table (bad magic)")
    pos = 0
    _meta_offset, pos = protobuf.read_varint(footer, pos)
    _meta_size, pos = protobuf.read_varint(footer, pos)
    index_offset, pos = protobuf.read_varint(footer, pos)
    index_size, pos = protobuf.read_varint(footer, pos)
    table: dict[bytes, bytes] = {}
    for _last_key, handle in _block_entries(index_bytes, index_offset, index_size):
        block_offset, hpos = protobuf.read_varint(handle, 0)
        block_size, _ = protobuf.read_varint(handle, hpos)
        table.update(_block_entries(index_bytes, block_offset, block_size))
    return table


def _shape(proto: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in protobuf.fields(proto):
        if number == 2:  # repeated Dim dim
            size = next((v for n, v in protobuf.fields(value) if n == 1), 0)
            dims.append(int(size))
        elif number == 3 and value:  # unknown_rank
            raise ValueError("tensor of unknown rank")
    return tuple(dims)


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """All variables of the V2 checkpoint at `prefix` (the path without '.index'), as numpy arrays.

    Each tensor's crc32c is not checked (that would need a crc32c implementation);
    its byte count and the table's structure are.
    """
    prefix = str(prefix)
    index_path = Path(prefix + ".index")
    try:
        table = _table(index_path.read_bytes())
    except (OSError, ValueError, IndexError, struct.error) as err:
        raise ModelLoadError(f"{index_path}: not a readable TensorFlow checkpoint index ({err})") from err
    header = dict(protobuf.fields(table.pop(b"", b"")))
    num_shards = int(header.get(1, 1))
    if header.get(2, 0) != 0:  # endianness: 0 = little
        raise ModelLoadError(f"{index_path}: big-endian checkpoints are not supported")
    shards: dict[int, bytes] = {}
    tensors: dict[str, np.ndarray] = {}
    for key, value in table.items():
        name = key.decode()
        fields = dict(protobuf.fields(value))
        if 7 in fields:
            raise ModelLoadError(f"{index_path}: variable {name} is partitioned (sliced); not supported")
        dtype = _DTYPES.get(int(fields.get(1, 0)))
        if dtype is None:
            raise ModelLoadError(f"{index_path}: variable {name} has unsupported dtype {fields.get(1)}")
        shape = _shape(fields.get(2, b""))
        shard = int(fields.get(3, 0))
        offset, size = int(fields.get(4, 0)), int(fields.get(5, 0))
        if shard not in shards:
            data_path = Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}")
            try:
                shards[shard] = data_path.read_bytes()
            except OSError as err:
                raise ModelLoadError(f"{data_path}: cannot read checkpoint data ({err})") from err
        count = int(np.prod(shape, dtype=np.int64))
        if count * np.dtype(dtype).itemsize != size or offset + size > len(shards[shard]):
            raise ModelLoadError(f"{index_path}: variable {name} size {size} does not fit shape {shape}")
        array = np.frombuffer(shards[shard], dtype=dtype, count=count, offset=offset).reshape(shape)
        tensors[name] = array.astype(array.dtype.newbyteorder("="), copy=True)
    return tensors


def file_digest(path: str | Path) -> int:
    """A cheap content checksum (adler32) of a file, to key in-memory caches on."""
    return zlib.adler32(Path(path).read_bytes())
