"""The protobuf wire format, as much as reading TF checkpoints and editing ONNX models needs (no protobuf package)."""

from __future__ import annotations

import struct


def read_varint(buffer: bytes, pos: int) -> tuple[int, int]:
    """The base-128 varint at `pos` and the position after it."""
    result = shift = 0
    while True:
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def write_varint(value: int) -> bytes:
    """`value` (>= 0) as a base-128 varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def fields(buffer: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a message: length-delimited fields as bytes, the others as int."""
    found: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buffer):
        tag, pos = read_varint(buffer, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = read_varint(buffer, pos)
        elif wire == 2:
            length, pos = read_varint(buffer, pos)
            value, pos = buffer[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buffer, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buffer, pos)[0], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        found.append((number, value))
    return found


def length_delimited(field: int, payload: bytes) -> bytes:
    """One length-delimited field (wire type 2): a sub-message, a string or packed values."""
    return write_varint((field << 3) | 2) + write_varint(len(payload)) + payload
