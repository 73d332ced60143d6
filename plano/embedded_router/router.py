"""Preference routing in-process: embed route texts once, score the latest user intent against them.

How a decision is made (numbers behind each step: tests/benchmarks/EMBEDDED_ROUTER_NOTES.md):
1. Views. Each route is embedded as "name: description", the description, each sentence, each
   clause (split at commas, "and", "or"), the bare name and each example. Users name one aspect
   of a route ("my parcel is late"), which a clause view matches better than the whole text.
2. Contrast. Each view vector has part of the route set's mean view removed, so what the routes
   share ("questions about the product") weighs less than what tells them apart.
3. Calibration. Each view's cosine is turned into a z-score against generic prompts, English
   and a few in German, French and Spanish (background.py): broad views that are close to
   everything, or to any foreign text, stop winning every query. A route's score is its best
   view's z plus twice the mean z of its views.
4. Conversation. User turns count (German, French, Spanish, Italian and Portuguese ones as a
   word-by-word English gloss, gloss.py: the encoder is an English model), plus the assistant's
   question a short reply answers. A latest turn of several sentences is scored whole and
   sentence by sentence; its scores are the mean of the whole turn's and each route's best
   sentence's, so one clear request inside a long message counts. When the latest turn is
   short ("now in Java"), the previous user turn is scored too and the two score vectors are
   averaged; if the assistant asked a question just before it ("Which one do you want to
   drop?" - "intro to philosophy"), the short turn is read together with that question, since
   the reply alone says little.
5. No route. The best route must reach a z threshold, and its cosine must beat the query's
   cosine to the closest generic or small-talk prompts by a margin, which turns small talk
   and off-topic requests away.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from plano.embedded_router.background import (
    BACKGROUND_PROMPTS,
    FOREIGN_PROMPTS,
    SMALL_TALK_PROMPTS,
)
from plano.embedded_router.encoder import Matrix, SentenceEncoder
from plano.embedded_router.gloss import Glosser
from plano.embedded_router.model_files import DEFAULT_MODEL_DIR, load_lexicon

USER_ROLE = "user"
ASSISTANT_ROLE = "assistant"
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_QUERY_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:()]|\band\b|\bor\b|\.\s|\.$)\s*")
_NAME_SEPARATORS = re.compile(r"[_\-./]+")


@dataclass(frozen=True, slots=True)
class RouteText:
    """What the router needs from a route."""

    name: str
    description: str
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A list from a parsed config would make the route unhashable (routes are cache keys).
        if not isinstance(self.examples, tuple):
            object.__setattr__(self, "examples", tuple(self.examples))


@dataclass(frozen=True, slots=True)
class RouterParams:
    """Scoring knobs; defaults calibrated on tests/data/router_eval (see the benchmark notes)."""

    min_z: float = 2.0  # the best route's calibrated score must reach this
    min_margin: float = -0.08  # best route cosine minus mean cosine to the closest anchors
    margin_top_k: int = 3  # how many closest generic/small-talk anchors the margin uses
    view_mean_weight: float = 2.0  # route score = best view z + this * mean view z
    contrast: float = 0.6  # share of the route set's mean view removed from each view vector
    short_turn_tokens: int = 10  # a latest user turn this short is read with the previous one
    previous_weight: float = 0.5  # weight of the previous user turn's scores after a short turn
    sentence_weight: float = 0.5  # share of the best sentence's scores in a multi-sentence turn
    max_sentences: int = 6  # a latest turn with more sentences is scored whole only (latency)
    max_query_tokens: int = 64  # longer turns keep their head and tail (bounds latency)


@dataclass(frozen=True, slots=True)
class RouteIndex:
    """Embedded, calibrated views of one route set: row i of `vectors` belongs to `owners[i]`."""

    names: tuple[str, ...]
    vectors: Matrix
    owners: npt.NDArray[np.intp]
    baseline: Matrix  # mean cosine of each view to the generic prompts
    spread: Matrix  # their standard deviation
    view_counts: Matrix

    def scores(self, query: Matrix, view_mean_weight: float) -> tuple[Matrix, Matrix]:
        """Per route: calibrated score and best raw cosine, for one query vector."""
        raw = self.vectors @ query
        z = (raw - self.baseline) / self.spread
        best_z = np.full(len(self.names), -np.inf, dtype=np.float32)
        np.maximum.at(best_z, self.owners, z)
        best_raw = np.full(len(self.names), -np.inf, dtype=np.float32)
        np.maximum.at(best_raw, self.owners, raw)
        mean_z = np.bincount(self.owners, weights=z, minlength=len(self.names)) / self.view_counts
        calibrated: Matrix = (best_z + view_mean_weight * mean_z).astype(np.float32)
        return calibrated, best_raw


def route_views(route: RouteText) -> list[str]:
    """The texts a route is embedded under (deduplicated, order kept)."""
    name = _NAME_SEPARATORS.sub(" ", route.name).strip()
    description = " ".join(route.description.split())
    views: list[str] = []
    if description:
        views += [f"{name}: {description}", description]
        sentences = [s for s in _SENTENCE_END.split(description) if len(s.split()) >= 3]
        if len(sentences) > 1:
            views += sentences
        views += [
            c for c in (p.strip(" .") for p in _CLAUSE_BREAK.split(description)) if len(c) > 2
        ]
    views.append(name)
    views += [" ".join(e.split()) for e in route.examples if e.strip()]
    return list(dict.fromkeys(v for v in views if v))


def user_turns(conversation: Sequence[tuple[str, str]]) -> list[str]:
    """Non-empty user texts, oldest first; system, developer, assistant and tool turns ignored."""
    return [
        " ".join(text.split()) for role, text in conversation if role == USER_ROLE and text.strip()
    ]


def question_before_latest(conversation: Sequence[tuple[str, str]]) -> str:
    """The assistant's question the latest user turn answers: the last sentence of the assistant
    turn between the last two user turns, when it ends with "?"; otherwise ""."""
    for role, text in reversed(conversation[: _latest_user_index(conversation)]):
        if role == USER_ROLE:
            return ""
        if role == ASSISTANT_ROLE and text.strip():
            last_sentence = _QUERY_SENTENCE_END.split(" ".join(text.split()))[-1]
            return last_sentence if last_sentence.endswith("?") else ""
    return ""


def _latest_user_index(conversation: Sequence[tuple[str, str]]) -> int:
    for index in range(len(conversation) - 1, -1, -1):
        role, text = conversation[index]
        if role == USER_ROLE and text.strip():
            return index
    return 0


class EmbeddedRouter:
    """Picks the route whose description fits the latest user intent, or None."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        routes: Sequence[RouteText],
        params: RouterParams | None = None,
        cache_size: int = 4096,
        glosser: Glosser | None = None,
    ) -> None:
        self.encoder = encoder
        self.params = params or RouterParams()
        # Without a glosser, foreign user turns reach the encoder as written.
        self.glosser = glosser
        # lru_cache's C implementation is safe to call from several threadpool threads.
        self._embed_text = lru_cache(maxsize=cache_size)(self._embed_uncached)
        self._index_for = lru_cache(maxsize=64)(self._build_index)
        background = np.stack([self._embed_text(t) for t in BACKGROUND_PROMPTS])
        small_talk = np.stack([self._embed_text(t) for t in SMALL_TALK_PROMPTS])
        foreign = np.stack([self._embed_text(t) for t in FOREIGN_PROMPTS])
        self._calibration = np.concatenate([background, foreign])
        self._no_route_anchors = np.concatenate([background, small_talk])
        self._index = self._index_for(tuple(routes))

    @classmethod
    def load(
        cls, routes: Sequence[RouteText], model_dir: Path = DEFAULT_MODEL_DIR
    ) -> EmbeddedRouter:
        """Load the encoder and gloss lexicon from model_dir and index routes; raises
        RouterModelMissing."""
        encoder = SentenceEncoder.load(model_dir)
        return cls(encoder, routes, glosser=Glosser(load_lexicon(model_dir)))

    def choose(self, conversation: Sequence[tuple[str, str]]) -> str | None:
        """Route name for the conversation's latest user intent, or None when nothing fits."""
        return self._choose(self._index, conversation)

    def choose_for(
        self, routes: Sequence[RouteText], conversation: Sequence[tuple[str, str]]
    ) -> str | None:
        """Like choose, against per-request routes; their embeddings are cached by text."""
        return self._choose(self._index_for(tuple(routes)), conversation)

    def scores(
        self, routes: Sequence[RouteText], conversation: Sequence[tuple[str, str]]
    ) -> dict[str, float]:
        """Each route's calibrated score for the conversation (for dry runs and calibration)."""
        index = self._index_for(tuple(routes))
        scored = self._score(index, conversation)
        if scored is None:
            return {}
        return {name: float(s) for name, s in zip(index.names, scored[0], strict=True)}

    def _choose(self, index: RouteIndex, conversation: Sequence[tuple[str, str]]) -> str | None:
        if not index.names:
            return None
        scored = self._score(index, conversation)
        if scored is None:
            return None
        calibrated, raw, background = scored
        best = int(np.argmax(calibrated))
        if calibrated[best] < self.params.min_z or raw[best] - background < self.params.min_margin:
            return None
        return index.names[best]

    def _score(
        self, index: RouteIndex, conversation: Sequence[tuple[str, str]]
    ) -> tuple[Matrix, Matrix, float] | None:
        """Calibrated and raw route scores, and the query's closeness to generic prompts."""
        turns = user_turns(conversation)
        if not turns:
            return None
        if self.glosser is not None:
            turns = [self.glosser.gloss(turn) for turn in turns[-2:]]  # only these are read
        params = self.params
        latest = turns[-1]
        texts = [latest]
        if self.encoder.token_count(latest) <= params.short_turn_tokens:
            question = question_before_latest(conversation)
            if question:
                texts = [f"{question} {latest}"]
            if len(turns) > 1:
                texts.append(turns[-2])
        sentences = [s for s in _QUERY_SENTENCE_END.split(texts[0]) if s]
        if not 1 < len(sentences) <= params.max_sentences:
            sentences = []
        # One forward pass for all texts: the layer weights are streamed from memory once.
        vectors = self.encoder.encode(texts + sentences, max_tokens=params.max_query_tokens)
        queries = vectors[: len(texts)]
        weights = (
            [1.0] if len(texts) == 1 else [1.0 - params.previous_weight, params.previous_weight]
        )
        calibrated = np.zeros(len(index.names), dtype=np.float32)
        raw = np.zeros(len(index.names), dtype=np.float32)
        background = 0.0
        top_k = max(1, min(params.margin_top_k, len(self._no_route_anchors)))
        for position, (weight, query) in enumerate(zip(weights, queries, strict=True)):
            route_z, route_raw = index.scores(query, params.view_mean_weight)
            if position == 0 and sentences:
                best_sentence = np.max(
                    [index.scores(v, params.view_mean_weight)[0] for v in vectors[len(texts) :]],
                    axis=0,
                )
                route_z = (
                    1.0 - params.sentence_weight
                ) * route_z + params.sentence_weight * best_sentence
            calibrated += weight * route_z
            raw += weight * route_raw
            closest = np.partition(self._no_route_anchors @ query, -top_k)[-top_k:]
            background += weight * float(closest.mean())
        return calibrated, raw, background

    def _embed_uncached(self, text: str) -> Matrix:
        vector: Matrix = self.encoder.encode([text])[0]
        vector.flags.writeable = False
        return vector

    def _build_index(self, routes: tuple[RouteText, ...]) -> RouteIndex:
        names = tuple(route.name for route in routes)
        if len(set(names)) != len(names):
            raise ValueError(f"route names must be unique: {names}")
        texts: list[str] = []
        owners: list[int] = []
        for position, route in enumerate(routes):
            views = route_views(route)
            texts += views
            owners += [position] * len(views)
        if not texts:
            empty = np.empty((0,), dtype=np.float32)
            return RouteIndex(
                names,
                np.empty((0, self.encoder.dim), np.float32),
                np.empty((0,), np.intp),
                empty,
                empty,
                empty,
            )
        vectors = np.stack([self._embed_text(t) for t in texts]).astype(np.float32)
        vectors -= self.params.contrast * vectors.mean(axis=0)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        against_background = self._calibration @ vectors.T
        owner_array = np.asarray(owners, dtype=np.intp)
        return RouteIndex(
            names=names,
            vectors=vectors,
            owners=owner_array,
            baseline=against_background.mean(axis=0).astype(np.float32),
            spread=np.maximum(against_background.std(axis=0), 1e-3).astype(np.float32),
            view_counts=np.bincount(owner_array, minlength=len(names)).astype(np.float32),
        )
