"""Building an artifact's record from the workspace: hash each file (or take its id from
the stat cache), store it in the cache, and give the tree's entries in sorted order.
"""

from __future__ import annotations

import os
import stat
from array import array

from mlvc.fs.parallel import run_parallel
from mlvc.objects.tree import Tree, file_meta
from mlvc.progress import NULL
from mlvc.workspace.scan import Scan, file_stat, signed_ino


def key(rel: str, path: str) -> str:
    """The repo-relative path of ``path`` inside the artifact ``rel`` ('' is the artifact itself)."""
    return f"{rel}/{path}" if path else rel


BATCH = 8192  # files hashed (and their stat cache rows saved) at a time: memory stays bounded


def hash_files(
    rel: str,
    found: Scan,
    state,
    hasher,
    progress=NULL,
    description: str = "Hashing",
    store_known: bool = False,
) -> tuple[list[str], array]:
    """The object id and size of every file of ``found``, in its (sorted) order.

    Where the stat cache vouches for a file (same inode, times and size) its id is
    taken from there; every other file goes to ``hasher(abs_path, size, known_oid) ->
    (oid, size)``, which may also store it (with ``store_known``, the files the cache
    vouches for go to it too, with their id). The scan and the stat cache's rows are
    both sorted by path and merged, and files are hashed and their new rows saved a
    batch at a time, so nothing per file is held but the ids and sizes returned.
    """
    n = len(found)
    oids: list[str] = [""] * n
    sizes = array("q", bytes(8 * n))
    rows = state.rows(rel)
    try:
        row = next(rows, None)
        base = rel + "/"
        top = found.top
        batch: list[tuple[int, str, int, int, int, int, str | None]] = []
        task = None
        vouched = 0

        def flush() -> None:
            nonlocal task, vouched
            if task is None:  # no bar at all when the stat cache vouches for every file
                task = progress.task(description, n)
            task.advance(vouched)
            vouched = 0

            def work(item):
                path = item[1]
                return hasher(f"{top}/{path}" if path else top, item[5], item[6])

            new_rows = []
            for (i, path, ino, mtime, ctime, _, known), (oid, size) in zip(batch, run_parallel(work, batch, task)):
                oids[i] = oid
                sizes[i] = size
                if known != oid:
                    new_rows.append((key(rel, path), ino, mtime, ctime, size, oid))
            state.save(new_rows)
            batch.clear()

        for i, (path, ino, mtime, ctime, size, _) in enumerate(found.stats()):
            k = base + path if path else rel
            while row is not None and row[0] < k:
                row = next(rows, None)
            sizes[i] = size
            if row is not None and row[0] == k and row[1:5] == (ino, mtime, ctime, size):
                oids[i] = row[5]
                if not store_known:
                    vouched += 1
                    continue
                batch.append((i, path, ino, mtime, ctime, size, row[5]))
            else:
                batch.append((i, path, ino, mtime, ctime, size, None))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
        if task is not None:
            task.advance(vouched)
            task.close()
        return oids, sizes
    finally:
        rows.close()  # the reader's connection closes with it, also on an error


def file_entries(found: Scan, oids: list[str], sizes: array, executable: list[bool] | None = None):
    """``(path, file metadata)`` of a scanned folder, sorted: what a tree is built from."""
    if executable is None:
        executable = found.executables()
    return ((p, file_meta(o, s, x)) for p, o, s, x in zip(found.paths, oids, sizes, executable))


def keep_exec_bits(old: Tree, found: Scan, oids: list[str], executable: list[bool]) -> None:
    """A linked file has its object's mode: keep the recorded executable bit while its content is unchanged."""
    for i, path in enumerate(found.paths):
        if not executable[i] and old.is_executable(path) and old.oid_of(path) == oids[i] \
                and is_linked(found.abspath(path)):
            executable[i] = True


def link_workspace(linker, rel: str, found: Scan, oids: list[str], sizes: array, state, progress=NULL,
                   executable: list[bool] | None = None) -> None:
    """Replace workspace files by links to their objects (hardlink/symlink modes), and
    save their new stat rows; ``linker`` is the ``CacheLinker`` that stored them. A file
    kept as a copy (the link limit) gets its ``executable`` bit."""
    odb = linker.odb
    first = linker.kinds[0]
    todo = []
    for i, (path, ino, *_) in enumerate(found.stats()):
        obj = odb.path(oids[i])
        abspath = found.abspath(path)
        if first == "hardlink":
            try:
                if signed_ino(os.stat(obj).st_ino) == ino:
                    continue
            except FileNotFoundError:
                pass
        elif os.path.islink(abspath) and os.readlink(abspath) == obj:
            continue
        todo.append(i)
    if not todo:
        return
    rows = []
    with progress.task(f"Linking {rel}", len(todo)) as task:
        for i in todo:
            path = found.paths[i]
            abspath = found.abspath(path)
            linker.place(oids[i], abspath, executable=bool(executable and executable[i]), size=sizes[i])
            ino, mtime, ctime, size, _ = file_stat(os.stat(abspath))
            rows.append((key(rel, path), ino, mtime, ctime, size, oids[i]))
            if len(rows) >= BATCH:
                state.save(rows)
                rows.clear()
            task.advance()
    state.save(rows)


def is_linked(path: str) -> bool:
    """True when a workspace file shares its data with the cache (hardlink or symlink)."""
    st = os.lstat(path)
    return stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1)
