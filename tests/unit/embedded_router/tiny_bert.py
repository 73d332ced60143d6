"""A tiny random BertModel in the installed model's file format, for install and graph tests."""

from __future__ import annotations

import json

import numpy as np

HIDDEN = 8
HEADS = 2
LAYERS = 2
INTERMEDIATE = 16
VOCAB = 12
POSITIONS = 16


def bert_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights under BertModel's state-dict names (float32)."""
    rng = np.random.default_rng(seed)

    def rand(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.5, shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": rand(VOCAB, HIDDEN),
        "embeddings.position_embeddings.weight": rand(POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": rand(2, HIDDEN),
        "embeddings.LayerNorm.weight": 1.0 + rand(HIDDEN),
        "embeddings.LayerNorm.bias": rand(HIDDEN),
    }
    dense = {
        "attention.self.query": (HIDDEN, HIDDEN),
        "attention.self.key": (HIDDEN, HIDDEN),
        "attention.self.value": (HIDDEN, HIDDEN),
        "attention.output.dense": (HIDDEN, HIDDEN),
        "intermediate.dense": (INTERMEDIATE, HIDDEN),
        "output.dense": (HIDDEN, INTERMEDIATE),
    }
    for layer in range(LAYERS):
        prefix = f"encoder.layer.{layer}."
        for name, (out_dim, in_dim) in dense.items():
            tensors[f"{prefix}{name}.weight"] = rand(out_dim, in_dim)
            tensors[f"{prefix}{name}.bias"] = rand(out_dim)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{prefix}{norm}.weight"] = 1.0 + rand(HIDDEN)
            tensors[f"{prefix}{norm}.bias"] = rand(HIDDEN)
    return tensors


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """Serialize float32 tensors in the safetensors layout (header size, JSON header, data)."""
    header: dict[str, object] = {}
    chunks = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode("utf-8")
    return len(encoded).to_bytes(8, "little") + encoded + b"".join(chunks)


def config_bytes() -> bytes:
    """config.json with the two fields the graph builder reads."""
    return json.dumps({"num_attention_heads": HEADS, "layer_norm_eps": 1e-12}).encode("utf-8")
