"""Object ids: XXH3-128 of the content, as 32 lowercase hex characters.

A tree id is the XXH3-128 of the tree's canonical encoding followed by
``TREE_SUFFIX``, so that a tree is never mistaken for a file.
"""

from __future__ import annotations

import os
import re
from typing import Callable

import xxhash

OID_HEX_LEN = 32
TREE_SUFFIX = ".tree"
CHUNK = 1024 * 1024
SMALL = 4 * CHUNK  # files up to this size are read in one call

_OID_RE = re.compile(r"[0-9a-f]{32}(\.tree)?\Z")


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def is_tree_oid(oid: str) -> bool:
    return oid.endswith(TREE_SUFFIX)


def is_valid_oid(oid: object) -> bool:
    return isinstance(oid, str) and _OID_RE.match(oid) is not None


def hash_fd(fd: int, size_hint: int = -1, sink: Callable[[bytes | memoryview], None] | None = None) -> tuple[str, int]:
    """Hash what remains to be read from an open file descriptor.

    ``sink``, when given, receives every byte too (a copy hashes as it goes).
    A file of up to ``SMALL`` bytes is read in one call.
    """
    if 0 <= size_hint <= SMALL:
        data = os.read(fd, size_hint + 1)
        if sink is not None:
            sink(data)
        if len(data) <= size_hint:
            return xxhash.xxh3_128_hexdigest(data), len(data)
        h = xxhash.xxh3_128(data)
        size = len(data)
    else:
        h = xxhash.xxh3_128()
        size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        chunk = view[:n]
        h.update(chunk)
        if sink is not None:
            sink(chunk)
        size += n
    return h.hexdigest(), size


def hash_file(path: str | os.PathLike[str], size_hint: int = -1) -> tuple[str, int]:
    """Return ``(oid, size)`` of a file's content, read (1 MiB at a time past 4 MiB).

    Never through mmap: a workspace file truncated while it is hashed would kill
    the process with SIGBUS (the hardening issue saw it in 14 of 16 tries); a
    read just ends early, and the size returned says what was hashed.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        # hash_fd reads one byte past a small hint, so a file that grew is still hashed whole
        return hash_fd(fd, size_hint if size_hint >= 0 else os.fstat(fd).st_size)
    finally:
        os.close(fd)
