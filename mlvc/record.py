"""Recording an artifact: store its content in the cache and describe it for the lock.

Shared by ``add`` (a new artifact) and ``commit`` (an artifact that changed).
"""

from __future__ import annotations

import os
import stat

from mlvc.errors import InvalidPathError
from mlvc.fsutil import SafeDirs
from mlvc.lockfile import LockEntry
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.state import Row
from mlvc.worktree import fingerprint, hash_files, listing_to_tree, scan


def record(repo: Repo, rel: str, progress=NULL, previous: LockEntry | None = None) -> tuple[LockEntry, list[Row]]:
    """Store the workspace content at ``rel`` in the cache; return its lock entry and stat rows.

    With ``hardlink`` or ``symlink`` first in ``cache.type`` the workspace
    files are then replaced by read-only links to the cache objects. A linked
    file shares the object's mode, so its executable bit is taken from the
    ``previous`` record while its content is unchanged.
    """
    found = scan(repo.root, rel)
    if found.kind == "missing":
        raise InvalidPathError(f"{rel} does not exist", "check the path, or `mlvc remove` it to stop tracking it")
    odb = repo.odb
    kinds = repo.config.link_types
    state_rows = repo.state.load(rel)

    def store(abspath: str, size: int, known: str | None):
        return odb.add_file(abspath, kinds, known, size)

    listing, rows = hash_files(rel, found.files, state_rows, store, progress, f"Adding {rel}",
                                store_known=True)
    if kinds[0] in ("hardlink", "symlink"):
        top = os.path.join(repo.root, rel)
        SafeDirs(repo.root).check(top if found.kind == "dir" else os.path.dirname(top))
        rows = _link_workspace(repo, rel, found.files, listing, kinds, rows, progress)
    if found.kind == "file":
        oid, size, _ = listing[""]
        return LockEntry(rel, oid, size), rows
    if previous is not None and previous.is_dir and odb.exists(previous.oid):
        _keep_exec_bits(odb.load_tree(previous.oid), found.files, listing)
    tree = listing_to_tree(listing)
    oid = odb.save_tree(tree)
    if "hardlink" not in kinds and "symlink" not in kinds:  # the files were only read: the scan still holds
        fp = fingerprint(found.files)
        if fp is not None:
            repo.state.save_dir(rel, fp, oid)
    return LockEntry(rel, oid, sum(v[1] for v in listing.values()), len(listing)), rows


def _keep_exec_bits(old, files, listing) -> None:
    index = old.index
    for path, abspath, _ in files:
        meta = index.get(path)
        if meta is not None and meta[33] == "x" and meta[:32] == listing[path][0] and is_linked(abspath):
            oid, size, _ = listing[path]
            listing[path] = (oid, size, True)


def _link_workspace(repo, rel, files, listing, kinds, rows, progress) -> list[Row]:
    """Replace workspace files by links to their objects (hardlink/symlink modes)."""
    odb = repo.odb
    first = kinds[0]
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
            odb.link_out(oid, abspath, kinds, size=size)
            st = os.stat(abspath)
            key = f"{rel}/{path}" if path else rel
            by_path[key] = (key, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size, oid)
            task.advance()
    return list(by_path.values())


def is_linked(path: str) -> bool:
    """True when a workspace file shares its data with the cache (hardlink or symlink)."""
    st = os.lstat(path)
    return stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1)
