"""all-MiniLM-L6-v2's encoder layers, mean pooling and L2 norm as an ONNX graph for onnxruntime.

Built from the safetensors weights by `plano install-router-model` (int8, stored next to the
weights) or in memory at load (float32), with no converter package: onnx_proto.py writes the
protobuf. The graph mirrors Hugging Face's BertModel in inference mode with sentence-transformers'
mean pooling and Normalize, using onnxruntime's fused CPU kernels (com.microsoft Attention,
SkipLayerNormalization, BiasGelu: erf GELU, as BERT). Its input is the sum of word and position
embeddings, gathered by the caller from the memory-mapped table, so the 47 MB table stays in the
shared page cache.

`quantized=True` stores the attention-output and feed-forward weights as int8 (one scale per
output column) and runs them with DynamicQuantizeMatMul (activations quantized per call): a
forward pass reads 19 MB of weights instead of 42 MB and uses integer GEMMs (benchmark p50
8.5 ms instead of 12.6 ms). The query/key/value projection stays float32: quantizing it too
saved another ~1 ms but cost 2 points of routing accuracy (tests/benchmarks/
EMBEDDED_ROUTER_NOTES.md, "Encoder runtime").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from plano.embedded_router import onnx_proto as pb

Tensors = Mapping[str, npt.NDArray[np.generic]]
EMBEDDINGS_INPUT = "embeddings"  # (batch, tokens, hidden) float32: word + position rows
MASK_INPUT = "mask"  # (batch, tokens) int32: 1 for real tokens, 0 for padding
OUTPUT = "sentence"  # (batch, hidden) float32, L2-normalised
# Bump whenever the graph built from the same weights changes: installed files carry it in their
# name (model_files.ENCODER_FILE), so an upgrade asks for `plano install-router-model` again.
GRAPH_VERSION = 1
_MS = "com.microsoft"
_OPSETS = {"": 17, _MS: 1}


def count_layers(tensors: Tensors) -> int:
    """Number of encoder layers in a BertModel state dict."""
    return len({name.split(".")[2] for name in tensors if name.startswith("encoder.layer.")})


def build_encoder_model(tensors: Tensors, heads: int, eps: float, *, quantized: bool) -> bytes:
    """Serialized ONNX model: embeddings + mask in, one unit-length sentence vector per row out."""
    graph = _GraphBuilder(quantized)
    x = graph.layer_norm(
        EMBEDDINGS_INPUT,
        tensors["embeddings.LayerNorm.weight"],
        tensors["embeddings.LayerNorm.bias"],
        eps,
    )
    for index in range(count_layers(tensors)):
        x = _encoder_layer(graph, tensors, f"encoder.layer.{index}.", x, heads, eps)
    sentence = graph.mean_pool_and_normalize(x)
    hidden = int(tensors["embeddings.LayerNorm.weight"].shape[0])
    return pb.model(
        graph.nodes,
        graph.initializers,
        inputs=[
            pb.value_info(EMBEDDINGS_INPUT, pb.FLOAT, ["batch", "tokens", hidden]),
            pb.value_info(MASK_INPUT, pb.INT32, ["batch", "tokens"]),
        ],
        outputs=[pb.value_info(sentence, pb.FLOAT, ["batch", hidden])],
        opsets=_OPSETS,
        producer="plano-embedded-router",
    )


def _encoder_layer(
    graph: _GraphBuilder, tensors: Tensors, prefix: str, x: str, heads: int, eps: float
) -> str:
    def get(name: str) -> npt.NDArray[np.float32]:
        return np.asarray(tensors[prefix + name], dtype=np.float32)

    attn = "attention.self."
    qkv_w = np.concatenate([get(f"{attn}{p}.weight") for p in ("query", "key", "value")]).T
    qkv_b = np.concatenate([get(f"{attn}{p}.bias") for p in ("query", "key", "value")])
    attended = graph.attention(x, qkv_w, qkv_b, heads)
    projected = graph.matmul(attended, get("attention.output.dense.weight").T)
    x = graph.skip_layer_norm(
        projected,
        x,
        get("attention.output.LayerNorm.weight"),
        get("attention.output.LayerNorm.bias"),
        get("attention.output.dense.bias"),
        eps,
    )
    up = graph.matmul(x, get("intermediate.dense.weight").T)
    activated = graph.op("BiasGelu", [up, graph.constant(get("intermediate.dense.bias"))], _MS)
    down = graph.matmul(activated, get("output.dense.weight").T)
    return graph.skip_layer_norm(
        down,
        x,
        get("output.LayerNorm.weight"),
        get("output.LayerNorm.bias"),
        get("output.dense.bias"),
        eps,
    )


class _GraphBuilder:
    """Collects nodes and initializers; every value gets a fresh name."""

    def __init__(self, quantized: bool) -> None:
        self.quantized = quantized
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self._count = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def constant(self, array: npt.NDArray[np.generic]) -> str:
        name = self._name("w")
        self.initializers.append(pb.tensor(name, np.ascontiguousarray(array)))
        return name

    def op(
        self,
        op_type: str,
        inputs: list[str],
        domain: str = "",
        *,
        out: str = "",
        **attrs: int | float,
    ) -> str:
        out = out or self._name(op_type.lower())
        self.nodes.append(pb.node(op_type, inputs, [out], domain=domain, **attrs))
        return out

    def matmul(self, x: str, weight: npt.NDArray[np.float32]) -> str:
        """x @ weight (weight: in x out); int8 per output column when quantized."""
        if not self.quantized:
            return self.op("MatMul", [x, self.constant(weight)])
        scale = np.abs(weight).max(axis=0) / np.float32(127.0)
        scale[scale == 0.0] = 1.0
        q = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
        zero = np.zeros(weight.shape[1], dtype=np.int8)
        inputs = [x, self.constant(q), self.constant(scale.astype(np.float32))]
        return self.op("DynamicQuantizeMatMul", [*inputs, self.constant(zero)], _MS)

    def attention(
        self, x: str, qkv_w: npt.NDArray[np.float32], qkv_b: npt.NDArray[np.float32], heads: int
    ) -> str:
        weights = [x, self.constant(qkv_w), self.constant(qkv_b), MASK_INPUT]
        return self.op("Attention", weights, _MS, num_heads=heads)

    def layer_norm(
        self, x: str, gamma: npt.NDArray[np.generic], beta: npt.NDArray[np.generic], eps: float
    ) -> str:
        params = [self.constant(np.asarray(p, dtype=np.float32)) for p in (gamma, beta)]
        return self.op("LayerNormalization", [x, *params], axis=-1, epsilon=eps)

    def skip_layer_norm(
        self,
        x: str,
        skip: str,
        gamma: npt.NDArray[np.float32],
        beta: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        eps: float,
    ) -> str:
        """LayerNorm(x + bias + skip): the dense layer's bias, residual and norm in one kernel."""
        params = [self.constant(p) for p in (gamma, beta, bias)]
        return self.op("SkipLayerNormalization", [x, skip, *params], _MS, epsilon=eps)

    def mean_pool_and_normalize(self, x: str) -> str:
        """Mean over real tokens (padding masked out), then L2 norm: sentence-transformers' head."""
        mask = self.op("Cast", [MASK_INPUT], to=pb.FLOAT)
        mask3 = self.op("Unsqueeze", [mask, self.constant(np.array([2], dtype=np.int64))])
        tokens_axis = self.constant(np.array([1], dtype=np.int64))
        summed = self.op("ReduceSum", [self.op("Mul", [x, mask3]), tokens_axis], keepdims=0)
        count = self.op("ReduceSum", [mask3, tokens_axis], keepdims=0)
        count = self.op("Max", [count, self.constant(np.array([1.0], dtype=np.float32))])
        pooled = self.op("Div", [summed, count])
        return self.op("LpNormalization", [pooled], out=OUTPUT, axis=1, p=2)
