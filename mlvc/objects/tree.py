"""Tree objects: the canonical encoding of a directory.

Encoding, version 1 (UTF-8, LF line ends). DO NOT CHANGE without a new
version number and a migration; ``tests/unit/test_objects.py`` pins it with
golden vectors.

    mlvc-tree 1\\n
    <path>\\0<oid> <mode> <size>\\n     one line per file, sorted by path

- ``path``: relative POSIX path inside the directory: no leading ``/``, no
  ``.``, ``..`` or empty segments, no backslash, NUL, CR or LF.
- ``oid``: 32 lowercase hex characters, the XXH3-128 of the file's content.
- ``mode``: ``x`` for an executable file, ``-`` otherwise.
- ``size``: the file's size in bytes, decimal, no leading zeros.

Lines are sorted by path (code point order, which is UTF-8 byte order) with no
duplicates. The path comes first and NUL sorts below every character a path
may hold, so sorted lines are sorted paths, and a reader can check the order
and split the text without a per-line parser: a tree of a million files loads
in well under a second. The tree's id is XXH3-128 of these bytes plus ``.tree``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator

from mlvc.errors import FileFormatError, InvalidPathError
from mlvc.objects.paths import check_relpath
from mlvc.objects.hashing import TREE_SUFFIX, hash_bytes

TREE_HEADER = "mlvc-tree 1\n"
_OID_RE = re.compile(r"[0-9a-f]{32}\Z")
_OID_PART = operator.itemgetter(slice(0, 32))
_HEX_BYTES = b"0123456789abcdef"
_META_RE = re.compile(r"[0-9a-f]{32} [-x] (?:0|[1-9][0-9]*)\Z")


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    oid: str
    size: int
    executable: bool = False


def _meta(oid: str, size: int, executable: bool) -> str:
    return f"{oid} {'x' if executable else '-'} {size}"


class Tree:
    """A directory listing, sorted by path.

    Entries are kept as two parallel lists of strings (paths and their
    ``"<oid> <mode> <size>"`` metadata), not one object per file, so that a
    tree of a million files loads fast and fits in a few hundred MB.
    """

    __slots__ = ("paths", "metas", "_index", "_oid")

    def __init__(self, paths: list[str], metas: list[str], oid: str | None = None) -> None:
        self.paths = paths
        self.metas = metas
        self._index: dict[str, str] | None = None
        self._oid = oid

    @classmethod
    def from_entries(cls, entries: Iterable[TreeEntry | tuple[str, str, int, bool]]) -> "Tree":
        rows = []
        for e in entries:
            if isinstance(e, TreeEntry):
                e = (e.path, e.oid, e.size, e.executable)
            rows.append(e)
        rows.sort(key=operator.itemgetter(0))
        paths = []
        metas = []
        prev = None
        for path, oid, size, x in rows:
            check_relpath(path, "tree path")
            if path == prev:
                raise InvalidPathError(f"duplicate tree path {path!r}")
            prev = path
            paths.append(path)
            metas.append(_meta(oid, size, x))
        return cls(paths, metas)

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[TreeEntry]:
        for path, meta in zip(self.paths, self.metas):
            yield TreeEntry(path, *_parse_meta(meta, path))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tree) and self.paths == other.paths and self.metas == other.metas

    def __repr__(self) -> str:
        return f"<Tree {len(self)} files>"

    @property
    def nfiles(self) -> int:
        return len(self.paths)

    @property
    def size(self) -> int:
        return sum(int(m[35:]) for m in self.metas)

    @property
    def oid(self) -> str:
        if self._oid is None:
            self._oid = hash_bytes(serialize_tree(self)) + TREE_SUFFIX
        return self._oid

    @property
    def index(self) -> dict[str, str]:
        if self._index is None:
            self._index = dict(zip(self.paths, self.metas))
        return self._index

    def get(self, path: str) -> TreeEntry | None:
        meta = self.index.get(path)
        if meta is None:
            return None
        return TreeEntry(path, *_parse_meta(meta, path))

    def oids(self) -> set[str]:
        """Every object id the tree names (each checked: an id becomes a path in the cache)."""
        oids = set(map(_OID_PART, self.metas))
        blob = "".join(oids)
        if len(blob) != 32 * len(oids) or not blob.isascii() or blob.encode().translate(None, _HEX_BYTES):
            bad = next(o for o in oids if _OID_RE.match(o) is None)
            raise FileFormatError("tree", f"bad object id {bad!r}", hint="the tree object is not safe to use")
        return oids

    def entries(self) -> Iterator[tuple[str, str, int, bool]]:
        """``(path, oid, size, executable)`` for every file, each line checked."""
        for path, meta in zip(self.paths, self.metas):
            yield (path, *_parse_meta(meta, path))


def _parse_meta(meta: str, path: str) -> tuple[str, int, bool]:
    if _META_RE.match(meta) is None:
        raise FileFormatError("tree", f"malformed entry for {path!r}: {meta[:60]!r}")
    return meta[:32], int(meta[35:]), meta[33] == "x"


def serialize_tree(tree: Tree) -> bytes:
    parts = [TREE_HEADER]
    parts.extend(f"{p}\0{m}\n" for p, m in zip(tree.paths, tree.metas))
    return "".join(parts).encode("utf-8")


def parse_tree(data: bytes, name: str = "tree", check_meta: bool = True) -> Tree:
    """Parse and validate a tree object; raise FileFormatError on any defect.

    Every path is checked here. Every line's metadata is checked here too,
    unless ``check_meta`` is False: then each reader checks what it uses
    (``get``, iteration, ``oids`` and ``entries`` do), which saves 40% of
    the load time of a large tree on the status path.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(name, f"not valid UTF-8 ({exc.reason})") from None
    if not text.startswith(TREE_HEADER):
        first = text.split("\n", 1)[0][:40]
        if first.startswith("mlvc-tree ") and first.rstrip("\r") != "mlvc-tree 1":
            raise FileFormatError(name, f"unsupported tree version {first[10:]!r}", 1, "upgrade mlvc")
        raise FileFormatError(name, "not an mlvc tree (bad header)", 1)
    if len(text) == len(TREE_HEADER):
        return Tree([], [])
    if not text.endswith("\n"):
        raise FileFormatError(name, "truncated (no final newline)")
    if "\\" in text or "\r" in text:
        raise FileFormatError(name, "a path holds a backslash or CR", _first_line_with(text, ("\\", "\r")),
                              "the tree object is not safe to use")
    parts = text[len(TREE_HEADER) : -1].replace("\0", "\n").split("\n")
    nuls = text.count("\0")
    if len(parts) != 2 * nuls:
        raise FileFormatError(name, "malformed: every line must hold exactly one NUL", _first_bad_line(text))
    paths = parts[0::2]
    metas = parts[1::2]
    # Bracket every path with '/' so one search finds any empty, '.' or '..'
    # segment, a leading '/' or a trailing '/'.
    joined = "/" + "/\n/".join(paths) + "/"
    for mark in ("//", "/./", "/../"):
        if mark in joined:
            line = joined.count("\n", 0, joined.index(mark)) + 2
            raise FileFormatError(name, "a path is absolute or has a '.', '..' or empty segment", line,
                                  "the tree object is not safe to use")
    if not all(map(operator.lt, paths, islice(paths, 1, None))):
        for i, (a, b) in enumerate(zip(paths, islice(paths, 1, None))):
            if not a < b:
                raise FileFormatError(name, f"entries not sorted or duplicated at {b!r}", i + 3)
    if check_meta and not all(map(_META_RE.match, metas)):
        for i, meta in enumerate(metas):
            if _META_RE.match(meta) is None:
                raise FileFormatError(name, f"malformed entry for {paths[i]!r}: {meta[:60]!r}", i + 2,
                                      "the tree object is not safe to use")
    return Tree(paths, metas)


def _first_line_with(text: str, marks: tuple[str, ...]) -> int | None:
    for i, line in enumerate(text.split("\n")):
        if any(m in line for m in marks):
            return i + 1
    return None


def _first_bad_line(text: str) -> int | None:
    for i, line in enumerate(text.split("\n")[1:-1]):
        if line.count("\0") != 1:
            return i + 2
    return None
