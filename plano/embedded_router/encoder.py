"""all-MiniLM-L6-v2 in numpy: BERT embeddings, 6 encoder layers, mean pooling and L2 norm.

Mirrors sentence-transformers' pipeline for this model (Transformer with max_seq_length 256 ->
mean Pooling -> Normalize) and Hugging Face's BertModel forward pass in inference mode. The
safetensors file is memory-mapped: the 47 MB word-embedding table stays in the page cache, shared
by every worker, and only rows a text uses are read. Layer weights are copied once, pre-fused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from plano.embedded_router.model_files import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    check_model_dir,
)

Matrix = npt.NDArray[np.float32]
MAX_SEQ_TOKENS = 256
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: Matrix  # (hidden, 3*hidden), pre-transposed so x @ qkv_w works
    qkv_b: Matrix
    out_w: Matrix
    out_b: Matrix
    ln1_g: Matrix
    ln1_b: Matrix
    up_w: Matrix
    up_b: Matrix
    down_w: Matrix
    down_b: Matrix
    ln2_g: Matrix
    ln2_b: Matrix


class SentenceEncoder:
    """Turns texts into L2-normalised 384-d sentence vectors; load once per worker and share."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        tensors: dict[str, npt.NDArray[np.generic]],
        heads: int,
        layer_norm_eps: float,
    ) -> None:
        self._tokenizer = tokenizer
        self._word = tensors[WORD_EMBEDDINGS]
        self._position = np.array(
            tensors["embeddings.position_embeddings.weight"][:MAX_SEQ_TOKENS], dtype=np.float32
        )
        # Every text is one segment, so token type 0 folds into the position table.
        self._position += tensors["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln_g = _f32(tensors["embeddings.LayerNorm.weight"])
        self._emb_ln_b = _f32(tensors["embeddings.LayerNorm.bias"])
        self._heads = heads
        self._eps = layer_norm_eps
        self._layers = tuple(_load_layer(tensors, i) for i in range(_count_layers(tensors)))
        self.dim = int(self._word.shape[1])

    @classmethod
    def load(cls, model_dir: Path) -> SentenceEncoder:
        """Load tokenizer, config and memory-mapped weights; raises RouterModelMissing."""
        check_model_dir(model_dir)
        config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.no_truncation()  # encode() keeps the head and the tail of long texts itself
        tensors = _map_safetensors(model_dir / WEIGHTS_FILE)
        return cls(
            tokenizer,
            tensors,
            heads=int(config["num_attention_heads"]),
            layer_norm_eps=float(config["layer_norm_eps"]),
        )

    def token_count(self, text: str) -> int:
        """Number of word pieces in text (without [CLS]/[SEP])."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: Sequence[str], max_tokens: int = MAX_SEQ_TOKENS) -> Matrix:
        """Embed texts: one L2-normalised row per text, in order.

        A text longer than max_tokens (counting [CLS] and [SEP]) keeps its first three quarters
        and its last quarter: requests tend to state the task first and the question last.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        sequences = [
            _head_and_tail(e.ids, min(max_tokens, MAX_SEQ_TOKENS))
            # encode(), not encode_batch(): the batch call starts a rayon thread pool, and
            # tokenizing is ~40 us per text next to a ~10 ms forward pass.
            for e in (self._tokenizer.encode(_trim_chars(text, max_tokens)) for text in texts)
        ]
        # Texts of similar length share a batch so padding stays small; one batch reads the
        # 42 MB of layer weights once, which is most of the cost for short texts.
        order = sorted(range(len(texts)), key=lambda i: len(sequences[i]))
        for start in range(0, len(order), 32):
            chunk = order[start : start + 32]
            width = max(len(sequences[i]) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                seq = sequences[i]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: Matrix) -> Matrix:
        batch, width = ids.shape
        rows = batch * width
        # Dense layers see one (batch * width, hidden) matrix: a single GEMM per weight, so a
        # batch streams each weight matrix from memory once instead of once per text.
        x = (self._word[ids].astype(np.float32) + self._position[:width]).reshape(rows, self.dim)
        x = _layer_norm(x, self._emb_ln_g, self._emb_ln_b, self._eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # masks padded keys
        heads = self._heads
        head_dim = self.dim // heads
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in self._layers:
            qkv = x @ layer.qkv_w
            qkv += layer.qkv_b
            qkv_heads = qkv.reshape(batch, width, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            scores = (qkv_heads[0] * scale) @ qkv_heads[1].transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ qkv_heads[2]).transpose(0, 2, 1, 3).reshape(rows, self.dim)
            attended = context @ layer.out_w
            attended += layer.out_b
            attended += x
            x = _layer_norm(attended, layer.ln1_g, layer.ln1_b, self._eps)
            hidden = x @ layer.up_w
            hidden += layer.up_b
            down = _gelu(hidden) @ layer.down_w
            down += layer.down_b
            down += x
            x = _layer_norm(down, layer.ln2_g, layer.ln2_b, self._eps)
        tokens = x.reshape(batch, width, self.dim)
        pooled = np.einsum("bwd,bw->bd", tokens, mask) / np.maximum(
            mask.sum(axis=1, keepdims=True), 1.0
        )
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Matrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


def _trim_chars(text: str, max_tokens: int) -> str:
    """Cut a huge text to head and tail before tokenizing (16 chars per kept token is plenty)."""
    limit = max_tokens * 16
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[: limit - tail]} {text[len(text) - tail :]}"


def _head_and_tail(ids: list[int], max_tokens: int) -> list[int]:
    """Keep [CLS], the head, the tail and [SEP] of a sequence longer than max_tokens (all in)."""
    if len(ids) <= max_tokens:
        return ids
    body = ids[1:-1]
    keep = max(max_tokens - 2, 1)
    tail = keep // 4
    return [ids[0], *body[: keep - tail], *body[len(body) - tail :], ids[-1]]


def _f32(array: npt.NDArray[np.generic]) -> Matrix:
    """A private contiguous float32 copy (never a view into the memory map)."""
    return np.array(array, dtype=np.float32, order="C")


def _count_layers(tensors: dict[str, npt.NDArray[np.generic]]) -> int:
    return len({name.split(".")[2] for name in tensors if name.startswith("encoder.layer.")})


def _load_layer(tensors: dict[str, npt.NDArray[np.generic]], index: int) -> _Layer:
    def get(name: str) -> Matrix:
        return _f32(tensors[f"encoder.layer.{index}.{name}"])

    attn = "attention.self."
    qkv_w = np.concatenate([get(attn + p + ".weight") for p in ("query", "key", "value")])
    qkv_b = np.concatenate([get(attn + p + ".bias") for p in ("query", "key", "value")])
    return _Layer(
        qkv_w=_f32(qkv_w.T),
        qkv_b=qkv_b,
        out_w=_f32(get("attention.output.dense.weight").T),
        out_b=get("attention.output.dense.bias"),
        ln1_g=get("attention.output.LayerNorm.weight"),
        ln1_b=get("attention.output.LayerNorm.bias"),
        up_w=_f32(get("intermediate.dense.weight").T),
        up_b=get("intermediate.dense.bias"),
        down_w=_f32(get("output.dense.weight").T),
        down_b=get("output.dense.bias"),
        ln2_g=get("output.LayerNorm.weight"),
        ln2_b=get("output.LayerNorm.bias"),
    )


def _layer_norm(x: Matrix, gamma: Matrix, beta: Matrix, eps: float) -> Matrix:
    """LayerNorm over the last axis; updates x in place and returns it."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("...d,...d->...", x, x)[..., None] / np.float32(x.shape[-1])
    x /= np.sqrt(var + np.float32(eps))
    x *= gamma
    x += beta
    return x


def _gelu(x: Matrix) -> Matrix:
    """GELU, tanh form: within 5e-4 of BERT's erf GELU, embeddings within cosine 0.99999.

    numpy has no erf; a polynomial erf costs ~3 ms per query (a third of the forward pass),
    tanh costs ~0.3 ms. tests/unit/embedded_router/test_encoder.py pins the result.
    """
    inner = x * x
    inner *= np.float32(0.044715)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(math.sqrt(2.0 / math.pi))
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(0.5)
    return inner


def _map_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Read a .safetensors file (8-byte little-endian header size, JSON header, raw data).

    The word-embedding table is memory-mapped: its pages stay in the shared page cache and only
    the rows texts use are touched. Everything else is read into private memory, because it is
    copied into fused layouts anyway and a mapping would keep the file pages in this process.
    """
    with path.open("rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_size))
        data_start = 8 + header_size
        tensors: dict[str, npt.NDArray[np.generic]] = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
            shape = tuple(info["shape"])
            if name == WORD_EMBEDDINGS:
                tensors[name] = np.memmap(
                    path, dtype=dtype, mode="r", offset=data_start + begin, shape=shape
                )
                continue
            handle.seek(data_start + begin)
            raw = handle.read(end - begin)
            tensors[name] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return tensors
