"""The memory-mapped lexicon file: round trip, key limits, damaged and missing files."""

from __future__ import annotations

from pathlib import Path

import pytest

from plano.embedded_router import RouterModelMissing
from plano.embedded_router.lexicon import LexiconUnreadable, MappedLexicon, write_lexicon
from plano.embedded_router.model_files import LEXICON_FILE, load_lexicon

TABLES = {
    "de": {"rechnung": "bill", "paket": "parcel", "über": "about", "zentrum": "centre"},
    "fr": {"facture": "account", "rechnung": "not german"},
}


def test_lookup_finds_every_word_in_its_own_language(tmp_path: Path) -> None:
    path = tmp_path / LEXICON_FILE
    assert write_lexicon(path, TABLES) == 6
    lexicon = MappedLexicon(path)
    assert len(lexicon) == 6
    for language, table in TABLES.items():
        for word, english in table.items():
            assert lexicon.lookup(language, word) == english
    assert lexicon.lookup("es", "rechnung") is None
    assert lexicon.lookup("de", "rechnun") is None
    assert lexicon.lookup("de", "rechnungen") is None
    assert lexicon.lookup("de", "") is None


def test_long_words_and_empty_tables_work(tmp_path: Path) -> None:
    long_word = "donaudampfschifffahrtsgesellschaftskapitänsmütze"
    path = tmp_path / LEXICON_FILE
    assert write_lexicon(path, {"de": {long_word: "cap", "kurz": "short"}, "fr": {}}) == 2
    lexicon = MappedLexicon(path)
    assert lexicon.lookup("de", long_word) == "cap"
    assert lexicon.lookup("de", "kurz") == "short"
    write_lexicon(path, {})
    assert MappedLexicon(path).lookup("de", "kurz") is None


def test_damaged_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / LEXICON_FILE
    write_lexicon(path, TABLES)
    data = path.read_bytes()
    for damaged in (b"", data[:10], data[:-1], b"NOTGLOSS" + data[8:]):
        path.write_bytes(damaged)
        with pytest.raises(LexiconUnreadable):
            MappedLexicon(path)


def test_missing_or_damaged_lexicon_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(RouterModelMissing) as caught:
        load_lexicon(tmp_path)
    assert str(tmp_path / LEXICON_FILE) in str(caught.value)
    assert "plano install-router-model" in str(caught.value)
    (tmp_path / LEXICON_FILE).write_bytes(b"garbage")
    with pytest.raises(RouterModelMissing, match="is damaged"):
        load_lexicon(tmp_path)
