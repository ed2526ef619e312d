"""``checkout``: make the workspace match ``mlvc.lock``.

Two phases. First every artifact is planned: what to write, what to delete,
which objects are needed, and which local changes would be lost. If any
object is missing, or any change would be lost without ``force``, nothing is
touched. Then the plan is carried out: each file is written unnamed in its
folder and named (or exchanged with the file it replaces) only when whole
(``CacheLinker.place``), so a killed checkout leaves every workspace file as
it was or as recorded, and temp names only in ``.mlvc/tmp/checkout``. (A
replaced file over 4 MiB is removed just before it is written: killed then,
its path is absent until the next checkout.)
"""

from __future__ import annotations

import os
import time
from array import array
from dataclasses import dataclass, field

from mlvc import fs
from mlvc.errors import ArtifactNotFoundError, CheckoutConflictError, ObjectNotFoundError
from mlvc.formats.lock import LOCK_FILE, LockEntry
from mlvc.formats.project import Project
from mlvc.fs.atomic import RACY_NS
from mlvc.fs.parallel import run_parallel
from mlvc.objects.hashing import hash_file
from mlvc.ops.targets import select, writing
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.objects.tree import meta_oid, split_meta
from mlvc.workspace.build import BATCH, hash_files, key
from mlvc.workspace.cachelink import CacheLinker
from mlvc.workspace.scan import Scan, file_stat, fingerprint, scan


@dataclass
class CheckoutResult:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


class _Writes:
    """The files a plan writes, in sorted order, as columns (a million files fit in ~170 MB)."""

    __slots__ = ("paths", "oids", "sizes", "execs")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.oids: list[str] = []
        self.sizes = array("q")
        self.execs = bytearray()

    def append(self, path: str, oid: str, size: int, executable: bool) -> None:
        self.paths.append(path)
        self.oids.append(oid)
        self.sizes.append(size)
        self.execs.append(executable)

    def __len__(self) -> int:
        return len(self.paths)

    def rows(self, start: int = 0, stop: int | None = None):
        stop = len(self.paths) if stop is None else stop
        return zip(self.paths[start:stop], self.oids[start:stop], self.sizes[start:stop], self.execs[start:stop])


@dataclass
class _Plan:
    rel: str
    entry: LockEntry
    write: _Writes = field(default_factory=_Writes)  # repo paths, sorted
    delete: list[str] = field(default_factory=list)  # repo paths of files
    remove_tree: str | None = None  # a folder (or file) in the way of the artifact
    leftovers: list[str] = field(default_factory=list)  # temp files a killed checkout left
    before: Scan | None = None  # the folder as it was when planned
    complete: bool = False  # every object of the recorded tree is in the cache
    replaced: set[str] = field(default_factory=set)
    unchanged: int = 0


def plan_artifact(repo: Repo, entry: LockEntry, progress=NULL, relink: bool = False) -> tuple[_Plan, list[str], list[str]]:
    """Return the plan, the paths whose local changes would be lost, and the missing oids.

    The workspace (scanned and hashed in sorted order) and the recorded tree
    (read folder by folder, every line checked) are merged as two sorted
    sequences; the whole tree is read, and so checked, before anything changes."""
    rel = entry.path
    odb = repo.odb
    plan = _Plan(rel, entry)
    at_risk: list[str] = []
    missing: list[str] = []
    found = scan(repo.root, rel)
    plan.leftovers = found.leftovers
    if found.kind == "dir":
        plan.before = found
    oids: list[str] = []
    if found.kind != "missing":
        def hasher(abspath, size, known):
            return (known, size) if known is not None else hash_file(abspath, size)

        oids = hash_files(rel, found, repo.state, hasher, progress, f"Checking {rel}")[0]

    if entry.is_dir:
        paths = found.paths if found.kind == "dir" else []
        if found.kind == "file":
            plan.remove_tree = rel
            if not odb.exists(oids[0]):
                at_risk.append(rel)
            oids = []
        n = len(paths)
        i = 0
        recorded: set[str] = set()

        def gone(j: int) -> None:  # a workspace file the recorded tree does not have
            if not odb.exists(oids[j]):
                at_risk.append(key(rel, paths[j]))
            plan.delete.append(key(rel, paths[j]))

        try:
            for path, meta in odb.walk_tree(entry.oid):
                while i < n and paths[i] < path:
                    gone(i)
                    i += 1
                oid, size, x = split_meta(meta)
                recorded.add(oid)
                if i < n and paths[i] == path:
                    if oids[i] == oid and not relink:
                        plan.unchanged += 1
                        i += 1
                        continue
                    if oids[i] != oid and not odb.exists(oids[i]):
                        at_risk.append(key(rel, path))
                    plan.replaced.add(key(rel, path))
                    i += 1
                plan.write.append(key(rel, path), oid, size, x)
        except ObjectNotFoundError as exc:  # the tree, or one of its sub-folders' trees
            return plan, at_risk, exc.oids
        for j in range(i, n):
            gone(j)
        absent = set(odb.missing(recorded))
        plan.complete = not absent
        if absent:
            missing.extend(absent.intersection(plan.write.oids))
    else:
        if found.kind == "dir":
            plan.remove_tree = rel
            at_risk.extend(key(rel, p) for p, oid in zip(found.paths, oids) if not odb.exists(oid))
        elif found.kind == "file":
            oid = oids[0]
            if oid == entry.oid and not relink:
                plan.unchanged = 1
                return plan, at_risk, missing
            if not odb.exists(oid):
                at_risk.append(rel)
            plan.replaced.add(rel)
        plan.write.append(rel, entry.oid, entry.size, entry.executable)
        if not odb.exists(entry.oid):
            missing.append(entry.oid)
    return plan, at_risk, missing


