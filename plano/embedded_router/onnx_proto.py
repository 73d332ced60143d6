"""The handful of ONNX protobuf messages the encoder graph needs, written in protobuf wire format.

onnxruntime loads a model from serialized ModelProto bytes. The usual way to make them, the
`onnx` package, is not needed to run a model, so the server would carry it (and ml_dtypes) only to
build ours. The messages and field numbers below are the subset of onnx.proto we use
(https://github.com/onnx/onnx/blob/main/onnx/onnx.proto; ONNX keeps field numbers stable across
IR versions), and onnxruntime checks the model when it loads it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

# TensorProto.DataType
_ELEM_TYPES = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
}
FLOAT = _ELEM_TYPES[np.dtype(np.float32)]
INT32 = _ELEM_TYPES[np.dtype(np.int32)]
# AttributeProto.AttributeType
_ATTR_FLOAT = 1
_ATTR_INT = 2
IR_VERSION = 8  # ONNX 1.10+; onnxruntime 1.x reads it
_VARINT, _FIXED32, _BYTES = 0, 5, 2


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _int(field: int, value: int) -> bytes:
    return _tag(field, _VARINT) + _varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return _tag(field, _BYTES) + _varint(len(value)) + value


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode("utf-8"))


def _all(field: int, messages: Iterable[bytes]) -> bytes:
    return b"".join(_bytes(field, m) for m in messages)


def tensor(name: str, array: npt.NDArray[np.generic]) -> bytes:
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian)."""
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    dims = b"".join(_int(1, d) for d in data.shape)
    return dims + _int(2, _ELEM_TYPES[array.dtype]) + _str(8, name) + _bytes(9, data.tobytes())


def node(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    domain: str = "",
    **attributes: int | float,
) -> bytes:
    """NodeProto: input (1), output (2), name (3), op_type (4), attribute (5), domain (7)."""
    attrs = []
    for key, value in attributes.items():
        if isinstance(value, float):
            # AttributeProto: name (1), f (2, fixed32), type (20)
            attrs.append(
                _str(1, key) + _tag(2, _FIXED32) + struct.pack("<f", value) + _int(20, _ATTR_FLOAT)
            )
        else:
            attrs.append(_str(1, key) + _int(3, value) + _int(20, _ATTR_INT))  # i (3)
    return (
        b"".join(_str(1, name) for name in inputs)
        + b"".join(_str(2, name) for name in outputs)
        + _str(3, outputs[0])
        + _str(4, op_type)
        + _all(5, attrs)
        + (_str(7, domain) if domain else b"")
    )


def value_info(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    """ValueInfoProto (name 1, type 2) of a tensor; str dimensions are symbolic (dim_param)."""
    dims = [_int(1, d) if isinstance(d, int) else _str(2, d) for d in shape]
    tensor_type = _int(1, elem_type) + _bytes(2, _all(1, dims))  # elem_type, TensorShapeProto
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))  # TypeProto.tensor_type (1)


def model(
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    opsets: Mapping[str, int],
    producer: str,
) -> bytes:
    """ModelProto around one GraphProto (node 1, name 2, initializer 5, input 11, output 12)."""
    graph = (
        _all(1, nodes)
        + _str(2, producer)
        + _all(5, initializers)
        + _all(11, inputs)
        + _all(12, outputs)
    )
    # OperatorSetIdProto: domain (1), version (2)
    opset_ids = [(_str(1, domain) if domain else b"") + _int(2, v) for domain, v in opsets.items()]
    # ModelProto: ir_version (1), producer_name (2), graph (7), opset_import (8)
    return _int(1, IR_VERSION) + _str(2, producer) + _bytes(7, graph) + _all(8, opset_ids)
