"""Accuracy, latency and memory of the embedded router on tests/data/router_eval.

Run from the repository root (the model must be installed: `plano install-router-model`):

    python tests/benchmarks/bench_embedded_router.py [--model-dir DIR] [--with-examples] [--float32]
        [--eval-dir DIR] [--no-gloss]

`--eval-dir tests/data/router_eval_holdout` measures on the held-out set, which was not used to
tune the router (the default set was).

Prints per config and overall: accuracy, per-route confusion, no-route precision/recall, accuracy
by tag (followup, non_english, ...), p50/p95 decision latency on one thread, and the RSS the
router added to this process. `--sweep` also prints accuracy for a range of thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EVAL_DIR = REPO / "tests" / "data" / "router_eval"
NO_ROUTE = "(none)"


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled conversation."""

    conversation: tuple[tuple[str, str], ...]
    expected: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """One route config with its labelled conversations."""

    name: str
    routes: tuple[Any, ...]
    cases: tuple[Case, ...]


def load_configs(with_examples: bool, eval_dir: Path = EVAL_DIR) -> list[EvalConfig]:
    """Read every eval file under eval_dir (by default tests/data/router_eval)."""
    from plano.embedded_router import RouteText

    configs = []
    for path in sorted(eval_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        routes = tuple(
            RouteText(
                name=r["name"],
                description=r["description"],
                examples=tuple(r.get("examples", ())) if with_examples else (),
            )
            for r in data["routes"]
        )
        cases = tuple(
            Case(
                conversation=tuple((role, text) for role, text in c["conversation"]),
                expected=c["expected"],
                tags=tuple(c.get("tags", ())),
            )
            for c in data["cases"]
        )
        configs.append(EvalConfig(data["config"], routes, cases))
    return configs


def rss_kib() -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of this process in KiB (Linux)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def evaluate(router: Any, config: EvalConfig, verbose: bool) -> dict[str, Any]:
    """Run every case of config through router.choose_for; return counts and latencies."""
    latencies_ms = []
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    by_tag: dict[str, list[bool]] = defaultdict(list)
    correct = 0
    english: list[bool] = []
    for case in config.cases:
        start = time.perf_counter()
        got = router.choose_for(config.routes, case.conversation)
        latencies_ms.append((time.perf_counter() - start) * 1000.0)
        ok = got == case.expected
        correct += ok
        confusion[case.expected or NO_ROUTE][got or NO_ROUTE] += 1
        for tag in case.tags or ("single_turn",):
            by_tag[tag].append(ok)
        if "non_english" not in case.tags:
            english.append(ok)
        if verbose and not ok:
            last = [t for r, t in case.conversation if r == "user"][-1]
            print(f"  MISS want={case.expected} got={got}: {last[:90]!r}")
    return {
        "n": len(config.cases),
        "correct": correct,
        "latencies_ms": latencies_ms,
        "confusion": confusion,
        "by_tag": by_tag,
        "english": english,
    }


def print_report(name: str, routes: list[str], result: dict[str, Any]) -> None:
    """Print accuracy, confusion, no-route precision/recall and latency for one result."""
    n, correct = result["n"], result["correct"]
    english = result["english"]
    print(
        f"\n== {name}: accuracy {correct}/{n} = {100.0 * correct / n:.1f}%"
        f"  (English prompts only: {100.0 * sum(english) / max(len(english), 1):.1f}%,"
        f" n={len(english)})"
    )
    confusion = result["confusion"]
    if routes:
        labels = [*routes, NO_ROUTE]
        width = max(len(label) for label in labels)
        print(f"{'expected/got':>{width}}  " + " ".join(f"{i:>4}" for i in range(len(labels))))
        for i, label in enumerate(labels):
            row = confusion.get(label, Counter())
            total = sum(row.values())
            if not total:
                continue
            cells = " ".join(f"{row.get(col, 0):>4}" for col in labels)
            recall = 100.0 * row.get(label, 0) / total
            print(f"{label:>{width}}  {cells}   [{i}] recall {recall:.0f}%")
    predicted_none = sum(row.get(NO_ROUTE, 0) for row in confusion.values())
    true_none = confusion.get(NO_ROUTE, Counter())
    hit_none = true_none.get(NO_ROUTE, 0)
    precision = hit_none / predicted_none if predicted_none else float("nan")
    recall = hit_none / sum(true_none.values()) if true_none else float("nan")
    print(f"no-route precision {100 * precision:.0f}% recall {100 * recall:.0f}%")
    tags = ", ".join(
        f"{tag} {100.0 * sum(v) / len(v):.0f}% (n={len(v)})"
        for tag, v in sorted(result["by_tag"].items())
    )
    print(f"by tag: {tags}")
    lat = sorted(result["latencies_ms"])
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
    print(f"latency p50 {statistics.median(lat):.2f} ms  p95 {p95:.2f} ms  max {lat[-1]:.2f} ms")


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool several evaluate() results."""
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    by_tag: dict[str, list[bool]] = defaultdict(list)
    english: list[bool] = []
    for r in results:
        english.extend(r["english"])
        for key, row in r["confusion"].items():
            confusion[key].update(row)
        for key, values in r["by_tag"].items():
            by_tag[key].extend(values)
    return {
        "n": sum(r["n"] for r in results),
        "correct": sum(r["correct"] for r in results),
        "latencies_ms": [x for r in results for x in r["latencies_ms"]],
        "confusion": confusion,
        "by_tag": by_tag,
        "english": english,
    }


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--with-examples", action="store_true")
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR, help="labelled set to read")
    parser.add_argument("--sweep", action="store_true", help="accuracy per threshold")
    parser.add_argument("--verbose", action="store_true", help="print every miss")
    parser.add_argument(
        "--float32", action="store_true", help="float32 layers instead of the default int8"
    )
    parser.add_argument(
        "--no-gloss", action="store_true", help="encode foreign turns as written (no gloss)"
    )
    args = parser.parse_args()
    # One BLAS thread: the target is latency on one core, and gunicorn runs a worker per core.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

    before = rss_kib()
    from plano.embedded_router import DEFAULT_MODEL_DIR, EmbeddedRouter, SentenceEncoder
    from plano.embedded_router.gloss import Glosser
    from plano.embedded_router.model_files import load_lexicon

    model_dir = args.model_dir or Path(os.environ.get("PLANO_ROUTER_MODEL_DIR", DEFAULT_MODEL_DIR))
    configs = load_configs(args.with_examples, args.eval_dir)
    start = time.perf_counter()
    encoder = SentenceEncoder.load(model_dir, quantized=not args.float32)
    glosser = None if args.no_gloss else Glosser(load_lexicon(model_dir))
    router = EmbeddedRouter(encoder, configs[0].routes, glosser=glosser)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    for config in configs:
        router.choose_for(config.routes, [("user", "warm up")])
    index_s = time.perf_counter() - start
    print(
        f"model {model_dir}; load {load_s:.2f}s; indexing {len(configs)} route sets {index_s:.2f}s"
    )
    print(f"params {router.params}")

    results = []
    for config in configs:
        if args.verbose:
            print(f"\n-- misses in {config.name}")
        results.append(evaluate(router, config, args.verbose))
    after = rss_kib()
    for config, result in zip(configs, results, strict=True):
        print_report(config.name, [r.name for r in config.routes], result)
    print_report("all configs", [], merge(results))
    deltas = {k: (after[k] - before.get(k, 0)) / 1024.0 for k in after}
    print(
        f"RSS increase {deltas['VmRSS']:.1f} MiB (anonymous {deltas['RssAnon']:.1f} MiB, "
        f"file-backed/shared {deltas['RssFile']:.1f} MiB)"
    )
    if args.sweep:
        for threshold in [x / 4.0 for x in range(17)]:
            params = replace(router.params, min_z=threshold)
            swept = EmbeddedRouter(encoder, (), params, glosser=glosser)
            pooled = merge([evaluate(swept, c, False) for c in configs])
            print(f"min_z {threshold:.2f}: {100.0 * pooled['correct'] / pooled['n']:.1f}%")


if __name__ == "__main__":
    main()
