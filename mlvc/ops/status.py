"""``status``: how the workspace compares with ``mlvc.lock``."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlvc.errors import ObjectNotFoundError

from mlvc.formats.lock import LockEntry, read_lock
from mlvc.formats.project import read_project
from mlvc.objects.hashing import hash_file
from mlvc.objects.tree import check_oids, encode_entries, file_oids
from mlvc.ops.targets import select
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace.build import file_entries, hash_files
from mlvc.workspace.compare import Change, diff
from mlvc.workspace.scan import fingerprint, scan

OK = "ok"
MODIFIED = "modified"
MISSING = "missing"
NOT_IN_CACHE = "not in cache"
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class ArtifactStatus:
    path: str
    status: str  # ok | modified | missing | not in cache | not recorded
    kind: str  # file | dir
    changes: list[Change] = field(default_factory=list)
    missing_objects: int = 0

    @property
    def clean(self) -> bool:
        return self.status == OK


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

    def hasher(abspath, size, known):
        return (known, size) if known is not None else hash_file(abspath, size)

    oids, sizes = hash_files(rel, found, repo.state, hasher, progress, f"Checking {rel}")
    if not entry.is_dir:
        if found.kind == "dir":
            return ArtifactStatus(rel, MODIFIED, kind, [Change(rel, "modified", entry.oid, None)])
        if oids[0] != entry.oid:
            return ArtifactStatus(rel, MODIFIED, kind, [Change(rel, "modified", entry.oid, oids[0])])
        if not odb.exists(entry.oid):
            return ArtifactStatus(rel, NOT_IN_CACHE, kind, missing_objects=1)
        return ArtifactStatus(rel, OK, kind)
    if found.kind == "file":
        return ArtifactStatus(rel, MODIFIED, kind, [Change(rel, "modified", entry.oid, oids[0])])
    try:
        # Compared as it is read, folder by folder: a tree's ids are checked where used.
        changes = diff(rel, found.paths, oids, odb.walk_tree(entry.oid, check_meta=False))
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


def status(repo: Repo, paths: list[str] | None = None, cwd: str | None = None, progress=NULL) -> list[ArtifactStatus]:
    """The status of the artifacts named by ``paths`` (all when empty)."""
    lock = read_lock(repo.root)
    targets = select(repo, paths or [], read_project(repo.root), lock, cwd)
    return [artifact_status(repo, rel, lock.artifacts.get(rel), progress) for rel in targets]