def checkout(repo: Repo, paths: list[str] | None = None, force: bool = False, cwd: str | None = None,
             progress=NULL, relink: bool = False) -> CheckoutResult:
    """Make the artifacts named by ``paths`` (all recorded ones when empty) match mlvc.lock."""
    with writing(repo) as (project, lock):
        if paths:  # named: each must be recorded (one listed in mlvc.yaml only is an error of its own)
            targets = select(repo, paths, project, lock, cwd)
            for rel in targets:
                if rel not in lock.artifacts:
                    raise ArtifactNotFoundError(f"{rel} has no recorded version in {LOCK_FILE}",
                                                f"record it with `mlvc commit {rel}`")
        else:  # everything recorded
            targets = select(repo, [], Project(), lock, cwd)
        return checkout_entries(repo, [lock.artifacts[t] for t in targets], force, progress, relink)


def checkout_entries(repo: Repo, entries: list[LockEntry], force: bool = False, progress=NULL,
                     relink: bool = False) -> CheckoutResult:
    """Make the workspace match ``entries``. With ``relink`` every file is put in
    again with the current ``cache.type`` (after switching from copy to hardlink, say)."""
    plans: list[_Plan] = []
    at_risk: list[str] = []
    missing: list[str] = []
    safe = fs.SafeDirs(repo.root)
    for entry in entries:
        top = os.path.join(repo.root, entry.path)
        safe.check(os.path.dirname(top))
        if os.path.islink(top) and os.path.isdir(top):
            safe.check(top)  # files are deleted below a folder: never through a link that leaves the repo
        plan, risk, miss = plan_artifact(repo, entry, progress, relink)
        plans.append(plan)
        at_risk.extend(risk)
        missing.extend(miss)
    if missing:
        uniq = sorted(set(missing))
        raise ObjectNotFoundError(
            f"{len(uniq)} object(s) needed for checkout are not in the cache (first: {uniq[0]})",
            uniq,
            "nothing was changed; copy the cache from where the data was added (or point cache.dir at it), "
            "or re-add the data there",
        )
    if at_risk and not force:
        shown = ", ".join(at_risk[:5]) + (f" and {len(at_risk) - 5} more" if len(at_risk) > 5 else "")
        raise CheckoutConflictError(
            f"checkout would overwrite or delete local changes that are not in the cache: {shown}",
            at_risk,
            "nothing was changed; record them with `mlvc commit`, or run with --force to discard them",
        )
    return _apply(repo, plans, safe, progress)


