"""Word-by-word English gloss of German, French, Spanish, Italian and Portuguese user turns.

all-MiniLM-L6-v2 is an English model (bert-base-uncased word pieces): a German or Spanish
request reaches it as sub-word noise and is mostly misrouted. No multilingual encoder of a
usable size is at hand, so the router reads a crude gloss instead: the turn's language is
guessed from its function words, then each word is replaced by its first English sense from a
FreeDict dictionary (lexicon.py), trying a few inflection endings and, for German compounds, the
longest known tail ("Verteilzentrum" -> "Zentrum"). Unknown words (names, code, numbers) stay
as they are. The gloss is ungrammatical ("I was double written off, please refund you a amount
back"), but it carries the content words, which is what routing needs.
"""

from __future__ import annotations

import re
from typing import Protocol

# Function words per language with their English gloss: counted to guess the language, and
# glossed here rather than from the dictionary, whose first sense of a function word is often
# a rare one ("kann" -> "pots", "die" -> "that"). Ambiguous words take their most common sense.
FUNCTION_WORDS: dict[str, dict[str, str]] = {
    "de": {
        "der": "the", "die": "the", "das": "the", "den": "the", "dem": "the", "des": "of the",
        "ein": "a", "eine": "a", "einen": "a", "einem": "a", "einer": "a", "und": "and",
        "oder": "or", "aber": "but", "ist": "is", "sind": "are", "bin": "am", "bist": "are",
        "war": "was", "wurde": "was", "werden": "be", "wird": "will", "ich": "I", "du": "you",
        "er": "he", "wir": "we", "ihr": "you", "mir": "me", "mich": "me", "dir": "you",
        "dich": "you", "uns": "us", "sich": "", "es": "it", "mein": "my", "meine": "my",
        "meinen": "my", "meinem": "my", "meiner": "my", "dein": "your", "deine": "your",
        "unser": "our", "unsere": "our", "nicht": "not", "kein": "no", "keine": "no",
        "mit": "with", "für": "for", "von": "of", "vom": "from the", "zu": "to", "zum": "to the",
        "zur": "to the", "auf": "on", "im": "in the", "ins": "into the", "beim": "at the",
        "bei": "at", "nach": "to", "aus": "from", "über": "about", "gegen": "against",
        "seit": "since", "wie": "how", "was": "what", "wer": "who", "wo": "where",
        "warum": "why", "wann": "when", "welche": "which", "welcher": "which", "ob": "whether",
        "wenn": "if", "dass": "that", "kann": "can", "kannst": "can", "können": "can",
        "muss": "must", "soll": "should", "möchte": "would like", "will": "want",
        "habe": "have", "hast": "have", "hat": "has", "haben": "have", "gibt": "is there",
        "bitte": "please", "auch": "also", "noch": "still", "schon": "already", "nur": "only",
        "sehr": "very", "mehr": "more", "diese": "this", "diesen": "this", "dieser": "this",
        "dieses": "this", "hallo": "hello", "danke": "thanks",
    },
    "fr": {
        "le": "the", "la": "the", "les": "the", "l": "the", "un": "a", "une": "a",
        "des": "some", "du": "of the", "de": "of", "d": "of", "et": "and", "ou": "or",
        "mais": "but", "est": "is", "sont": "are", "suis": "am", "ai": "have", "as": "have",
        "a": "has", "avons": "have", "je": "I", "j": "I", "tu": "you", "il": "he",
        "elle": "she", "nous": "we", "vous": "you", "me": "me", "m": "me", "te": "you",
        "se": "", "s": "", "ne": "", "n": "", "pas": "not", "plus": "more", "mon": "my",
        "ma": "my", "mes": "my", "ton": "your", "votre": "your", "notre": "our", "ce": "this",
        "c": "it", "cette": "this", "ces": "these", "qui": "who", "que": "that",
        "qu": "that", "quoi": "what", "comment": "how", "pourquoi": "why", "quand": "when",
        "où": "where", "combien": "how much", "pour": "for", "dans": "in", "sur": "on",
        "avec": "with", "sans": "without", "au": "to the", "aux": "to the", "en": "in",
        "à": "to", "depuis": "since", "peux": "can", "peut": "can", "pouvez": "can",
        "voudrais": "would like", "veux": "want", "faire": "do", "fait": "does",
        "bonjour": "hello", "salut": "hello", "merci": "thanks", "svp": "please",
        "ça": "it",
    },
    "es": {
        "el": "the", "la": "the", "los": "the", "las": "the", "un": "a", "una": "a",
        "unos": "some", "del": "of the", "de": "of", "al": "to the", "y": "and", "o": "or",
        "pero": "but", "es": "is", "son": "are", "soy": "am", "está": "is", "estoy": "am",
        "hay": "there is", "yo": "I", "tú": "you", "me": "me", "te": "you", "se": "",
        "lo": "it", "no": "not", "mi": "my", "mis": "my", "tu": "your", "su": "their",
        "que": "that", "qué": "what", "cómo": "how", "como": "as", "cuál": "which",
        "cuándo": "when", "dónde": "where", "por": "for", "para": "for", "en": "in",
        "con": "with", "sin": "without", "a": "to", "muy": "very", "más": "more",
        "quiero": "I want", "puedo": "can I", "puede": "can", "necesito": "I need",
        "hola": "hello", "buenas": "good", "buenos": "good", "gracias": "thanks",
    },
    "it": {
        "il": "the", "lo": "the", "la": "the", "i": "the", "gli": "the", "le": "the",
        "l": "the", "un": "a", "una": "a", "uno": "a", "del": "of the", "della": "of the",
        "di": "of", "e": "and", "è": "is", "o": "or", "ma": "but", "sono": "am", "ho": "have",
        "io": "I", "mi": "me", "ti": "you", "si": "", "non": "not", "mio": "my", "mia": "my",
        "che": "that", "come": "how", "quando": "when", "dove": "where", "perché": "why",
        "per": "for", "in": "in", "con": "with", "al": "to the", "alla": "to the",
        "posso": "can I", "può": "can", "vorrei": "would like", "ciao": "hello",
        "buongiorno": "hello", "grazie": "thanks",
    },
    "pt": {
        "o": "the", "a": "the", "os": "the", "as": "the", "um": "a", "uma": "a",
        "do": "of the", "da": "of the", "dos": "of the", "das": "of the", "de": "of",
        "e": "and", "é": "is", "ou": "or", "mas": "but", "sou": "am", "eu": "I", "me": "me",
        "se": "", "não": "not", "meu": "my", "minha": "my", "que": "that", "como": "how",
        "quando": "when", "onde": "where", "para": "for", "em": "in", "no": "in the",
        "na": "in the", "com": "with", "ao": "to the", "posso": "can I", "pode": "can",
        "tenho": "I have", "preciso": "I need", "olá": "hello", "obrigado": "thanks",
        "obrigada": "thanks",
    },
}  # fmt: skip
# Common English words some of the lists share ("a", "in", "no", "as", "me", "will", "was"):
# a turn is glossed only when its foreign function words clearly outnumber these.
ENGLISH_WORDS = frozenset(
    "the a an and or is are am was i you it to for of in on at my me we not no do does "
    "can how what why with this that be have has please as will".split()
)
# Tried in order when a word is not in the lexicon as written: (ending, replacement).
INFLECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "de": (("en", ""), ("n", ""), ("e", ""), ("es", ""), ("s", ""), ("er", ""), ("em", ""),
           ("ern", ""), ("st", "en"), ("t", "en"), ("te", "en"), ("ten", "en"), ("e", "en"),
           ("", "en"), ("", "n"), ("st", ""), ("t", "")),
    "fr": (("s", ""), ("x", ""), ("e", ""), ("es", ""), ("ée", "er"), ("és", "er"),
           ("é", "er"), ("e", "er"), ("es", "er"), ("ent", "er"), ("ez", "er"), ("ons", "er"),
           ("ais", "er"), ("ait", "er"), ("is", "ir"), ("it", "ir"), ("s", "re"), ("t", "re")),
    "es": (("s", ""), ("es", ""), ("o", "ar"), ("a", "ar"), ("as", "ar"), ("an", "ar"),
           ("amos", "ar"), ("ado", "ar"), ("ada", "ar"), ("ando", "ar"), ("ó", "ar"),
           ("é", "ar"), ("o", "er"), ("e", "er"), ("es", "er"), ("en", "er"), ("ido", "er"),
           ("ida", "er"), ("o", "ir"), ("e", "ir"), ("ió", "er"), ("ió", "ir")),
    "it": (("i", "o"), ("e", "a"), ("i", "e"), ("o", "are"), ("a", "are"), ("i", "are"),
           ("ato", "are"), ("ata", "are"), ("o", "ere"), ("e", "ere"), ("ito", "ire"),
           ("o", "ire"), ("ando", "are")),
    "pt": (("s", ""), ("es", ""), ("o", "ar"), ("a", "ar"), ("as", "ar"), ("ado", "ar"),
           ("ada", "ar"), ("o", "er"), ("e", "er"), ("ido", "er"), ("o", "ir"), ("e", "ir"),
           ("ões", "ão")),
}  # fmt: skip
MIN_STEM = 3  # shorter stems match too many unrelated entries
MIN_COMPOUND_TAIL = 4  # German compound tails shorter than this are mostly suffixes
MIN_FOREIGN_WORDS = 2
_WORD = re.compile(r"[^\W\d_]+")
# French and Italian elisions ("l'abonnement", "qu'est"): the clitic is glossed as a word.
_ELISION = re.compile(r"\b([^\W\d_]{1,3})['’](?=[^\W\d_])")


