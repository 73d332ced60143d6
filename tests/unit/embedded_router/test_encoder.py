"""The encoder against published and stored all-MiniLM-L6-v2 outputs, and its int8 error bound.

The float32 graph must reproduce the model; the int8 one (what workers run) must stay close to
it. Routing accuracy with int8 is checked by tests/benchmarks/bench_embedded_router.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from plano.embedded_router import SentenceEncoder
from plano.embedded_router.background import BACKGROUND_PROMPTS, FOREIGN_PROMPTS
from plano.embedded_router.encoder import _head_and_tail

REFERENCE = (
    Path(__file__).parents[2] / "data" / "router_eval" / "reference" / "minilm_embedding.json"
)


# The similarity matrix printed in sentence-transformers' quickstart for all-MiniLM-L6-v2.
PUBLISHED_SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
]
PUBLISHED_SIMILARITIES = np.array(
    [[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]
)
BATCH_TEXTS = ["short", "a somewhat longer sentence about databases and indexes", "mid length text"]


def _reference() -> tuple[str, np.ndarray]:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    expected = np.asarray(reference["embedding"], dtype=np.float32)
    return reference["sentence"], expected / np.linalg.norm(expected)


def test_float32_matches_stored_reference_embedding(float32_encoder: SentenceEncoder) -> None:
    sentence, expected = _reference()
    got = float32_encoder.encode([sentence])[0]
    assert got.shape == (384,)
    assert float(got @ expected) > 0.999


def test_float32_reproduces_published_similarities(float32_encoder: SentenceEncoder) -> None:
    vectors = float32_encoder.encode(PUBLISHED_SENTENCES)
    np.testing.assert_allclose(vectors @ vectors.T, PUBLISHED_SIMILARITIES, atol=1e-3)


def test_int8_stays_close_to_float32(
    encoder: SentenceEncoder, float32_encoder: SentenceEncoder
) -> None:
    # Measured on this set: mean cosine 0.993, min 0.987; on all 705 evaluation texts the
    # minimum is 0.96. The bounds leave room for other CPUs' int8 kernels.
    texts = [*BACKGROUND_PROMPTS[:30], *FOREIGN_PROMPTS[:10], *PUBLISHED_SENTENCES]
    exact = np.stack([float32_encoder.encode([t])[0] for t in texts])
    approx = np.stack([encoder.encode([t])[0] for t in texts])
    cosines = (exact * approx).sum(axis=1)
    assert float(cosines.mean()) > 0.985
    assert float(cosines.min()) > 0.93
    sentence, expected = _reference()
    assert float(encoder.encode([sentence])[0] @ expected) > 0.98
    vectors = encoder.encode(PUBLISHED_SENTENCES)
    np.testing.assert_allclose(vectors @ vectors.T, PUBLISHED_SIMILARITIES, atol=0.03)


def test_float32_batched_and_single_encodings_agree(float32_encoder: SentenceEncoder) -> None:
    batched = float32_encoder.encode(BATCH_TEXTS)
    single = np.stack([float32_encoder.encode([t])[0] for t in BATCH_TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_int8_batched_and_single_encodings_nearly_agree(encoder: SentenceEncoder) -> None:
    # Activations are quantized per call, so a text's vector depends slightly on its batch.
    batched = encoder.encode(BATCH_TEXTS)
    single = np.stack([encoder.encode([t])[0] for t in BATCH_TEXTS])
    assert float((batched * single).sum(axis=1).min()) > 0.97
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_concurrent_calls_from_threads_give_the_same_vectors(encoder: SentenceEncoder) -> None:
    # gevent's threadpool calls encode from several native threads at once.
    texts = [f"{prompt} ({i})" for i, prompt in enumerate(BACKGROUND_PROMPTS[:16])]
    expected = [encoder.encode([t])[0] for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda t: encoder.encode([t])[0], texts))
    np.testing.assert_array_equal(np.stack(got), np.stack(expected))


def test_serving_loads_the_installed_graph_without_onnx(model_dir: Path) -> None:
    # `onnx` and onnxruntime's quantization tools only build the graph (install, float32 loads).
    code = (
        "import sys; from pathlib import Path\n"
        "from plano.embedded_router import EmbeddedRouter, SentenceEncoder\n"
        "SentenceEncoder.load(Path(sys.argv[1])).encode(['hello'])\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'onnx' or m.startswith('onnxruntime.quantization')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(model_dir)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_empty_input_gives_empty_matrix(encoder: SentenceEncoder) -> None:
    assert encoder.encode([]).shape == (0, 384)


def test_long_text_is_cut_to_head_and_tail(encoder: SentenceEncoder) -> None:
    long_text = "word " * 1000
    assert encoder.encode([long_text], max_tokens=32).shape == (1, 384)
    ids = [101, *range(1000, 1100), 102]
    kept = _head_and_tail(ids, 12)
    assert len(kept) == 12
    assert kept[0] == 101 and kept[-1] == 102
    assert kept[1:9] == list(range(1000, 1008))
    assert kept[9:11] == [1098, 1099]
    assert _head_and_tail(ids[:5], 12) == ids[:5]


def test_huge_text_is_cheap(encoder: SentenceEncoder) -> None:
    huge = "error " * 200_000 + "why does this fail"
    assert encoder.encode([huge], max_tokens=64).shape == (1, 384)
