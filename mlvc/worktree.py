"""The workspace side: walking tracked paths, hashing with the stat cache, diffs."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field

from mlvc.errors import InvalidPathError
from mlvc.fsutil import TMP_PREFIX
from mlvc.objects import Tree
from mlvc.progress import NULL, run_parallel
from mlvc.state import RACY_NS, Row

# A file found in the workspace: (path inside the artifact, absolute path, stat)
Found = tuple[str, str, os.stat_result]
# What a workspace file holds: path inside the artifact -> (oid, size, executable)
Listing = dict[str, tuple[str, int, bool]]


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # repo-relative
    kind: str  # "added", "modified" or "deleted"
    old_oid: str | None = None
    new_oid: str | None = None


@dataclass
class Scan:
    """What is at an artifact's path in the workspace."""

    kind: str  # "file", "dir" or "missing"
    files: list[Found] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # temp files of a killed mlvc (absolute paths)


def _bad_name(path: str) -> str | None:
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8"
    if "\\" in path:
        return "contains a backslash"
    if "\n" in path or "\r" in path:
        return "contains a newline"
    return None


def scan(root: str, rel: str) -> Scan:
    """List the files at ``rel`` (repo-relative), recursing into folders."""
    top = os.path.join(root, rel)
    try:
        st = os.stat(top)
    except (FileNotFoundError, NotADirectoryError):  # absent, or a parent is a file
        return Scan("missing")
    if stat.S_ISREG(st.st_mode):
        return Scan("file", [("", top, st)])
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidPathError(f"{rel!r} is not a regular file or folder")
    files: list[Found] = []
    leftovers: list[str] = []
    stack = [("", top)]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                    if name.startswith(TMP_PREFIX):
                        leftovers.append(entry.path)
                        continue
                if entry.is_file(follow_symlinks=False):
                    est = entry.stat(follow_symlinks=False)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((prefix + name + "/", entry.path))
                    continue
                elif entry.is_symlink():
                    est = _follow(entry.path, rel, prefix + name)
                else:
                    raise InvalidPathError(f"{rel}/{prefix}{name} is not a regular file (a socket, pipe or device?)",
                                           "move it out of the tracked folder")
                if not name.isascii() or "\\" in name:
                    problem = _bad_name(name)
                    if problem:
                        raise InvalidPathError(f"cannot track {rel}/{prefix}{name!r}: its name {problem}", "rename it")
                files.append((prefix + name, entry.path, est))
    return Scan("dir", files, leftovers)


def fingerprint(files: list[Found]) -> str | None:
    """A digest of every file's path, inode, mtime and size; None while any file is racily new.

    When a folder's fingerprint equals one saved with a tree id, the folder
    still holds exactly that tree, and nothing needs hashing or looking up.
    """
    import xxhash
    from array import array

    limit = time.time_ns() - RACY_NS
    ints = array("q")
    for _, _, st in files:
        if st.st_mtime_ns > limit or st.st_ctime_ns > limit:
            return None
        ints.extend((st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size))
    h = xxhash.xxh3_128("\0".join(f[0] for f in files).encode("utf-8", "surrogateescape"))
    h.update(ints.tobytes())
    return h.hexdigest()


def _follow(path: str, rel: str, inner: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidPathError(f"{rel}/{inner} is a broken symlink", "remove it or point it at a file") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidPathError(f"{rel}/{inner} is a symlink to a folder; mlvc does not follow those",
                               "replace it with the folder itself")
    return st


def _key(rel: str, path: str) -> str:
    return f"{rel}/{path}" if path else rel


def hash_files(
    rel: str,
    files: list[Found],
    state_rows: dict[str, tuple[int, int, int, int, str]],
    hasher,
    progress=NULL,
    description: str = "Hashing",
    store_known: bool = False,
) -> tuple[Listing, list[Row]]:
    """Find the object id of every file, from the stat cache where it vouches for
    the file, else with ``hasher(abs_path, size, known_oid) -> (oid, size)``
    (which may also store the file; with ``store_known`` it is called for the
    files the cache vouches for too). Returns the listing and new cache rows."""
    listing: Listing = {}
    todo: list[tuple[Found, str | None]] = []
    base = rel + "/"
    get = state_rows.get
    for found in files:
        path, _, st = found
        row = get(base + path if path else rel)
        if (row is not None and row[0] == st.st_ino and row[1] == st.st_mtime_ns and row[2] == st.st_ctime_ns
                and row[3] == st.st_size):
            listing[path] = (row[4], st.st_size, bool(st.st_mode & 0o100))
            if not store_known:
                continue
            todo.append((found, row[4]))
        else:
            todo.append((found, None))
    new_rows: list[Row] = []
    if not todo:
        return listing, new_rows

    def work(item):
        (path, abspath, st), known = item
        oid, size = hasher(abspath, st.st_size, known)
        return path, oid, size, st, known

    with progress.task(description, len(todo)) as task:
        results = run_parallel(work, todo, task)
    for path, oid, size, st, known in results:
        listing[path] = (oid, size, bool(st.st_mode & 0o100))
        if known != oid:
            new_rows.append((_key(rel, path), st.st_ino, st.st_mtime_ns, st.st_ctime_ns, size, oid))
    return listing, new_rows


def diff(rel: str, recorded: Tree | None, current: Listing) -> list[Change]:
    """Files added, modified or deleted in ``current`` relative to ``recorded`` (content only)."""
    changes: list[Change] = []
    index = recorded.index if recorded is not None else {}
    for path, (oid, _, _) in current.items():
        meta = index.get(path)
        if meta is None:
            changes.append(Change(_key(rel, path), "added", None, oid))
        elif meta[:32] != oid:
            changes.append(Change(_key(rel, path), "modified", meta[:32], oid))
    for path in index.keys() - current.keys() if recorded is not None else ():
        changes.append(Change(_key(rel, path), "deleted", index[path][:32], None))
    changes.sort(key=lambda c: c.path)
    return changes


def listing_to_tree(listing: Listing) -> Tree:
    return Tree.from_entries((p, o, s, x) for p, (o, s, x) in listing.items())
