"""all-MiniLM-L6-v2 sentence vectors: tokenizers + onnxruntime, one intra-op thread.

Mirrors sentence-transformers' pipeline for this model (Transformer with max_seq_length 256 ->
mean Pooling -> Normalize). The encoder layers run in onnxruntime (graph.py); the word-embedding
rows are gathered here from the memory-mapped safetensors file, so the 47 MB table stays in the
page cache, shared by every worker, and only rows a text uses are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from plano.embedded_router.graph_io import EMBEDDINGS_INPUT, MASK_INPUT
from plano.embedded_router.model_files import (
    ENCODER_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    check_model_dir,
    encoder_graph,
)
from plano.embedded_router.weights import Tensors, map_safetensors

Matrix = npt.NDArray[np.float32]
MAX_SEQ_TOKENS = 256
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
# Like OPENBLAS_NUM_THREADS=1 (plano.cli.boot): gunicorn already runs one worker per core.
INTRA_OP_THREADS = 1


class SentenceEncoder:
    """Turns texts into L2-normalised 384-d sentence vectors; load once per worker and share.

    `encode` may be called from several threads at once (gevent's threadpool):
    onnxruntime's InferenceSession.run is thread-safe and releases the GIL.
    """

    def __init__(self, tokenizer: Tokenizer, tensors: Tensors, graph: Path | bytes) -> None:
        self._tokenizer = tokenizer
        self._word = tensors[WORD_EMBEDDINGS]
        self._position = np.array(
            tensors["embeddings.position_embeddings.weight"][:MAX_SEQ_TOKENS], dtype=np.float32
        )
        # Every text is one segment, so token type 0 folds into the position table.
        self._position += tensors["embeddings.token_type_embeddings.weight"][0]
        self.dim = int(self._word.shape[1])
        model = str(graph) if isinstance(graph, Path) else graph
        self._session = ort.InferenceSession(
            model, _session_options(), providers=["CPUExecutionProvider"]
        )

    @classmethod
    def load(cls, model_dir: Path, *, quantized: bool = True) -> SentenceEncoder:
        """Load the tokenizer, the embeddings and the installed graph; raises RouterModelMissing.

        quantized=False builds a float32 graph in memory instead (~0.6 s, ~60-90 MiB more RSS,
        about 1.5x the latency): it reproduces the published model outputs, which the int8
        layers only approximate (cosine to float32 0.993 on average, 0.96 at worst, on the
        evaluation texts; same routing accuracy).
        """
        check_model_dir(model_dir)
        tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.no_truncation()  # encode() keeps the head and the tail of long texts itself
        graph = model_dir / ENCODER_FILE if quantized else encoder_graph(model_dir, quantized=False)
        return cls(tokenizer, map_safetensors(model_dir / WEIGHTS_FILE), graph)

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
            # tokenizing is ~40 us per text next to a several-ms forward pass.
            for e in (self._tokenizer.encode(_trim_chars(text, max_tokens)) for text in texts)
        ]
        # Texts of similar length share a batch so padding stays small; one batch reads the
        # layer weights once, which is most of the cost for short texts.
        order = sorted(range(len(texts)), key=lambda i: len(sequences[i]))
        for start in range(0, len(order), 32):
            chunk = order[start : start + 32]
            width = max(len(sequences[i]) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int32)
            for row, i in enumerate(chunk):
                seq = sequences[i]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            out[chunk] = self._forward(ids, mask)
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int32]) -> Matrix:
        embeddings = self._word[ids].astype(np.float32) + self._position[: ids.shape[1]]
        feeds = {EMBEDDINGS_INPUT: embeddings, MASK_INPUT: mask}
        result: Matrix = self._session.run(None, feeds)[0]
        return result


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = INTRA_OP_THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Never busy-wait for work: the worker's other greenlets need the core.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


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
