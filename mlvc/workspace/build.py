"""Building an artifact's record from the workspace: hash each file (or take its id from
the stat cache), store it in the cache, and turn the listing into a tree.
"""

from __future__ import annotations

import os
import stat

from mlvc.fs.parallel import run_parallel
from mlvc.objects.tree import Tree
from mlvc.progress import NULL
from mlvc.workspace.scan import Scan, file_stat, signed_ino
from mlvc.workspace.state import Row

# What a workspace file holds: path inside the artifact -> (oid, size, executable)
Listing = dict[str, tuple[str, int, bool]]


def key(rel: str, path: str) -> str:
    """The repo-relative path of ``path`` inside the artifact ``rel`` ('' is the artifact itself)."""
    return f"{rel}/{path}" if path else rel


def hash_files(
    rel: str,
    found: Scan,
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
    todo: list[tuple[str, int, int, int, int, int, str | None]] = []
    base = rel + "/"
    get = state_rows.get
    for item in found.stats():
        path, ino, mtime, ctime, size, mode = item
        row = get(base + path if path else rel)
        if row is not None and row[0] == ino and row[1] == mtime and row[2] == ctime and row[3] == size:
            listing[path] = (row[4], size, bool(mode & 0o100))
            if store_known:
                todo.append((*item, row[4]))
        else:
            todo.append((*item, None))
    new_rows: list[Row] = []
    if not todo:
        return listing, new_rows
    top = found.top

    def work(item):
        path = item[0]
        return hasher(f"{top}/{path}" if path else top, item[4], item[6])

    with progress.task(description, len(todo)) as task:
        results = run_parallel(work, todo, task)
    for (path, ino, mtime, ctime, _, mode, known), (oid, size) in zip(todo, results):
        listing[path] = (oid, size, bool(mode & 0o100))
        if known != oid:
            new_rows.append((key(rel, path), ino, mtime, ctime, size, oid))
    return listing, new_rows


def listing_to_tree(listing: Listing) -> Tree:
    return Tree.from_entries((p, o, s, x) for p, (o, s, x) in listing.items())


def keep_exec_bits(old: Tree, found: Scan, listing: Listing) -> None:
    """A linked file has its object's mode: keep the recorded executable bit while its content is unchanged."""
    for path in found.paths:
        if old.is_executable(path) and old.oid_of(path) == listing[path][0] and is_linked(found.abspath(path)):
            oid, size, _ = listing[path]
            listing[path] = (oid, size, True)


def link_workspace(linker, rel: str, found: Scan, listing: Listing, rows: list[Row], progress=NULL) -> list[Row]:
    """Replace workspace files by links to their objects (hardlink/symlink modes);
    ``linker`` is the ``CacheLinker`` that stored them."""
    odb = linker.odb
    first = linker.kinds[0]
    todo = []
    for path, ino, *_ in found.stats():
        oid = listing[path][0]
        obj = odb.path(oid)
        abspath = found.abspath(path)
        if first == "hardlink":
            try:
                if signed_ino(os.stat(obj).st_ino) == ino:
                    continue
            except FileNotFoundError:
                pass
        elif os.path.islink(abspath) and os.readlink(abspath) == obj:
            continue
        todo.append((path, abspath, oid, listing[path][1]))
    if not todo:
        return rows
    by_path = {r[0]: r for r in rows}
    with progress.task(f"Linking {rel}", len(todo)) as task:
        for path, abspath, oid, size in todo:
            linker.place(oid, abspath, size=size)
            ino, mtime, ctime, size, _ = file_stat(os.stat(abspath))
            k = key(rel, path)
            by_path[k] = (k, ino, mtime, ctime, size, oid)
            task.advance()
    return list(by_path.values())


def is_linked(path: str) -> bool:
    """True when a workspace file shares its data with the cache (hardlink or symlink)."""
    st = os.lstat(path)
    return stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1)