class Lexicon(Protocol):
    """Foreign word -> English gloss, per language code ("de", "fr", "es", "it", "pt")."""

    def lookup(self, language: str, word: str) -> str | None:
        """The English gloss of a lower-cased word as written, or None."""
        ...


def detect_language(text: str) -> str | None:
    """The language code whose function words clearly dominate text, or None (English/unknown)."""
    words = _WORD.findall(_ELISION.sub(r"\1 ", text.lower()))
    english = sum(w in ENGLISH_WORDS for w in words)
    best, best_count = None, 0
    for language, table in FUNCTION_WORDS.items():
        count = sum(w in table for w in words)
        if count > best_count:
            best, best_count = language, count
    if best_count >= MIN_FOREIGN_WORDS and best_count > 2 * english:
        return best
    return None


class Glosser:
    """Turns a foreign user turn into English words; English text passes through unchanged."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    def gloss(self, text: str) -> str:
        """text glossed word by word when its language is detected, else text itself."""
        language = detect_language(text)
        if language is None:
            return text
        table = FUNCTION_WORDS[language]

        def replace(match: re.Match[str]) -> str:
            word = match.group(0)
            lower = word.lower()
            if lower in table:
                return table[lower]
            return self.word(language, lower) or word

        glossed = _WORD.sub(replace, _ELISION.sub(r"\1 ", text))
        return " ".join(glossed.split())

    def word(self, language: str, word: str) -> str | None:
        """English gloss of one lower-cased word: as written, then de-inflected, then (German)
        the longest known compound tail; None when nothing matches."""
        lookup = self.lexicon.lookup
        found = lookup(language, word)
        if found is not None:
            return found
        if language == "de" and word.startswith("ge") and len(word) > 5:
            # Participles: "gebucht" -> "buchen", "gefahren" -> "fahren".
            for ending in ("t", "en"):
                if word.endswith(ending):
                    found = lookup(language, word[2 : -len(ending)] + "en")
                    if found is not None:
                        return found
        for ending, replacement in INFLECTIONS[language]:
            if not word.endswith(ending):
                continue
            stem = word[: len(word) - len(ending)]
            if len(stem) >= MIN_STEM:
                found = lookup(language, stem + replacement)
                if found is not None:
                    return found
        if language == "de":
            for start in range(MIN_STEM, len(word) - MIN_COMPOUND_TAIL + 1):
                tail = word[start:]
                found = lookup(language, tail) or lookup(language, tail.removesuffix("en"))
                if found is not None:
                    return found
        return None
