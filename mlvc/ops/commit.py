"""``commit``: record the workspace state of tracked artifacts in mlvc.lock.

What is tracked is ``targets``' one rule. An entry of mlvc.lock whose path mlvc.yaml no
longer lists is dropped, with its .gitignore line (and its files made private copies,
as ``remove`` does). A path inside a folder artifact records that part only: it is
hashed, spliced into the recorded tree, and the tree's new objects are written; changes
elsewhere in the folder stay unrecorded.
"""

from __future__ import annotations

import heapq
import operator
import os
from dataclasses import dataclass, field

from mlvc.errors import ArtifactNotFoundError, MlvcError
from mlvc.formats.lock import LOCK_FILE, LOCK_SCHEMA, LockEntry
from mlvc.formats.project import PROJECT_FILE
from mlvc.fs.paths import SafeDirs
from mlvc.objects.tree import file_meta, meta_oid, split_meta
from mlvc.ops.record import _drop_damaged, record_all
from mlvc.ops.targets import Target, check_part, save, select, writing
from mlvc.ops.unprotect import unprotect_artifact
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace import gitignore
from mlvc.workspace.build import hash_files, key, link_workspace
from mlvc.workspace.cachelink import CacheLinker
from mlvc.workspace.compare import executable, is_cache_link, part_of
from mlvc.workspace.scan import scan


@dataclass(frozen=True)
class CommitResult:
    entries: list[LockEntry]  # every artifact recorded (or found unchanged), as now recorded
    git_files: list[str]  # what to `git add` next
    unchanged: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # entries of mlvc.lock not in mlvc.yaml, dropped
    parts: list[str] = field(default_factory=list)  # paths inside folder artifacts that were recorded


def commit(repo: Repo, paths: list[str], cwd: str | None = None, progress=NULL) -> CommitResult:
    with writing(repo) as (project, lock):
        chosen = select(repo, paths, project, lock, cwd, stale=True)
        stale = [t.artifact for t in chosen if not t.tracked]
        whole = [t.artifact for t in chosen if t.tracked and not t.inner]
        parts = [t for t in chosen if t.tracked and t.inner]
        if not chosen:
            raise MlvcError("nothing is tracked yet", "track files with `mlvc add PATH`")
        for t in parts:  # every check before the first change
            if t.artifact not in lock.artifacts:
                raise ArtifactNotFoundError(f"{t.artifact} has no recorded version yet, so {t.path} cannot be "
                                            "recorded alone", f"record it whole first: `mlvc commit {t.artifact}`")
            check_part(repo, t)
        entries, unchanged = record_all(repo, whole, lock.artifacts, progress)
        by_path = {e.path: e for e in entries}
        if parts:
            linker = CacheLinker(repo.odb, repo.config.link_types, progress)
            for t in parts:
                before = lock.artifacts[t.artifact]
                entry = record_part(repo, t, before, linker, progress)
                if entry == before:
                    entry = before  # as it was read: keys a newer mlvc wrote stay with it
                lock.artifacts[t.artifact] = entry
                by_path[t.artifact] = entry
                if entry is before and t.artifact not in unchanged:
                    unchanged.append(t.artifact)
                elif entry is not before and t.artifact in unchanged:
                    unchanged.remove(t.artifact)
            linker.finish()
            repo.odb.flush()  # objects are durable before the lock that names them
        git_files = set()
        for entry in entries:
            lock.artifacts[entry.path] = entry
            gi = gitignore.ignore(repo.root, entry.path)  # a path added to mlvc.yaml by hand
            if gi:
                git_files.add(gi)
        for rel in stale:  # taken out of mlvc.yaml by hand: no longer tracked
            unprotect_artifact(repo, rel, lock.artifacts[rel], progress)
            del lock.artifacts[rel]
            gi = gitignore.unignore(repo.root, rel)
            if gi:
                git_files.add(gi)
            repo.state.forget(rel)
        new_project = new_lock = None
        if not project.exists:
            project.artifacts = sorted(lock.artifacts)
            new_project = project
            git_files.add(PROJECT_FILE)
        changed = len(unchanged) < len(by_path)
        if changed or stale or lock.schema < LOCK_SCHEMA:  # an older schema is migrated
            new_lock = lock
            git_files.add(LOCK_FILE)
        save(repo, new_project, new_lock)  # both or neither
        return CommitResult(sorted(by_path.values(), key=lambda e: e.path), sorted(git_files), sorted(unchanged),
                            stale, [t.path for t in parts])


def record_part(repo: Repo, target: Target, entry: LockEntry, linker: CacheLinker, progress=NULL) -> LockEntry:
    """Record the part ``target.inner`` of the folder artifact ``entry``: hash (and store) what
    the workspace holds there, splice it into the recorded tree in place of what the tree
    held there, and store the new tree's objects (those of unchanged folders exist already).
    Returns the artifact's new entry."""
    odb = repo.odb
    path = target.path
    recorded = list(part_of(odb.walk_tree(entry.oid), target.inner))
    found = scan(repo.root, path)
    if found.kind == "missing" and not recorded:
        raise ArtifactNotFoundError(f"{path} is neither in the workspace nor in the recorded version of "
                                    f"{target.artifact}", f"see `mlvc status {target.artifact}`")
    new: list[tuple[str, str]] = []
    if found.kind != "missing":
        def store(abspath: str, size: int, known: str | None):
            return linker.store(abspath, known, size)

        oids, sizes = hash_files(path, found, repo.state, store, progress, f"Adding {path}", store_known=True)
        execs = found.executables()
        was = dict(recorded)
        # a recorded object written through its link (root) is dropped, as a whole commit does
        _drop_damaged(repo, linker, path, found, oids,
                      lambda p: meta_oid(was[p]) if p in was else None, progress)
        if linker.kinds[0] in ("hardlink", "symlink"):
            top = os.path.join(repo.root, path)
            SafeDirs(repo.root).check(top if found.kind == "dir" else os.path.dirname(top))
            for i, p in enumerate(found.paths):  # a linked file has the object's mode: keep the recorded bit
                meta = was.get(p)
                if not execs[i] and meta is not None and meta_oid(meta) == oids[i] and executable(meta) \
                        and is_cache_link(found.abspath(p), odb.path(oids[i]), odb.cache):
                    execs[i] = True
            link_workspace(linker, path, found, oids, sizes, repo.state, progress, execs)
        new = [(key(target.inner, p), file_meta(o, s, x)) for p, o, s, x in zip(found.paths, oids, sizes, execs)]
    totals = [0, 0]

    def counted(stream):
        for p, meta in stream:
            totals[0] += split_meta(meta)[1]
            totals[1] += 1
            yield p, meta

    kept = ((p, m) for p, m in odb.walk_tree(entry.oid) if not target.covers(p))
    oid = odb.save_entries(counted(heapq.merge(kept, new, key=operator.itemgetter(0))))
    if not totals[1]:
        raise MlvcError(f"recording {path} would leave {target.artifact} without any file",
                        f"to stop tracking it, run `mlvc remove {target.artifact}`")
    return LockEntry(target.artifact, oid, totals[0], totals[1])