def _apply(repo: Repo, plans: list[_Plan], safe: fs.SafeDirs, progress) -> CheckoutResult:
    linker = CacheLinker(repo.odb, repo.config.link_types)
    staging = repo.safe_tmp("checkout")  # made if missing; never through a link (.mlvc, tmp or itself)
    for name in os.listdir(staging):  # left by a killed checkout; we hold the lock
        fs.remove_path(os.path.join(staging, name))
    result = CheckoutResult()
    for plan in plans:
        result.unchanged += plan.unchanged
        for path in plan.leftovers:  # temp files of an older mlvc, or of a copy beside dest (EXDEV)
            fs.remove_path(path)
        if plan.remove_tree:
            fs.remove_path(os.path.join(repo.root, plan.remove_tree))
            repo.state.forget(plan.remove_tree)
        for path in plan.delete:
            os.unlink(os.path.join(repo.root, path))
            result.deleted.append(path)
        if plan.delete and plan.entry.is_dir:
            _prune_empty_dirs(os.path.join(repo.root, plan.rel), plan.delete, repo.root)
        made: set[str] = set()
        for path in plan.write.paths:
            folder = os.path.dirname(path)
            if folder not in made:
                safe.makedirs(os.path.join(repo.root, folder))
                made.add(folder)

        def write(item, _plan=plan):
            path, oid, size, x = item
            dest = os.path.join(repo.root, path)
            linker.place(oid, dest, executable=x, size=size, tmp_dir=staging, new=path not in _plan.replaced)
            return file_stat(os.stat(dest))[:4]

        # Each written file's (inode, mtime, ctime, size), in write order: 32 bytes a file.
        written = array("q")
        with progress.task(f"Checking out {plan.rel}", len(plan.write)) as task:
            for start in range(0, len(plan.write), BATCH):
                for ints in run_parallel(write, list(plan.write.rows(start, start + BATCH)), task):
                    written.extend(ints)
        _save_written(repo, plan, written)
        for path in plan.write.paths:
            (result.modified if path in plan.replaced else result.added).append(path)
        newest = _newest(written)
        plan.write = plan.before = written = None  # released before the folder is scanned again
        if plan.entry.is_dir:
            _remember_clean(repo, plan, newest)
    return result


def _newest(written: array) -> int:
    return max(max(written[1::4], default=0), max(written[2::4], default=0))


def _save_written(repo: Repo, plan: _Plan, written: array) -> None:
    """The stat cache rows of the files just written, saved once they are old enough to be
    trusted (a few ms at most; rows still racily new are not kept)."""
    wait = (_newest(written) + RACY_NS - time.time_ns()) / 1e9
    if 0 < wait <= 0.1:
        time.sleep(wait)  # after it, no write can share the files' timestamps
    w = plan.write
    it = iter(written)
    repo.state.save(zip(w.paths, it, it, it, it, w.oids))


def _remember_clean(repo: Repo, plan: _Plan, newest: int) -> None:
    """Save the folder's fingerprint with its tree id, so the next status is instant.

    Only when a fresh scan finds exactly what the stat cache now says of every
    file (the rows of the files left as they were, and of those just written,
    as written) and those rows name the recorded tree's ids: an edit made
    meanwhile is never taken for the recorded content. The scan, the rows and
    the tree are all sorted by path and compared as they are read."""
    if newest + RACY_NS > time.time_ns():
        return  # too new to vouch for (_save_written waited up to 0.1 s)
    rel = plan.rel
    found = scan(repo.root, rel)
    if found.kind != "dir":
        return
    rows = repo.state.rows(rel)
    tree = repo.odb.walk_tree(plan.entry.oid, check_meta=False)
    base = rel + "/"
    try:
        for path, ino, mtime, ctime, size, _ in found.stats():
            k = base + path
            row = next(rows, None)
            while row is not None and row[0] < k:
                row = next(rows, None)
            recorded = next(tree, None)
            if (row is None or row[0] != k or row[1:5] != (ino, mtime, ctime, size) or recorded is None
                    or recorded[0] != path or meta_oid(recorded[1]) != row[5]):
                return
        if next(tree, None) is not None:
            return
    finally:
        rows.close()
    fp = fingerprint(found)
    if fp is not None:
        repo.state.save_dir(rel, fp, plan.entry.oid, repo.odb.signature() if plan.complete else None)




def _prune_empty_dirs(top: str, deleted: list[str], root: str) -> None:
    folders = {os.path.dirname(os.path.join(root, p)) for p in deleted}
    for folder in sorted(folders, key=len, reverse=True):
        while len(folder) > len(top) and folder.startswith(top):
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)
