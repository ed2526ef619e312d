"""Building an artifact's record from the workspace: hash each file (or take its id from
the stat cache), store it in the cache, and turn the listing into a tree.
"""

from __future__ import annotations

import os
import stat

from mlvc.fs.parallel import run_parallel
from mlvc.objects.tree import Tree
from mlvc.progress import NULL
from mlvc.workspace.scan import Found
from mlvc.workspace.state import Row

# What a workspace file holds: path inside the artifact -> (oid, size, executable)
Listing = dict[str, tuple[str, int, bool]]


def key(rel: str, path: str) -> str:
    """The repo-relative path of ``path`` inside the artifact ``rel`` ('' is the artifact itself)."""
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
            new_rows.append((key(rel, path), st.st_ino, st.st_mtime_ns, st.st_ctime_ns, size, oid))
    return listing, new_rows


def listing_to_tree(listing: Listing) -> Tree:
    return Tree.from_entries((p, o, s, x) for p, (o, s, x) in listing.items())


def keep_exec_bits(old, files, listing) -> None:
    for path, abspath, _ in files:
        if old.is_executable(path) and old.oid_of(path) == listing[path][0] and is_linked(abspath):
            oid, size, _ = listing[path]
            listing[path] = (oid, size, True)


def link_workspace(linker, rel, files, listing, rows, progress=NULL) -> list[Row]:
    """Replace workspace files by links to their objects (hardlink/symlink modes);
    ``linker`` is the ``CacheLinker`` that stored them."""
    odb = linker.odb
    first = linker.kinds[0]
    todo = []
    for path, abspath, st in files:
        oid = listing[path][0]
        obj = odb.path(oid)
        if first == "hardlink":
            try:
                if os.stat(obj).st_ino == st.st_ino:
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
            st = os.stat(abspath)
            k = key(rel, path)
            by_path[k] = (k, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size, oid)
            task.advance()
    return list(by_path.values())


def is_linked(path: str) -> bool:
    """True when a workspace file shares its data with the cache (hardlink or symlink)."""
    st = os.lstat(path)
    return stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1)
