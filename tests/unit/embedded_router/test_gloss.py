"""Language detection and the word-by-word gloss, on a small lexicon and the installed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from plano.embedded_router.gloss import Glosser, detect_language
from plano.embedded_router.model_files import load_lexicon


class DictLexicon:
    """A Lexicon over plain dicts (the installed one is a memory-mapped file)."""

    def __init__(self, tables: dict[str, dict[str, str]]) -> None:
        self.tables = tables
        self.asked: list[tuple[str, str]] = []

    def lookup(self, language: str, word: str) -> str | None:
        self.asked.append((language, word))
        return self.tables.get(language, {}).get(word)


LEXICON = DictLexicon(
    {
        "de": {
            "rechnung": "bill",
            "buchen": "book",
            "zentrum": "centre",
            "flug": "flight",
            "doppelt": "double",
        },
        "fr": {"facture": "invoice", "recevoir": "receive", "abonnement": "subscription"},
        "es": {"vuelo": "flight", "reservar": "book", "hotel": "hotel"},
        "it": {"rimborso": "refund", "ricevere": "receive"},
        "pt": {"reembolso": "refund", "pedido": "order"},
    }
)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Ich habe die Rechnung doppelt bekommen", "de"),
        ("Je n'ai pas reçu ma facture de février", "fr"),
        ("Necesito un vuelo de Madrid a Roma", "es"),
        ("Quando ricevo il rimborso per la prenotazione?", "it"),
        ("Não recebi o meu pedido, como faço?", "pt"),
        ("Hola, buenas tardes", "es"),
    ],
)
def test_detects_the_language_from_function_words(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "why is quicksort O(n log n) on average but O(n^2) worst case",
        "per week instead",
        "can you write a function in Go that reverses a list",
        "SELECT * FROM orders WHERE id = 5",
        "Berlin",
        "",
        # Mostly English with a foreign quote: the English words keep it English.
        "how do I say 'la casa' in English and what is the plural",
    ],
)
def test_english_and_unclear_text_is_not_foreign(text: str) -> None:
    assert detect_language(text) is None


def test_glosses_known_words_and_function_words_and_keeps_the_rest() -> None:
    glosser = Glosser(LEXICON)
    assert glosser.gloss("Necesito un vuelo a Roma, ¿y un hotel?") == (
        "I need a flight to Roma, ¿and a hotel?"
    )


def test_english_passes_through_untouched_without_lookups() -> None:
    lexicon = DictLexicon(LEXICON.tables)
    text = "my  invoice from   February is wrong, can you resend it?"
    assert Glosser(lexicon).gloss(text) == text
    assert lexicon.asked == []


@pytest.mark.parametrize(
    ("language", "word", "english"),
    [
        ("de", "rechnungen", "bill"),  # plural -en
        ("de", "gebucht", "book"),  # participle ge-...-t
        ("de", "buchst", "book"),  # -st -> -en
        ("de", "verteilzentrum", "centre"),  # compound: longest known tail
        ("de", "rückflug", "flight"),
        ("fr", "factures", "invoice"),
        ("fr", "reçu", None),  # irregular forms stay unknown
        ("es", "reservo", "book"),  # -o -> -ar
        ("es", "vuelos", "flight"),
        ("it", "rimborsi", "refund"),  # -i -> -o
        ("pt", "pedidos", "order"),
        ("de", "xyz", None),
    ],
)
def test_inflected_forms_fall_back_to_a_dictionary_form(
    language: str, word: str, english: str | None
) -> None:
    assert Glosser(LEXICON).word(language, word) == english


def test_elided_articles_are_glossed_as_words() -> None:
    glosser = Glosser(LEXICON)
    assert glosser.gloss("je n'ai pas l'abonnement") == "I have not the subscription"


def test_names_numbers_and_code_survive_the_gloss() -> None:
    glosser = Glosser(LEXICON)
    assert glosser.gloss("Ich habe die Rechnung 2024-117 für ACME GmbH mit `x = 5`") == (
        "I have the bill 2024-117 for ACME GmbH with `x = 5`"
    )


def test_installed_lexicon_glosses_a_real_request(model_dir: Path) -> None:
    glosser = Glosser(load_lexicon(model_dir))
    glossed = glosser.gloss("Mein Paket hängt seit einer Woche im Verteilzentrum fest")
    assert glossed.split()[:2] == ["my", "parcel"]
    assert "week" in glossed.split()
    assert glosser.gloss("Necesito un vuelo de Madrid a Roma") == (
        "I need a flight of Madrid to Rome"
    )
