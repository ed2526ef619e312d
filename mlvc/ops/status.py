"""``status``: how the workspace compares with ``mlvc.lock``.

What is tracked is ``targets``' one rule: an entry of mlvc.lock that mlvc.yaml no longer
lists is reported as such (``not in mlvc.yaml``), and a path inside a folder artifact
reports that part of it against the recorded tree. The stages of mlvc.yaml are judged by
``mlvc.pipeline.status.stage_status``, which ``mlvc.api`` passes in (ops never imports
pipeline), and only when mlvc.yaml has stages: without them status loads nothing of the
pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from mlvc.errors import ArtifactNotFoundError, ObjectNotFoundError

from mlvc.formats.lock import LockEntry, read_lock
from mlvc.formats.project import read_project
from mlvc.objects.hashing import hash_file
from mlvc.objects.tree import check_oids, encode_entries, file_oids, meta_oid
from mlvc.ops.targets import Target, check_part, select
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace.build import file_entries, hash_files
from mlvc.workspace.cachelink import warn_damaged
from mlvc.workspace.compare import MODE, Change, diff, is_cache_link, part_of
from mlvc.workspace.scan import fingerprint, scan

OK = "ok"
MODIFIED = "modified"
MISSING = "missing"
NOT_IN_CACHE = "not in cache"
NOT_RECORDED = "not recorded"
NOT_IN_PROJECT = "not in mlvc.yaml"


@dataclass(frozen=True)
class ArtifactStatus:
    path: str
    status: str  # ok | modified | missing | not in cache | not recorded | not in mlvc.yaml
    kind: str  # file | dir
    changes: list[Change] = field(default_factory=list)
    missing_objects: int = 0

    @property
    def clean(self) -> bool:
        return self.status == OK


def _hasher(abspath, size, known):
    return (known, size) if known is not None else hash_file(abspath, size)


def _linked(repo: Repo, found):
    """``linked(path, oid)`` for ``diff``: is this workspace file the cache object itself?"""
    odb = repo.odb
    return lambda path, oid: is_cache_link(found.abspath(path), odb.path(oid), odb.cache)


def artifact_status(repo: Repo, rel: str, entry: LockEntry | None, progress=NULL) -> ArtifactStatus:
    if entry is None:
        found = scan(repo.root, rel)
        kind = "dir" if found.kind == "dir" else "file"
        return ArtifactStatus(rel, MISSING if found.kind == "missing" else NOT_RECORDED, kind)
    kind = "dir" if entry.is_dir else "file"
    found = scan(repo.root, rel)
    if found.kind == "missing":
        return ArtifactStatus(rel, MISSING, kind)
    odb = repo.odb
    fp = fingerprint(found) if found.kind == "dir" and entry.is_dir else None
    saved = repo.state.get_dir(rel) if fp is not None else None
    if saved is not None and saved[:2] == (fp, entry.oid) and odb.exists(entry.oid):
        if saved[2] is not None and saved[2] == odb.signature():
            return ArtifactStatus(rel, OK, kind)  # nothing changed here, nor in the cache, since all was seen
        return _cache_status(repo, rel, entry, fp=fp)

    oids, sizes = hash_files(rel, found, repo.state, _hasher, progress, f"Checking {rel}")
    if not entry.is_dir:
        if found.kind == "dir":
            return ArtifactStatus(rel, MODIFIED, kind, [Change(rel, "modified", entry.oid, None)])
        x = found.executables()[0]
        moded = x != entry.executable and not _linked(repo, found)("", entry.oid)
        if oids[0] != entry.oid:
            return ArtifactStatus(rel, MODIFIED, kind, [Change(rel, "modified", entry.oid, oids[0], moded)])
        if moded:
            return ArtifactStatus(rel, MODIFIED, kind, [Change(rel, MODE, entry.oid, oids[0], True)])
        if not odb.exists(entry.oid):
            return ArtifactStatus(rel, NOT_IN_CACHE, kind, missing_objects=1)
        return ArtifactStatus(rel, OK, kind)
    if found.kind == "file":
        return ArtifactStatus(rel, MODIFIED, kind, [Change(rel, "modified", entry.oid, oids[0])])
    try:
        # Compared as it is read, folder by folder: a tree's ids are checked where used.
        changes = diff(rel, found.paths, oids, odb.walk_tree(entry.oid, check_meta=False),
                       found.executables(), _linked(repo, found))
    except ObjectNotFoundError as exc:  # the tree, or one of its sub-folders' trees
        # Without the tree the changes cannot be listed, only whether the content is the same.
        same = encode_entries(file_entries(found, oids, sizes), lambda o, d: None)[0] == entry.oid
        return ArtifactStatus(rel, NOT_IN_CACHE if same else MODIFIED, kind,
                              missing_objects=len(exc.oids) if same else 0)
    if changes:
        return ArtifactStatus(rel, MODIFIED, kind, changes)
    return _cache_status(repo, rel, entry, check_oids(set(oids)), fp)


def _cache_status(repo: Repo, rel: str, entry: LockEntry, oids: set[str] | None = None,
                  fp: str | None = None) -> ArtifactStatus:
    """A folder whose content matches the lock: ok if every object is in the cache.

    When all are, the cache's signature is saved with the folder's fingerprint,
    so the next status need not look again until an object comes or goes."""
    odb = repo.odb
    sig = odb.signature()  # taken before looking: a change made while we look alters it
    if oids is None:
        oids = file_oids(odb.walk_tree(entry.oid, check_meta=False))
    missing = len(odb.missing(oids))
    if fp is not None:
        repo.state.save_dir(rel, fp, entry.oid, sig if not missing else None)
    if missing:
        return ArtifactStatus(rel, NOT_IN_CACHE, "dir", missing_objects=missing)
    return ArtifactStatus(rel, OK, "dir")


def part_status(repo: Repo, target: Target, entry: LockEntry | None, progress=NULL) -> ArtifactStatus:
    """The status of a part of a folder artifact (``target.inner``) against that part of the
    recorded tree: the same answers as for an artifact, for the files at or below it."""
    path = target.path
    check_part(repo, target)
    found = scan(repo.root, path)
    kind = "dir" if found.kind == "dir" else "file"
    if entry is None:
        return ArtifactStatus(path, MISSING if found.kind == "missing" else NOT_RECORDED, kind)
    odb = repo.odb
    try:
        recorded = list(part_of(odb.walk_tree(entry.oid, check_meta=False), target.inner))
    except ObjectNotFoundError as exc:  # without the tree, what it held there cannot be told
        return ArtifactStatus(path, NOT_IN_CACHE, kind, missing_objects=len(exc.oids))
    if recorded and recorded[0][0]:
        kind = "dir"
    if found.kind == "missing":
        if not recorded:
            raise ArtifactNotFoundError(f"{path} is neither in the workspace nor in the recorded version of "
                                        f"{target.artifact}", f"see `mlvc status {target.artifact}`")
        return ArtifactStatus(path, MISSING, kind)
    oids = hash_files(path, found, repo.state, _hasher, progress, f"Checking {path}")[0]
    changes = diff(path, found.paths, oids, recorded, found.executables(), _linked(repo, found))
    if changes:
        return ArtifactStatus(path, MODIFIED, kind, changes)
    missing = len(odb.missing(check_oids({meta_oid(m) for _, m in recorded})))
    if missing:
        return ArtifactStatus(path, NOT_IN_CACHE, kind, missing_objects=missing)
    return ArtifactStatus(path, OK, kind)


@dataclass(frozen=True)
class StatusResult:
    artifacts: list[ArtifactStatus]
    stages: list[Any] = field(default_factory=list)  # mlvc.pipeline.status.StageStatus, in mlvc.yaml's order

    @property
    def clean(self) -> bool:
        return all(a.clean for a in self.artifacts) and not any(s.stale for s in self.stages)


def status(repo: Repo, paths: list[str] | None = None, cwd: str | None = None, progress=NULL,
           stages: Callable[..., list] | None = None, remote: str | None = None,
           cloud: bool = False, full: bool = False) -> StatusResult:
    """The status of the targets named by ``paths`` (every artifact when empty), and of the
    entries of mlvc.lock that mlvc.yaml no longer lists (``not in mlvc.yaml``). With
    ``stages(repo, project, lock, paths, progress)`` and stages in mlvc.yaml, theirs too
    (with ``paths``, of the stages that make the paths selected), from the same reading of
    both files. With ``cloud`` (or a ``remote`` named): the artifacts against that remote
    instead (``ops.transfer.remote_status``, a ``RemoteStatusResult``; ``full``: every object asked about)."""
    if cloud or remote:
        from mlvc.ops.transfer import remote_status

        return remote_status(repo, paths, remote, cwd, full, progress)
    lock = read_lock(repo.root)
    project = read_project(repo.root)
    result = []
    chosen = select(repo, paths or [], project, lock, cwd, stale=True)
    for t in chosen:
        entry = lock.artifacts.get(t.artifact)
        if not t.tracked:
            result.append(ArtifactStatus(t.path, NOT_IN_PROJECT, "dir" if entry.is_dir else "file"))
        elif t.inner:
            result.append(part_status(repo, t, entry, progress))
        else:
            result.append(artifact_status(repo, t.artifact, entry, progress))
        warn_damaged(repo.odb, repo.root, t.path, result[-1].changes, progress)  # written through a link
    if stages is None or not project.stages:
        return StatusResult(result)
    here = cwd or os.getcwd()
    whole = not paths or any(os.path.normpath(os.path.join(here, p)) == repo.root for p in paths)
    # what the artifacts' statuses already tell of the stages' outs: saves hashing them again
    known = {a.path: None if a.status == MISSING else lock.artifacts[a.path] for a in result
             if a.status in (OK, NOT_IN_CACHE, MISSING) and a.path in lock.artifacts}
    return StatusResult(result, stages(repo, project, lock, None if whole else [t.path for t in chosen], progress,
                                       known=known))
