"""The numpy forward pass against published and stored all-MiniLM-L6-v2 outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from plano.embedded_router import SentenceEncoder
from plano.embedded_router.encoder import _head_and_tail

REFERENCE = (
    Path(__file__).parents[2] / "data" / "router_eval" / "reference" / "minilm_embedding.json"
)


def test_matches_stored_reference_embedding(encoder: SentenceEncoder) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    expected = np.asarray(reference["embedding"], dtype=np.float32)
    got = encoder.encode([reference["sentence"]])[0]
    assert got.shape == (384,)
    assert float(got @ expected / np.linalg.norm(expected)) > 0.999


def test_reproduces_published_sentence_transformers_similarities(encoder: SentenceEncoder) -> None:
    # The similarity matrix printed in sentence-transformers' quickstart for all-MiniLM-L6-v2.
    sentences = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ]
    vectors = encoder.encode(sentences)
    sims = vectors @ vectors.T
    published = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    np.testing.assert_allclose(sims, published, atol=1e-3)


def test_batched_and_single_encodings_agree(encoder: SentenceEncoder) -> None:
    texts = ["short", "a somewhat longer sentence about databases and indexes", "mid length text"]
    batched = encoder.encode(texts)
    single = np.stack([encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


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
