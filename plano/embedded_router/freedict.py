"""FreeDict bilingual dictionaries as Debian ships them: fetch, verify, unpack, read.

The gloss (gloss.py) needs foreign -> English word lists. FreeDict's dictionaries (GPL and other
free licences) are packaged by Debian as `dict-freedict-<lang>-eng`; `plano install-router-model`
downloads those .deb files over HTTPS from deb.debian.org, checks each against the sha256 pinned
here, and reads the dictd files inside (`.index` + `.dict.dz`). They are never vendored in the
repository. A .deb is an `ar` archive holding `data.tar.*`; the stdlib has no `ar` reader, but
the format is a 8-byte magic and 60-byte member headers, read by `ar_members`.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from plano.errors import PlanoError

DEBIAN_POOL = "https://deb.debian.org/debian/pool/main/f/freedict/"


@dataclass(frozen=True, slots=True)
class Dictionary:
    """One pinned FreeDict package: the language code the gloss uses and the .deb to fetch."""

    language: str
    package: str
    sha256: str

    @property
    def url(self) -> str:
        """Where deb.debian.org serves the package."""
        return DEBIAN_POOL + self.package

    @property
    def stem(self) -> str:
        """The dictd file name without extension, e.g. freedict-deu-eng."""
        return "freedict-" + self.package.split("_")[0].removeprefix("dict-freedict-")


# Debian bookworm, 2022.04.21-1 (`apt-get download --print-uris` gave the hashes).
DICTIONARIES = (
    Dictionary(
        "de",
        "dict-freedict-deu-eng_2022.04.21-1_all.deb",
        "52fa2ba6c73ebe84df0e4a7b8612a94a45e6026a157fc75f5ae36c4a1106e3db",
    ),
    Dictionary(
        "fr",
        "dict-freedict-fra-eng_2022.04.21-1_all.deb",
        "fb853d1f3da00ddddfe60dc3b88b5aaca122eecf3ba5c219131bea479d6274db",
    ),
    Dictionary(
        "es",
        "dict-freedict-spa-eng_2022.04.21-1_all.deb",
        "debf5f88fcdaebe824704664cdbb42b6c14f82ab4adda4e91bc388b16200eefc",
    ),
    Dictionary(
        "it",
        "dict-freedict-ita-eng_2022.04.21-1_all.deb",
        "f0d7a5dd47cefd2e7e8e3be19dc78df6607989324bb1ad8bc61b9a657c3a4774",
    ),
    Dictionary(
        "pt",
        "dict-freedict-por-eng_2022.04.21-1_all.deb",
        "6c688a9148bde82a6fbd6b2e3a80c1cec3eb4b3ec2d37901c94dc90bfb008950",
    ),
)
AR_MAGIC = b"!<arch>\n"
AR_HEADER_SIZE = 60
MAX_GLOSS_WORDS = 3  # the first sense's first few English words; more adds noise
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Pronunciation /.../, grammar <...>, domain [...], remarks (...) and cross-references {...}.
_MARKUP = re.compile(r"/[^/]*/|<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}")
_NOT_A_TRANSLATION = ('"', "Note:", "Synonym", "see:")


class DictionaryUnreadable(PlanoError):
    """A downloaded dictionary package is not the archive we expect."""

    code = "router_dictionary_unreadable"


def ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, content) of each member of a System V / GNU `ar` archive (a .deb)."""
    if not data.startswith(AR_MAGIC):
        raise DictionaryUnreadable("not an ar archive (bad magic)")
    offset = len(AR_MAGIC)
    while offset < len(data):
        header = data[offset : offset + AR_HEADER_SIZE]
        if len(header) < AR_HEADER_SIZE or header[58:60] != b"`\n":
            raise DictionaryUnreadable(f"truncated or corrupt ar header at byte {offset}")
        name = header[:16].decode("ascii").strip().removesuffix("/")
        size = int(header[48:58].decode("ascii"))
        start = offset + AR_HEADER_SIZE
        if start + size > len(data):
            raise DictionaryUnreadable(f"ar member {name} runs past the end of the archive")
        yield name, data[start : start + size]
        offset = start + size + size % 2  # members are padded to an even offset


def dictd_files(deb: bytes, stem: str) -> tuple[bytes, bytes]:
    """The `<stem>.index` and uncompressed `<stem>.dict` inside a dict-freedict .deb."""
    for name, content in ar_members(deb):
        if not name.startswith("data.tar"):
            continue
        # "r:*" reads gzip, bzip2 and xz (Debian's default) data members.
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:*") as tar:
            files = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
            try:
                index = _read_member(tar, files[f"{stem}.index"])
                packed = _read_member(tar, files[f"{stem}.dict.dz"])
            except KeyError as exc:
                raise DictionaryUnreadable(f"no {exc.args[0]} in the package") from exc
        # dictzip is gzip with random-access data in the header: gzip reads it whole.
        return index, gzip.decompress(packed)
    raise DictionaryUnreadable("no data.tar member in the package")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise DictionaryUnreadable(f"{member.name} is not a regular file")
    return handle.read()


def glosses(index: bytes, definitions: bytes) -> dict[str, str]:
    """Lower-cased single-word headword -> its first sense's first English words."""
    out: dict[str, str] = {}
    for line in index.decode("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        word = parts[0].strip().lower()
        if not word or " " in word or word.startswith("00database") or word in out:
            continue  # entries come in the dictionary's order: the first sense wins
        start, length = _base64_number(parts[1]), _base64_number(parts[2])
        english = first_translation(definitions[start : start + length].decode("utf-8", "replace"))
        if english:
            out[word] = english
    return out


def first_translation(entry: str) -> str:
    """The first English words of a dictd entry: its first translation line, first item, with
    pronunciation, grammar and domain marks removed ("" when there is none)."""
    for line in entry.split("\n")[1:]:  # line 1 is the headword
        text = line.strip()
        if not text or text.startswith(_NOT_A_TRANSLATION):
            continue
        text = " ".join(_MARKUP.sub(" ", text).split())
        first = re.split(r"[,;]", text)[0].strip()
        first = re.sub(r"^\d+\.\s*", "", first)  # "1. the"
        # Drop abbreviations that follow a translation ("account acc.").
        words = [w for w in first.split() if not (w.endswith(".") and len(w) > 2)]
        if words:
            return " ".join(words[:MAX_GLOSS_WORDS])
    return ""


def _base64_number(text: str) -> int:
    """dictd index offsets and lengths are base-64 numbers (A=0 ... /=63)."""
    value = 0
    for char in text:
        value = value * 64 + _BASE64.index(char)
    return value
