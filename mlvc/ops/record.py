"""Recording an artifact: store its content in the cache and describe it for the lock.

Shared by ``add`` (a new artifact) and ``commit`` (an artifact that changed).
"""

from __future__ import annotations

import os

from mlvc.errors import InvalidPathError
from mlvc.formats.lock import LockEntry
from mlvc.fs.paths import SafeDirs
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace.build import hash_files, is_linked, keep_exec_bits, link_workspace, listing_to_tree
from mlvc.workspace.cachelink import CacheLinker
from mlvc.workspace.scan import fingerprint, scan
from mlvc.workspace.state import Row


def record(repo: Repo, rel: str, linker: CacheLinker, progress=NULL,
           previous: LockEntry | None = None) -> tuple[LockEntry, list[Row]]:
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
    kinds = linker.kinds
    state_rows = repo.state.load(rel)

    def store(abspath: str, size: int, known: str | None):
        return linker.store(abspath, known, size)

    listing, rows = hash_files(rel, found, state_rows, store, progress, f"Adding {rel}",
                                store_known=True)
    if kinds[0] in ("hardlink", "symlink"):
        top = os.path.join(repo.root, rel)
        SafeDirs(repo.root).check(top if found.kind == "dir" else os.path.dirname(top))
        rows = link_workspace(linker, rel, found, listing, rows, progress)
    if found.kind == "file":
        oid, size, x = listing[""]
        if (not x and previous is not None and previous.executable and previous.oid == oid
                and is_linked(found.top)):
            x = True  # a linked file has the object's mode: the bit is kept while the content is
        return LockEntry(rel, oid, size, executable=x), rows
    if previous is not None and previous.is_dir and odb.exists(previous.oid):
        keep_exec_bits(odb.load_tree(previous.oid), found, listing)
    tree = listing_to_tree(listing)
    oid = odb.save_tree(tree)
    if "hardlink" not in kinds and "symlink" not in kinds:  # the files were only read: the scan still holds
        fp = fingerprint(found)
        if fp is not None:
            repo.state.save_dir(rel, fp, oid)
    return LockEntry(rel, oid, sum(v[1] for v in listing.values()), len(listing)), rows


def record_all(repo: Repo, targets: list[str], previous: dict[str, LockEntry],
               progress=NULL) -> tuple[list[LockEntry], list[str]]:
    """Record every target; return the entries and the targets whose entry did not change."""
    linker = CacheLinker(repo.odb, repo.config.link_types)
    entries = []
    unchanged = []
    all_rows = []
    for rel in targets:
        entry, rows = record(repo, rel, linker, progress, previous.get(rel))
        all_rows.extend(rows)
        if previous.get(rel) == entry:
            unchanged.append(rel)
            entry = previous[rel]  # as it was read: keys a newer mlvc wrote stay with it
        entries.append(entry)
    repo.odb.flush()  # objects are durable before the lock that names them
    repo.state.save(all_rows)
    sig = repo.odb.signature()  # every object of these trees was just stored or found
    if sig is not None:
        repo.state.set_cache_sig([e.path for e in entries if e.is_dir], sig)
    return entries, unchanged
