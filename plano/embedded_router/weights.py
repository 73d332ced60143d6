"""Reading the model's safetensors file without the `safetensors` package.

The format is an 8-byte little-endian header size, a JSON header (dtype, shape and byte range of
each tensor) and the raw little-endian data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

Tensors = dict[str, npt.NDArray[np.generic]]
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def map_safetensors(path: Path) -> Tensors:
    """Memory-map every tensor of a .safetensors file (read-only, nothing copied).

    Pages stay in the shared page cache and only the parts a caller touches are read: the
    encoder keeps the 47 MB word-embedding table mapped and reads only the rows texts use.
    """
    with path.open("rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_size))
    data_start = 8 + header_size
    tensors: Tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, _ = info["data_offsets"]
        tensors[name] = np.memmap(
            path,
            dtype=np.dtype(_DTYPES[info["dtype"]]),
            mode="r",
            offset=data_start + begin,
            shape=tuple(info["shape"]),
        )
    return tensors
