"""The encoder graph's input and output names and its version: what serving needs of graph.py.

Kept apart from graph.py so that loading the installed graph file never imports `onnx` or
onnxruntime's quantization tools, which only `plano install-router-model` (and float32 test
builds) need.
"""

from __future__ import annotations

EMBEDDINGS_INPUT = "embeddings"  # (batch, tokens, hidden) float32: word + position rows
MASK_INPUT = "mask"  # (batch, tokens) int32: 1 for real tokens, 0 for padding
OUTPUT = "sentence"  # (batch, hidden) float32, L2-normalised
# Bump whenever the graph built from the same weights changes: installed files carry it in their
# name (model_files.ENCODER_FILE), so an upgrade asks for `plano install-router-model` again.
GRAPH_VERSION = 2
