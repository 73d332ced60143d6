"""all-MiniLM-L6-v2's encoder layers, mean pooling and L2 norm as an ONNX graph for onnxruntime.

Built from the safetensors weights by `plano install-router-model` (int8, stored next to the
weights) or in memory at load (float32), with the `onnx` package (helper, numpy_helper) and
onnxruntime's `quantize_dynamic`. Only this build path imports them: serving loads the stored
file with onnxruntime alone (graph_io.py holds the names it needs). The graph mirrors Hugging
Face's BertModel in inference mode with sentence-transformers' mean pooling and Normalize, using
onnxruntime's fused CPU kernels (com.microsoft Attention, SkipLayerNormalization, BiasGelu: erf
GELU, as BERT). Its input is the sum of word and position embeddings, gathered by the caller
from the memory-mapped table, so the 47 MB table stays in the shared page cache.

`quantized=True` stores the attention-output and feed-forward weights as int8 (symmetric, one
scale per output column) and runs them with activations quantized per call (onnxruntime fuses
the quantized MatMuls into DynamicQuantizeMatMul at load): a forward pass reads 19 MB of weights
instead of 42 MB and uses integer GEMMs (benchmark p50 8.5 ms instead of 12.6 ms). The
query/key/value projection (inside the fused Attention node, which is not quantized) stays
float32: quantizing it too saved another ~1 ms but cost 2 points of routing accuracy
(tests/benchmarks/EMBEDDED_ROUTER_NOTES.md, "Encoder runtime").
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from plano.embedded_router.graph_io import EMBEDDINGS_INPUT, MASK_INPUT, OUTPUT

Tensors = Mapping[str, npt.NDArray[np.generic]]
_MS = "com.microsoft"
_OPSETS = {"": 17, _MS: 1}
IR_VERSION = 8  # ONNX 1.10+; every onnxruntime 1.x reads it
PRODUCER = "plano-embedded-router"


def count_layers(tensors: Tensors) -> int:
    """Number of encoder layers in a BertModel state dict."""
    return len({name.split(".")[2] for name in tensors if name.startswith("encoder.layer.")})


def build_encoder_model(tensors: Tensors, heads: int, eps: float, *, quantized: bool) -> bytes:
    """Serialized ONNX model: embeddings + mask in, one unit-length sentence vector per row out."""
    model = _float32_model(tensors, heads, eps)
    if quantized:
        model = _quantize(model)
    data: bytes = model.SerializeToString()
    return data


def _float32_model(tensors: Tensors, heads: int, eps: float) -> onnx.ModelProto:
    graph = _GraphBuilder()
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
    inputs = [
        helper.make_tensor_value_info(
            EMBEDDINGS_INPUT, TensorProto.FLOAT, ["batch", "tokens", hidden]
        ),
        helper.make_tensor_value_info(MASK_INPUT, TensorProto.INT32, ["batch", "tokens"]),
    ]
    outputs = [helper.make_tensor_value_info(sentence, TensorProto.FLOAT, ["batch", hidden])]
    body = helper.make_graph(graph.nodes, PRODUCER, inputs, outputs, graph.initializers)
    opsets = [helper.make_opsetid(domain, version) for domain, version in _OPSETS.items()]
    model = helper.make_model(body, opset_imports=opsets, producer_name=PRODUCER)
    model.ir_version = IR_VERSION
    return model


def _quantize(model: onnx.ModelProto) -> onnx.ModelProto:
    """int8 weights for every MatMul (attention output, feed-forward); Attention's QKV stays float.

    Symmetric int8 with one scale per output column (per_channel; QInt8 weights are symmetric by
    default), activations quantized per call.
    """
    hint = _DropPreprocessHint()
    root = logging.getLogger()
    root.addFilter(hint)
    try:
        with tempfile.TemporaryDirectory(prefix="plano-graph-") as tmp:
            path = Path(tmp) / "encoder-int8.onnx"
            quantize_dynamic(
                model,
                path,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                weight_type=QuantType.QInt8,
                # ONNX shape inference does not know com.microsoft ops; their outputs are float.
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
            return onnx.load(str(path))
    finally:
        root.removeFilter(hint)


class _DropPreprocessHint(logging.Filter):
    """Drops quantize_dynamic's advice to run quant_pre_process first (logged on the root logger).

    That step (shape inference, onnxruntime's graph fusions) is for exported models; ours is
    written with the fused ops already, so the advice would only confuse `install-router-model`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider")


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

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def constant(self, array: npt.NDArray[np.generic]) -> str:
        name = self._name("w")
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
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
        node = helper.make_node(op_type, inputs, [out], name=out, domain=domain)
        node.attribute.extend(helper.make_attribute(key, value) for key, value in attrs.items())
        self.nodes.append(node)
        return out

    def matmul(self, x: str, weight: npt.NDArray[np.float32]) -> str:
        """x @ weight (weight: in x out)."""
        return self.op("MatMul", [x, self.constant(weight)])

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
        mask = self.op("Cast", [MASK_INPUT], to=TensorProto.FLOAT)
        mask3 = self.op("Unsqueeze", [mask, self.constant(np.array([2], dtype=np.int64))])
        tokens_axis = self.constant(np.array([1], dtype=np.int64))
        summed = self.op("ReduceSum", [self.op("Mul", [x, mask3]), tokens_axis], keepdims=0)
        count = self.op("ReduceSum", [mask3, tokens_axis], keepdims=0)
        count = self.op("Max", [count, self.constant(np.array([1.0], dtype=np.float32))])
        pooled = self.op("Div", [summed, count])
        return self.op("LpNormalization", [pooled], out=OUTPUT, axis=1, p=2)
