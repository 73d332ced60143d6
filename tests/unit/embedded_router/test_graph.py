"""The onnxruntime graph against a plain numpy BertModel forward pass, on a tiny random model."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort

from plano.embedded_router.graph import build_encoder_model, count_layers
from plano.embedded_router.graph_io import EMBEDDINGS_INPUT, MASK_INPUT

from .tiny_bert import HEADS, LAYERS, bert_tensors

EPS = 1e-12


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    normed: np.ndarray = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + EPS)
    scaled: np.ndarray = normed * gamma + beta
    return scaled


def _reference(t: dict[str, np.ndarray], embeddings: np.ndarray) -> np.ndarray:
    """Hugging Face BertModel (one unpadded text) + mean pooling + L2 norm, float64."""
    x = _layer_norm(embeddings, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    width, hidden = x.shape
    head_dim = hidden // HEADS
    erf = np.vectorize(math.erf)
    for layer in range(LAYERS):

        def dense(name: str, inputs: np.ndarray, p: str = f"encoder.layer.{layer}.") -> np.ndarray:
            out: np.ndarray = inputs @ t[f"{p}{name}.weight"].T
            out = out + t[f"{p}{name}.bias"]
            return out

        def norm(name: str, inputs: np.ndarray, p: str = f"encoder.layer.{layer}.") -> np.ndarray:
            return _layer_norm(inputs, t[f"{p}{name}.weight"], t[f"{p}{name}.bias"])

        q, k, v = (
            dense(f"attention.self.{n}", x).reshape(width, HEADS, head_dim).transpose(1, 0, 2)
            for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(width, hidden)
        x = norm("attention.output.LayerNorm", dense("attention.output.dense", context) + x)
        up = dense("intermediate.dense", x)
        gelu = 0.5 * up * (1.0 + erf(up / math.sqrt(2.0)))
        x = norm("output.LayerNorm", dense("output.dense", gelu) + x)
    pooled = x.mean(axis=0)
    unit: np.ndarray = pooled / np.linalg.norm(pooled)
    return unit


def _session(tensors: dict[str, np.ndarray], quantized: bool) -> ort.InferenceSession:
    model = build_encoder_model(tensors, HEADS, EPS, quantized=quantized)
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def _embeddings(t: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    word = t["embeddings.word_embeddings.weight"][ids]
    position = t["embeddings.position_embeddings.weight"][: len(ids)]
    summed: np.ndarray = word + position + t["embeddings.token_type_embeddings.weight"][0]
    return summed.astype(np.float32)


def _run(session: ort.InferenceSession, embeddings: np.ndarray, mask: np.ndarray) -> np.ndarray:
    result: np.ndarray = session.run(None, {EMBEDDINGS_INPUT: embeddings, MASK_INPUT: mask})[0]
    return result


def test_float32_graph_matches_numpy_bert_and_ignores_padding() -> None:
    t = bert_tensors()
    assert count_layers(t) == LAYERS
    session = _session(t, quantized=False)
    short, long = [1, 5, 7, 2], [1, 3, 4, 9, 10, 11, 2]
    batch = np.zeros((2, len(long), t["embeddings.LayerNorm.weight"].shape[0]), np.float32)
    batch[0, : len(short)] = _embeddings(t, short)
    batch[1] = _embeddings(t, long)
    mask = np.array([[1] * len(short) + [0] * 3, [1] * len(long)], dtype=np.int32)
    got = _run(session, batch, mask)
    expected = np.stack([_reference(t, _embeddings(t, ids)) for ids in (short, long)])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    alone = _run(session, _embeddings(t, short)[None], np.ones((1, len(short)), np.int32))
    np.testing.assert_allclose(alone[0], got[0], atol=1e-5)


def test_int8_graph_stays_close_to_float32() -> None:
    t = bert_tensors(seed=1)
    ids = [1, 4, 6, 8, 3, 2]
    inputs = (_embeddings(t, ids)[None], np.ones((1, len(ids)), np.int32))
    exact = _run(_session(t, quantized=False), *inputs)[0]
    approx = _run(_session(t, quantized=True), *inputs)[0]
    assert abs(float(np.linalg.norm(approx)) - 1.0) < 1e-5
    assert float(exact @ approx) > 0.98
