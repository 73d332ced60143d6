"""Small but real dict-freedict .deb packages, built in memory for the install and reader tests.

The layout mirrors Debian's packages: an `ar` archive with debian-binary, control.tar.xz and
data.tar.xz, the latter holding usr/share/dictd/<stem>.index and <stem>.dict.dz.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

from plano.embedded_router.freedict import Dictionary

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """A common-format ar archive: magic, then per member a 60-byte header and even padding."""
    out = bytearray(b"!<arch>\n")
    for name, content in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(content):<10}`\n"
        out += header.encode("ascii") + content
        if len(content) % 2:
            out += b"\n"
    return bytes(out)


def _base64(number: int) -> str:
    digits = ""
    while True:
        digits = B64[number % 64] + digits
        number //= 64
        if number == 0:
            return digits


def dictd(entries: list[tuple[str, str]]) -> tuple[bytes, bytes]:
    """(index, uncompressed .dict) for (headword, entry text) pairs, in the given order."""
    data = bytearray()
    lines = []
    for headword, text in entries:
        body = text.encode()
        lines.append(f"{headword}\t{_base64(len(data))}\t{_base64(len(body))}")
        data += body
    return ("\n".join(lines) + "\n").encode(), bytes(data)


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def freedict_deb(stem: str, entries: list[tuple[str, str]]) -> bytes:
    """A dict-freedict package holding a dictd dictionary named stem (e.g. freedict-deu-eng)."""
    index, definitions = dictd(entries)
    data = _tar_xz(
        {
            f"./usr/share/dictd/{stem}.index": index,
            f"./usr/share/dictd/{stem}.dict.dz": gzip.compress(definitions),
            f"./usr/share/doc/dict-{stem}/copyright": b"GPL",
        }
    )
    control = _tar_xz({"./control": b"Package: dict-" + stem.encode() + b"\n"})
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", control), ("data.tar.xz", data)]
    return ar_archive(members)


GERMAN_ENTRIES = [
    ("Rechnung", "Rechnung /rˈɛçnʊŋ/ <fem, n, sg>\n [econ.] bill <n> [Br.] , check <n>\n"),
    ("Rechnung", "Rechnung /rˈɛçnʊŋ/ <fem, n, sg>\ninvoice <n>\n"),
    ("Paket", "Paket /pakˈeːt/ <neut, n, sg>\nparcel <n>, package <n>\n"),
    ("buchen", "buchen /bˈuːxən/ <v>\n   Synonym: {reservieren}\nbook <v>\n"),
    ("zentrum", "Zentrum <neut, n, sg>\ncentre <n> [Br.] , center <n> [Am.]\n"),
]
SPANISH_ENTRIES = [
    ("vuelo", "vuelo /bwˈelo/\nflight\n"),
    ("reservar", "reservar /reserβˈar/\nbook, reserve\n"),
]


def package(language: str, stem: str, deb: bytes) -> Dictionary:
    """The Dictionary pin for a built package (its real sha256)."""
    return Dictionary(language, f"dict-{stem}_1.0-1_all.deb", hashlib.sha256(deb).hexdigest())


class FakeMirror:
    """Serves built packages by URL, like deb.debian.org; records what was fetched."""

    def __init__(self, packages: dict[str, bytes]) -> None:
        self.packages = packages
        self.fetched: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.packages[url]


def german_and_spanish() -> tuple[list[Dictionary], FakeMirror]:
    """Two pinned packages and a mirror serving them."""
    debs = {
        "de": ("freedict-deu-eng", freedict_deb("freedict-deu-eng", GERMAN_ENTRIES)),
        "es": ("freedict-spa-eng", freedict_deb("freedict-spa-eng", SPANISH_ENTRIES)),
    }
    pins = [package(language, stem, deb) for language, (stem, deb) in debs.items()]
    mirror = FakeMirror({pin.url: debs[pin.language][1] for pin in pins})
    return pins, mirror
