"""Tree objects: the canonical encoding of a directory.

Format 2 (written): a Merkle tree, one object per folder. DO NOT CHANGE
without a new version number; ``tests/unit/test_objects.py`` pins it with
golden vectors. UTF-8, LF line ends::

    mlvc-tree 2\\n
    <name>\\0<oid> <type> <size>[ <nfiles>]\\n     one line per entry

- ``name``: one path segment: not empty, ``.`` or ``..``; no ``/``, backslash,
  NUL, CR or LF.
- ``type``: ``-`` a file, ``x`` an executable file, ``d`` a sub-folder.
- ``oid``: 32 lowercase hex characters: a file's XXH3-128, or for ``d`` the
  sub-folder's tree id without its ``.tree`` suffix.
- ``size``: bytes, decimal, no leading zeros (for ``d``: every file below it);
  ``nfiles`` (``d`` only): how many files are below it, at least one.
- Entries are sorted by name in UTF-8 byte order, a folder's name compared
  as ``name/`` (git's order): walking the tree depth-first then lists every
  path in sorted order. A name appears once.

A tree's id is the XXH3-128 of its bytes plus ``.tree``. One changed file
writes only the trees on its path; a folder whose id is unchanged is
unchanged below, whatever its size.

Format 1 (read forever, never written): one flat object for the whole
directory, ``mlvc-tree 1\\n`` then ``<path>\\0<oid> <mode> <size>\\n`` per file,
sorted by path; ``mode`` is ``-`` or ``x``.

In memory a ``Tree`` is flat, whatever it was read from: two parallel lists
(full paths, and ``"<oid> <mode> <size>"`` metadata strings), not one object
per file, so a million files load in well under a second and fit in a few
hundred MB. Nothing outside this module reads those strings: use the
accessors.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterable, Iterator

from mlvc.errors import FileFormatError, InvalidPathError
from mlvc.objects.hashing import TREE_SUFFIX, hash_bytes
from mlvc.objects.paths import NAME_MAX, NEVER_TRACKED, PATH_MAX, check_tree_path, length_problem, name_problem

TREE_VERSION = 2
TREE_HEADER = "mlvc-tree 2\n"
TREE_HEADER_V1 = "mlvc-tree 1\n"
_OID_RE = re.compile(r"[0-9a-f]{32}\Z")
_OID_PART = operator.itemgetter(slice(0, 32))
_HEX_BYTES = b"0123456789abcdef"
_META_RE = re.compile(r"[0-9a-f]{32} [-x] (?:0|[1-9][0-9]*)\Z")
_META_V2_RE = re.compile(r"[0-9a-f]{32} (?:[-x] (?:0|[1-9][0-9]*)|d (?:0|[1-9][0-9]*) [1-9][0-9]*)\Z")
_UNSAFE = "the tree object is not safe to use"
_NESTED = ("the tree object is not safe to use; if an older mlvc recorded a nested repository, "
           "`mlvc commit` records the folder again without it")


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    oid: str
    size: int
    executable: bool = False


def _meta(oid: str, size: int, executable: bool) -> str:
    return f"{oid} {'x' if executable else '-'} {size}"


class Tree:
    """A directory listing, flat and sorted by path (see the module's docstring).

    ``folders`` maps each folder ('' for the top) to its tree id once the
    tree was encoded or loaded from format 2; ``version`` is the format of
    the object the tree was loaded from (2 for a tree built here).
    """

    __slots__ = ("paths", "metas", "_index", "_oid", "folders", "version")

    def __init__(self, paths: list[str], metas: list[str], oid: str | None = None, version: int = TREE_VERSION) -> None:
        self.paths = paths
        self.metas = metas
        self._index: dict[str, str] | None = None
        self._oid = oid
        self.folders: dict[str, str] | None = None
        self.version = version

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
            check_tree_path(path)
            if path == prev:
                raise InvalidPathError(f"duplicate tree path {path!r}")
            prev = path
            paths.append(path)
            metas.append(_meta(oid, size, x))
        tree = cls(paths, metas)
        tree.encode()  # refuses a file and a folder of one name ('a' and 'a/b')
        return tree

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
        """The tree's id: of the object it was loaded from, else of its format 2 encoding."""
        if self._oid is None:
            self.encode()
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

    def oid_of(self, path: str) -> str | None:
        """The object id of the file at ``path``, or None (ids are checked by ``oids()``)."""
        meta = self.index.get(path)
        return None if meta is None else meta[:32]

    def is_executable(self, path: str) -> bool:
        meta = self.index.get(path)
        return meta is not None and meta[33] == "x"

    def oid_map(self) -> dict[str, str]:
        """path -> object id for every file (ids are checked by ``oids()``)."""
        return dict(zip(self.paths, map(_OID_PART, self.metas)))

    def oids(self) -> set[str]:
        """Every file object id the tree names (each checked: an id becomes a path in the cache)."""
        return check_oids(set(map(_OID_PART, self.metas)))

    def tree_oids(self) -> set[str]:
        """The ids of the tree objects this tree is made of (its own included)."""
        if self.version == 1:
            return {self.oid}
        if self.folders is None:
            self.encode()
        return set(self.folders.values())

    def entries(self) -> Iterator[tuple[str, str, int, bool]]:
        """``(path, oid, size, executable)`` for every file, each line checked."""
        for path, meta in zip(self.paths, self.metas):
            yield (path, *_parse_meta(meta, path))

    def encode(self) -> list[tuple[str, bytes]]:
        """The format 2 objects of this tree, ``(id, bytes)``, every folder after the folders
        below it (so a store that holds a folder's tree holds everything below it); the top
        folder's comes last. Sets ``folders`` and, for a tree not loaded from format 1, ``oid``."""
        objects: list[tuple[str, bytes]] = []
        oid, folders = encode_entries(zip(self.paths, self.metas), lambda o, d: objects.append((o, d)))
        self.folders = folders
        if self._oid is None or self.version != 1:
            self._oid = oid
        return objects


def file_meta(oid: str, size: int, executable: bool) -> str:
    """A file's metadata as trees hold it (what ``encode_entries`` and ``walk_tree`` carry)."""
    return _meta(oid, size, executable)


def encode_entries(entries: Iterable[tuple[str, str]], sink: Callable[[str, bytes], None]) -> tuple[str, dict[str, str]]:
    """Encode ``(path, file metadata)`` pairs, sorted by path, as format 2 tree objects.

    Each folder's object goes to ``sink(id, bytes)`` as soon as the folder is
    complete, after the folders below it; only the open folders are held, so
    a million files encode in the memory of one folder. Returns the top tree's
    id and every folder's id ('' for the top). A file and a folder of one name
    ('a' and 'a/b') are refused.
    """
    folders: dict[str, str] = {}
    # The open folders, outermost first: (folder path, its lines, names in it, [size, nfiles]).
    stack: list[tuple[str, list[str], set[str], list[int]]] = [("", [], set(), [0, 0])]

    def close() -> None:
        folder, lines, _, (size, nfiles) = stack.pop()
        data = (TREE_HEADER + "".join(lines)).encode("utf-8")
        oid = hash_bytes(data)
        sink(oid + TREE_SUFFIX, data)
        folders[folder] = oid + TREE_SUFFIX
        if stack:
            name = folder.rpartition("/")[2]
            parent = stack[-1]
            parent[1].append(f"{name}\0{oid} d {size} {nfiles}\n")
            parent[3][0] += size
            parent[3][1] += nfiles

    current = ""
    for path, meta in entries:
        parent, _, name = path.rpartition("/")
        if parent != current:
            while stack[-1][0] and not (parent + "/").startswith(stack[-1][0] + "/"):
                close()
            top = stack[-1][0]
            rest = parent[len(top) + 1:] if top else parent
            for part in rest.split("/") if rest else ():
                folder = f"{stack[-1][0]}/{part}" if stack[-1][0] else part
                if part in stack[-1][2]:
                    raise InvalidPathError(f"tree path {folder!r} is both a file and a folder")
                stack[-1][2].add(part)
                stack.append((folder, [], set(), [0, 0]))
            current = parent
        entry = stack[-1]
        if name in entry[2]:
            raise InvalidPathError(f"tree path {path!r} is both a file and a folder")
        entry[2].add(name)
        entry[1].append(f"{name}\0{meta}\n")
        entry[3][0] += int(meta[35:])
        entry[3][1] += 1
    while stack:
        close()
    return folders[""], folders


def file_oids(entries: Iterable[tuple[str, str]]) -> set[str]:
    """The file ids of a ``(path, file metadata)`` stream, checked in bulk."""
    return check_oids({meta[:32] for _, meta in entries})


def check_oids(oids: set[str]) -> set[str]:
    """``oids``, each checked to be 32 lowercase hex characters (an id becomes a path in the
    cache), in bulk: one join and one translate for a million ids."""
    blob = "".join(oids)
    if len(blob) != 32 * len(oids) or not blob.isascii() or blob.encode().translate(None, _HEX_BYTES):
        bad = next(o for o in oids if _OID_RE.match(o) is None)
        raise FileFormatError("tree", f"bad object id {bad!r}", hint=_UNSAFE)
    return oids


def meta_oid(meta: str) -> str:
    """The object id in a file's metadata (unchecked: see ``check_oid``, ``check_oids``)."""
    return meta[:32]


def split_meta(meta: str) -> tuple[str, int, bool]:
    """``(oid, size, executable)`` of a file's metadata that was checked when read."""
    return meta[:32], int(meta[35:]), meta[33] == "x"


def check_oid(oid: str) -> str:
    if _OID_RE.match(oid) is None:
        raise FileFormatError("tree", f"bad object id {oid!r}", hint=_UNSAFE)
    return oid


def _parse_meta(meta: str, path: str) -> tuple[str, int, bool]:
    if _META_RE.match(meta) is None:
        raise FileFormatError("tree", f"malformed entry for {path!r}: {meta[:60]!r}")
    return meta[:32], int(meta[35:]), meta[33] == "x"


def serialize_tree(tree: Tree) -> bytes:
    """The top folder's object of ``tree`` (format 2); ``Tree.encode`` gives them all."""
    return tree.encode()[-1][1]


# ------------------------------------------------------------------ reading


def parse_tree(data: bytes, name: str = "tree", check_meta: bool = True) -> Tree:
    """Parse a format 1 tree object (one flat object for the whole folder).

    A format 2 object is one folder of a Merkle tree: read it with
    ``load_tree``, which follows its sub-folders. Every path is checked here.
    Every line's metadata is checked too unless ``check_meta`` is False: then
    each reader checks what it uses (``get``, iteration, ``oids`` and
    ``entries`` do), which saves 40% of the load time on the status path.
    """
    text = _decode(data, name)
    if text.startswith(TREE_HEADER):
        raise FileFormatError(name, "is a format 2 tree folder; load it with its sub-folders", 1)
    if not text.startswith(TREE_HEADER_V1):
        _bad_header(text, name)
    paths, metas = _split(text, len(TREE_HEADER_V1), name)
    if not paths:
        return Tree([], [], version=1)
    # Bracket every path with '/' so one search finds any empty, '.' or '..'
    # segment, a leading '/' or a trailing '/'.
    joined = "/" + "/\n/".join(paths) + "/"
    for mark in ("//", "/./", "/../"):
        if mark in joined:
            line = joined.count("\n", 0, joined.index(mark)) + 2
            raise FileFormatError(name, "a path is absolute or has a '.', '..' or empty segment", line, _UNSAFE)
    for part in NEVER_TRACKED:
        mark = f"/{part}/"
        if mark in joined:
            line = joined.count("\n", 0, joined.index(mark)) + 2
            raise FileFormatError(name, f"a path holds a {part} folder, which mlvc never tracks", line, _NESTED)
    if max(map(len, paths)) * 4 > PATH_MAX or _LONG_NAME.search(joined):
        _check_lengths(paths, "", name)
    _check_sorted(paths, paths, name)
    _check_no_file_is_a_folder(paths, name)
    if check_meta and not all(map(_META_RE.match, metas)):
        _raise_bad_meta(metas, paths, _META_RE, name)
    return Tree(paths, metas, version=1)


def _check_no_file_is_a_folder(paths: list[str], name: str) -> None:
    """Refuse a flat tree that holds both ``a`` and ``a/b``: no folder could hold both."""
    parents = {p.rpartition("/")[0] for p in paths}
    folders = set()
    for folder in parents:
        while folder and folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    if not folders.isdisjoint(paths):
        both = min(folders.intersection(paths))
        raise FileFormatError(name, f"{both!r} is both a file and a folder", paths.index(both) + 2, _UNSAFE)


def parse_folder(data: bytes, name: str = "tree", check_meta: bool = True) -> tuple[list[str], list[str]]:
    """Parse one format 2 tree object: its entries' names and metadata, every name checked,
    every sub-folder's metadata checked (its id is used to read the sub-folder)."""
    text = _decode(data, name)
    if not text.startswith(TREE_HEADER):
        _bad_header(text, name)
    if "/" in text:
        raise FileFormatError(name, "a name holds a '/'", _first_line_with(text, ("/",)), _UNSAFE)
    names, metas = _split(text, len(TREE_HEADER), name)
    if not names:
        return names, metas
    joined = "\n" + "\n".join(names) + "\n"
    for mark in ("\n\n", "\n.\n", "\n..\n"):
        if mark in joined:
            line = joined.count("\n", 0, joined.index(mark) + 1) + 1
            raise FileFormatError(name, "a name is empty, '.' or '..'", line, _UNSAFE)
    for part in NEVER_TRACKED:
        mark = f"\n{part}\n"
        if mark in joined:
            line = joined.count("\n", 0, joined.index(mark) + 1) + 1
            raise FileFormatError(name, f"the name {part!r} is another repository's folder, which mlvc never "
                                  "tracks", line, _NESTED)
    if max(map(len, names)) * 4 > NAME_MAX:
        _check_lengths(names, "", name)
    dirs = [i for i, m in enumerate(metas) if m[33:34] == "d"]
    keys = names
    if dirs:
        keys = names[:]
        for i in dirs:
            keys[i] = names[i] + "/"
            if _META_V2_RE.match(metas[i]) is None:
                raise FileFormatError(name, f"malformed entry for {names[i]!r}: {metas[i][:60]!r}", i + 2, _UNSAFE)
    _check_sorted(keys, names, name)
    if len(set(names)) != len(names):
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                raise FileFormatError(name, f"the name {n!r} appears twice", i + 2, _UNSAFE)
            seen.add(n)
    if check_meta and not all(map(_META_V2_RE.match, metas)):
        _raise_bad_meta(metas, names, _META_V2_RE, name)
    return names, metas


def check_object(data: bytes, name: str = "tree") -> None:
    """Raise FileFormatError unless ``data`` is a well-formed tree object of any format."""
    if data.startswith(TREE_HEADER.encode()):
        parse_folder(data, name)
    else:
        parse_tree(data, name)


def load_tree(oid: str, read: Callable[[str], bytes], check_meta: bool = True) -> Tree:
    """The flat ``Tree`` whose top tree object is ``oid``, of either format.

    ``read(oid)`` returns a tree object's bytes, checked against its id.
    """
    data = read(oid)
    if not data.startswith(TREE_HEADER.encode()):
        tree = parse_tree(data, f"tree {oid}", check_meta)
        tree._oid = oid
        return tree
    paths: list[str] = []
    metas: list[str] = []
    folders: dict[str, str] = {}
    for chunk_paths, chunk_metas in _walk_folders(oid, data, read, check_meta, folders):
        paths.extend(chunk_paths)
        metas.extend(chunk_metas)
    tree = Tree(paths, metas, oid)
    tree.folders = folders
    return tree


def walk_tree(oid: str, read: Callable[[str], bytes], check_meta: bool = True,
              folders: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """``(path, file metadata)`` of every file of tree ``oid``, sorted by path, read folder by
    folder as it goes (format 2) so that only the open folders are in memory. ``folders``,
    when given, receives each folder's tree id. Each folder is checked before any of its
    entries is yielded; a consumer that must see a whole tree checked first reads it all."""
    data = read(oid)
    if not data.startswith(TREE_HEADER.encode()):
        tree = parse_tree(data, f"tree {oid}", check_meta)
        if folders is not None:
            folders[""] = oid
        yield from zip(tree.paths, tree.metas)
        return
    for chunk_paths, chunk_metas in _walk_folders(oid, data, read, check_meta, folders):
        yield from zip(chunk_paths, chunk_metas)


def _walk_folders(oid: str, data: bytes, read, check_meta: bool, folders: dict[str, str] | None):
    """Depth-first over a format 2 tree, without recursion (a crafted tree may be deep):
    runs of files as ``(paths, metas)`` lists, in sorted order."""
    if folders is not None:
        folders[""] = oid
    names, ms = parse_folder(data, f"tree {oid}", check_meta)
    stack = [["", names, ms, 0]]  # each frame: folder prefix, names, metas, next index
    while stack:
        frame = stack[-1]
        prefix, names, ms, i = frame
        n = len(names)
        while i < n:
            if ms[i][33:34] == "d":  # a short (malformed) line is a file's, checked when used
                break
            i += 1
        start = frame[3]
        if i > start:
            yield ([prefix + nm for nm in names[start:i]] if prefix else names[start:i]), ms[start:i]
        if i == n:
            stack.pop()
            continue
        frame[3] = i + 1
        sub = ms[i][:32] + TREE_SUFFIX
        folder = prefix + names[i]
        if folders is not None:
            folders[folder] = sub
        sub_names, sub_metas = parse_folder(read(sub), f"tree {sub} ({folder})", check_meta)
        if not sub_names:
            raise FileFormatError(f"tree {sub} ({folder})", "a sub-folder holds no files", None, _UNSAFE)
        if (len(folder) + 1 + max(map(len, sub_names))) * 4 > PATH_MAX:
            _check_lengths(sub_names, folder + "/", f"tree {sub} ({folder})")
        stack.append([folder + "/", sub_names, sub_metas, 0])


_LONG_NAME = re.compile(r"[^/\n]{%d,}" % (NAME_MAX // 4 + 1))  # a segment that may be over NAME_MAX bytes


def _check_lengths(names: list[str], prefix: str, name: str) -> None:
    """Refuse a segment over ``NAME_MAX`` bytes or a path over ``PATH_MAX`` (``prefix`` + each
    of ``names``): no file system takes them, and checkout must fail before changing anything."""
    for i, n in enumerate(names):
        path = prefix + n
        problem = length_problem(path)
        if problem:
            shown = repr(path) if len(path) <= 80 else f"{path[:40]!r}...{path[-30:]!r}"
            raise FileFormatError(name, f"the path {shown} {problem}", i + 2, _UNSAFE)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(name, f"not valid UTF-8 ({exc.reason})") from None


def _bad_header(text: str, name: str) -> None:
    first = text.split("\n", 1)[0][:40]
    if first.startswith("mlvc-tree ") and first.rstrip("\r") not in ("mlvc-tree 1", "mlvc-tree 2"):
        raise FileFormatError(name, f"unsupported tree version {first[10:]!r}", 1, "upgrade mlvc")
    raise FileFormatError(name, "not an mlvc tree (bad header)", 1)


def _split(text: str, start: int, name: str) -> tuple[list[str], list[str]]:
    """The lines after the header as (keys, metadata), each line holding exactly one NUL."""
    if len(text) == start:
        return [], []
    if not text.endswith("\n"):
        raise FileFormatError(name, "truncated (no final newline)")
    if "\\" in text or "\r" in text:
        line = _first_line_with(text, ("\\", "\r"))
        bad = text.split("\n")[line - 1].partition("\0")[0]
        raise FileFormatError(name, f"the name {bad!r} {name_problem(bad) or 'contains a CR'}", line, _UNSAFE)
    parts = text[start:-1].replace("\0", "\n").split("\n")
    nuls = text.count("\0")
    if len(parts) != 2 * nuls:
        raise FileFormatError(name, "malformed: every line must hold exactly one NUL", _first_bad_line(text))
    return parts[0::2], parts[1::2]


def _check_sorted(keys: list[str], names: list[str], name: str) -> None:
    if not all(map(operator.lt, keys, islice(keys, 1, None))):
        for i, (a, b) in enumerate(zip(keys, islice(keys, 1, None))):
            if not a < b:
                raise FileFormatError(name, f"entries not sorted or duplicated at {names[i + 1]!r}", i + 3)


def _raise_bad_meta(metas: list[str], names: list[str], pattern: re.Pattern, name: str) -> None:
    for i, meta in enumerate(metas):
        if pattern.match(meta) is None:
            raise FileFormatError(name, f"malformed entry for {names[i]!r}: {meta[:60]!r}", i + 2, _UNSAFE)


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
