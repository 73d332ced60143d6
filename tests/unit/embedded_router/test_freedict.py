"""The .deb (ar) reader, the dictd reader and the choice of an entry's English words."""

from __future__ import annotations

import pytest

from plano.embedded_router.freedict import (
    DICTIONARIES,
    DictionaryUnreadable,
    ar_members,
    dictd_files,
    first_translation,
    glosses,
)

from .fake_deb import GERMAN_ENTRIES, ar_archive, dictd, freedict_deb


def test_ar_members_reads_every_member_across_odd_size_padding() -> None:
    members = [("debian-binary", b"2.0\n"), ("odd", b"abc"), ("data.tar.xz", b"\x00\xff" * 5)]
    assert list(ar_members(ar_archive(members))) == members


def test_ar_members_refuses_other_files_and_truncated_archives() -> None:
    with pytest.raises(DictionaryUnreadable, match="bad magic"):
        list(ar_members(b"PK\x03\x04 a zip file"))
    archive = ar_archive([("data.tar.xz", b"x" * 100)])
    with pytest.raises(DictionaryUnreadable, match="runs past the end"):
        list(ar_members(archive[:-10]))
    with pytest.raises(DictionaryUnreadable, match="corrupt ar header"):
        list(ar_members(archive[:30]))


def test_dictd_files_come_out_of_the_data_tarball_decompressed() -> None:
    deb = freedict_deb("freedict-deu-eng", GERMAN_ENTRIES)
    index, definitions = dictd_files(deb, "freedict-deu-eng")
    assert (index, definitions) == dictd(GERMAN_ENTRIES)
    with pytest.raises(DictionaryUnreadable, match="freedict-fra-eng.index"):
        dictd_files(deb, "freedict-fra-eng")
    with pytest.raises(DictionaryUnreadable, match="no data.tar"):
        dictd_files(ar_archive([("debian-binary", b"2.0\n")]), "freedict-deu-eng")


def test_glosses_keep_the_first_sense_of_lower_cased_single_words() -> None:
    entries = [
        *GERMAN_ENTRIES,
        ("00databaseinfo", "00-database-info\nGerman - English\n"),
        ("auf Rechnung", "auf Rechnung\non account\n"),
        ("leer", "leer\n   Note: only a note\n"),
    ]
    assert glosses(*dictd(entries)) == {
        "rechnung": "bill",
        "paket": "parcel",
        "buchen": "book",
        "zentrum": "centre",
    }


@pytest.mark.parametrize(
    ("entry", "english"),
    [
        ("facture /faktyʀ/ <n, fem>\naccount, bill, invoice\n", "account"),
        ("le /lə/ <art>\n1. the\n", "the"),
        ("Konto <neut, n, sg>\n [econ.] account <n>acc.,  /ˈak/ acct.\n", "account"),
        ('abbuchen <v>\n      "Beispiel"  - example\nwrite off <v>\n', "write off"),
        ("lang\nvery long translation with many words\n", "very long translation"),
        ("nothing\n see: {other}\n", ""),
    ],
)
def test_first_translation_strips_markup_examples_and_abbreviations(
    entry: str, english: str
) -> None:
    assert first_translation(entry) == english


def test_pinned_packages_are_debian_https_urls_with_sha256() -> None:
    assert {d.language for d in DICTIONARIES} == {"de", "fr", "es", "it", "pt"}
    for dictionary in DICTIONARIES:
        assert dictionary.url.startswith("https://deb.debian.org/debian/pool/main/f/freedict/")
        assert len(dictionary.sha256) == 64 and int(dictionary.sha256, 16) >= 0
    assert DICTIONARIES[0].stem == "freedict-deu-eng"
