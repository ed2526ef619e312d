"""Recording an artifact: store its content in the cache and describe it for the lock.

Shared by ``add`` (a new artifact) and ``commit`` (an artifact that changed).
"""

from __future__ import annotations

import os

from mlvc import fs
from mlvc.errors import InvalidPathError
from mlvc.formats.lock import LockEntry
from mlvc.fs.paths import SafeDirs
from mlvc.progress import NULL
from mlvc.ops.targets import check_inside
from mlvc.repo import Repo
from mlvc.workspace.build import file_entries, hash_files, is_linked, keep_exec_bits, link_workspace
from mlvc.workspace.cachelink import CacheLinker, is_object_file
from mlvc.workspace.scan import fingerprint, scan


def record(repo: Repo, rel: str, linker: CacheLinker, progress=NULL,
           previous: LockEntry | None = None) -> LockEntry:
    """Store the workspace content at ``rel`` in the cache; return its lock entry.

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
    linking = kinds[0] in ("hardlink", "symlink")

    def store(abspath: str, size: int, known: str | None):
        return linker.store(abspath, known, size)

    oids, sizes = hash_files(rel, found, repo.state, store, progress, f"Adding {rel}", store_known=True)
    executable = found.executables()
    old = None
    if previous is not None and previous.is_dir and found.kind == "dir" and linking and odb.exists(previous.oid):
        old = odb.load_tree(previous.oid)
        _drop_damaged(repo, linker, rel, found, oids, old.oid_of, progress)
    elif previous is not None and not previous.is_dir and found.kind == "file":
        _drop_damaged(repo, linker, rel, found, oids, lambda path: previous.oid, progress)
    if linking:
        top = os.path.join(repo.root, rel)
        SafeDirs(repo.root).check(top if found.kind == "dir" else os.path.dirname(top))
        if old is not None:
            keep_exec_bits(old, found, oids, executable)
        elif previous is not None and previous.executable and previous.oid == oids[0] and is_linked(found.top):
            executable[0] = True
        link_workspace(linker, rel, found, oids, sizes, repo.state, progress, executable)
    if found.kind == "file":
        return LockEntry(rel, oids[0], sizes[0], executable=executable[0])
    oid = odb.save_entries(file_entries(found, oids, sizes, executable))
    if not linking:  # the files were only read: the scan still holds
        fp = fingerprint(found)
        if fp is not None:
            repo.state.save_dir(rel, fp, oid)
    return LockEntry(rel, oid, sum(sizes), len(found))


def _drop_damaged(repo: Repo, linker: CacheLinker, rel: str, found, oids: list[str], recorded_oid,
                  progress) -> None:
    """Drop each recorded object that a workspace file now hashing to something else still
    is (hardlink or symlink): it was written through its link, its name is wrong, and the
    file's new content has just been stored under its own id. The version it held is lost
    from this cache; say so."""
    odb = repo.odb
    for i, path in enumerate(found.paths):
        old = recorded_oid(path)
        if old is None or old == oids[i]:
            continue
        obj = odb.path(old)
        abspath = found.abspath(path)
        if is_object_file(abspath, obj):
            fs.unlink_quiet(obj)
            odb._dirty = True
            shown = f"{rel}/{path}" if path else rel
            progress.warn(f"cache object {old} was damaged: {shown} is linked to it and was changed in place; "
                          "recorded its new content and dropped the damaged object (the version it held is "
                          "lost from this cache)")


def record_all(repo: Repo, targets: list[str], previous: dict[str, LockEntry],
               progress=NULL) -> tuple[list[LockEntry], list[str]]:
    """Record every target; return the entries and the targets whose entry did not change."""
    for rel in targets:  # all of them before the first is recorded
        check_inside(repo, rel)
    linker = CacheLinker(repo.odb, repo.config.link_types, progress)
    entries = []
    unchanged = []
    for rel in targets:
        entry = record(repo, rel, linker, progress, previous.get(rel))
        if previous.get(rel) == entry:
            unchanged.append(rel)
            entry = previous[rel]  # as it was read: keys a newer mlvc wrote stay with it
        entries.append(entry)
    linker.finish()
    repo.odb.flush()  # objects are durable before the lock that names them
    sig = repo.odb.signature()  # every object of these trees was just stored or found
    if sig is not None:
        repo.state.set_cache_sig([e.path for e in entries if e.is_dir], sig)
    for message in repo.state.take_warnings():  # the stat cache switched itself off (a full disk ...)
        progress.warn(message)
    return entries, unchanged
