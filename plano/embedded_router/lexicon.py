"""The gloss lexicon file: foreign word -> English gloss, memory-mapped by every worker.

The German dictionary alone has ~280k single-word headwords; as a Python dict that would cost
~40 MiB per worker. The file is instead a sorted table that numpy binary-searches in place, with
each "<lang>:<word>" key stored as its 64-bit BLAKE2b hash (8 bytes whatever the word's length;
with ~300k keys, a chance collision is about 1 in 10^8 per file and an unknown word matching a
key about 1 in 10^13):

    magic (8 bytes) | count, blob size (2 x uint32 LE)
    hashes  count x uint64 LE, sorted
    offsets (count + 1) x uint32 LE, into the blob
    blob    the English glosses, UTF-8, back to back

Only the pages a lookup touches are read (~7 MB in all for the five dictionaries), and they stay
in the page cache, shared by every worker.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from plano.errors import PlanoError

MAGIC = b"PLGLOSS2"
_HEADER = struct.Struct("<8s2I")


class LexiconUnreadable(PlanoError):
    """The file is not a gloss lexicon written by write_lexicon, or it was cut short."""

    code = "router_lexicon_unreadable"


def key_hash(language: str, word: str) -> int:
    """The table key of a lower-cased word in a language: 64 bits of BLAKE2b."""
    digest = hashlib.blake2b(f"{language}:{word}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def write_lexicon(path: Path, glosses: Mapping[str, Mapping[str, str]]) -> int:
    """Write language -> {word: gloss} to path atomically; return the number of entries."""
    by_hash: dict[int, bytes] = {}
    for language, table in glosses.items():
        for word, gloss in table.items():
            by_hash.setdefault(key_hash(language, word), gloss.encode())
    hashes = np.array(sorted(by_hash), dtype="<u8")
    values = [by_hash[int(h)] for h in hashes]
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype("<u4")
    blob = b"".join(values)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as handle:
        handle.write(_HEADER.pack(MAGIC, len(hashes), len(blob)))
        handle.write(hashes.tobytes())
        handle.write(offsets.tobytes())
        handle.write(blob)
    partial.replace(path)
    return len(hashes)


class MappedLexicon:
    """A lexicon file opened read-only with mmap; lookups cost one numpy binary search.

    Raises FileNotFoundError or LexiconUnreadable (model_files.load_lexicon turns both into
    the router's missing-model error).
    """

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            if path.stat().st_size < _HEADER.size:  # mmap refuses an empty file
                raise LexiconUnreadable(f"{path} is too short for a gloss lexicon")
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_RANDOM"):
            # A binary search jumps around: without this, readahead maps megabytes per lookup.
            self._map.madvise(mmap.MADV_RANDOM)
        magic, count, blob_size = _HEADER.unpack_from(self._map)
        offsets_at = _HEADER.size + 8 * count
        blob_at = offsets_at + 4 * (count + 1)
        if magic != MAGIC or len(self._map) != blob_at + blob_size:
            raise LexiconUnreadable(f"{path} is not a gloss lexicon or is damaged")
        self._hashes = np.frombuffer(self._map, dtype="<u8", count=count, offset=_HEADER.size)
        self._offsets = np.frombuffer(self._map, dtype="<u4", count=count + 1, offset=offsets_at)
        self._blob_at = blob_at

    def __len__(self) -> int:
        return len(self._hashes)

    def lookup(self, language: str, word: str) -> str | None:
        """The English gloss of a lower-cased word, or None."""
        key = np.uint64(key_hash(language, word))
        at = int(np.searchsorted(self._hashes, key))
        if at >= len(self._hashes) or self._hashes[at] != key:
            return None
        start = self._blob_at + int(self._offsets[at])
        end = self._blob_at + int(self._offsets[at + 1])
        return self._map[start:end].decode()
