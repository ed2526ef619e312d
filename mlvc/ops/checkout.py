"""``checkout``: make the workspace match ``mlvc.lock``.

Two phases. First every artifact is planned: what to write, what to delete,
which objects are needed, and which local changes would be lost. If any
object is missing, or any change would be lost without ``force``, nothing is
touched. Then the plan is carried out: each file is made in ``.mlvc/tmp/``
and renamed into place, so a killed checkout leaves every workspace file
either as it was or as recorded, and no temp file among the user's files.
"""

from __future__ import annotations

import os
import time
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
from mlvc.workspace.build import Listing, hash_files, key
from mlvc.workspace.cachelink import CacheLinker
from mlvc.workspace.scan import Scan, file_stat, fingerprint, scan
from mlvc.workspace.state import Row


@dataclass
class CheckoutResult:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


@dataclass
class _Plan:
    rel: str
    entry: LockEntry
    write: list[tuple[str, str, int, bool]] = field(default_factory=list)  # repo path, oid, size, x
    delete: list[str] = field(default_factory=list)  # repo paths of files
    remove_tree: str | None = None  # a folder (or file) in the way of the artifact
    leftovers: list[str] = field(default_factory=list)  # temp files a killed checkout left
    before: Scan | None = None  # the folder as it was when planned
    complete: bool = False  # every object of the recorded tree is in the cache
    replaced: set[str] = field(default_factory=set)
    unchanged: int = 0


def _current(repo: Repo, rel: str, found, progress) -> Listing:
    def hasher(abspath, size, known):
        return (known, size) if known is not None else hash_file(abspath, size)

    listing, rows = hash_files(rel, found, repo.state.load(rel), hasher, progress, f"Checking {rel}")
    repo.state.save(rows)
    return listing


def plan_artifact(repo: Repo, entry: LockEntry, progress=NULL, relink: bool = False) -> tuple[_Plan, list[str], list[str]]:
    """Return the plan, the paths whose local changes would be lost, and the missing oids."""
    rel = entry.path
    odb = repo.odb
    plan = _Plan(rel, entry)
    at_risk: list[str] = []
    missing: list[str] = []
    found = scan(repo.root, rel)
    plan.leftovers = found.leftovers
    if found.kind == "dir":
        plan.before = found
    current = _current(repo, rel, found, progress) if found.kind != "missing" else {}

    if entry.is_dir:
        try:
            tree = odb.load_tree(entry.oid)
        except ObjectNotFoundError as exc:  # the tree, or one of its sub-folders' trees
            return plan, at_risk, exc.oids
        recorded = tree.oid_map()
        if found.kind == "file":
            plan.remove_tree = rel
            if not odb.exists(current[""][0]):
                at_risk.append(rel)
            current = {}
        for path, (oid, _, _) in current.items():
            was = recorded.get(path)
            if was == oid:
                if relink:
                    plan.replaced.add(key(rel, path))
                else:
                    plan.unchanged += 1
                continue
            if not odb.exists(oid):
                at_risk.append(key(rel, path))
            if was is None:
                plan.delete.append(key(rel, path))
            else:
                plan.replaced.add(key(rel, path))
        for path, oid, size, x in tree.entries():
            cur = current.get(path)
            if cur is not None and cur[0] == oid and not relink:
                continue
            plan.write.append((key(rel, path), oid, size, x))
        absent = set(odb.missing(tree.oids()))
        plan.complete = not absent
        missing.extend({w[1] for w in plan.write} & absent)
    else:
        if found.kind == "dir":
            plan.remove_tree = rel
            at_risk.extend(key(rel, p) for p, (oid, _, _) in current.items() if not odb.exists(oid))
        elif found.kind == "file":
            oid = current[""][0]
            if oid == entry.oid and not relink:
                plan.unchanged = 1
                return plan, at_risk, missing
            if not odb.exists(oid):
                at_risk.append(rel)
            plan.replaced.add(rel)
        plan.write.append((rel, entry.oid, entry.size, entry.executable))
        if not odb.exists(entry.oid):
            missing.append(entry.oid)
    return plan, at_risk, missing


def checkout(repo: Repo, paths: list[str] | None = None, force: bool = False, cwd: str | None = None,
             progress=NULL, relink: bool = False) -> CheckoutResult:
    """Make the artifacts named by ``paths`` (all recorded ones when empty) match mlvc.lock."""
    with writing(repo) as (project, lock):
        targets = select(repo, paths or [], Project(), lock, cwd)
        if paths:
            for rel in select(repo, paths, project, lock, cwd):
                if rel not in lock.artifacts:
                    raise ArtifactNotFoundError(f"{rel} has no recorded version in {LOCK_FILE}",
                                                f"record it with `mlvc commit {rel}`")
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
    staging = os.path.join(repo.tmp_dir, "checkout")
    os.makedirs(staging, exist_ok=True)
    for name in os.listdir(staging):  # left by a killed checkout; we hold the lock
        fs.remove_path(os.path.join(staging, name))
    result = CheckoutResult()
    rows: list[Row] = []
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
        for path, _, _, _ in plan.write:
            safe.makedirs(os.path.dirname(os.path.join(repo.root, path)))

        def write(item, _plan=plan):
            path, oid, size, x = item
            dest = os.path.join(repo.root, path)
            linker.place(oid, dest, executable=x, size=size, tmp_dir=staging, new=path not in _plan.replaced)
            ino, mtime, ctime, size, _ = file_stat(os.stat(dest))
            return (path, ino, mtime, ctime, size, oid)

        with progress.task(f"Checking out {plan.rel}", len(plan.write)) as task:
            written = run_parallel(write, plan.write, task)
        rows.extend(written)
        if plan.entry.is_dir:
            _remember_clean(repo, plan, written)
        for path, _, _, _ in plan.write:
            (result.modified if path in plan.replaced else result.added).append(path)
    repo.state.save(rows)
    return result


def _remember_clean(repo: Repo, plan: _Plan, written: list[Row]) -> None:
    """Save the folder's fingerprint with its tree id, so the next status is instant.

    Only when a fresh scan finds exactly the files this checkout left: those it
    did not touch as they were when planned, and those it wrote as it wrote them
    (so an edit made meanwhile is never taken for the recorded content)."""
    rel = plan.rel
    n = len(rel) + 1
    gone = plan.replaced | set(plan.delete)
    before = plan.before.stat_of() if plan.before is not None else {}
    expected = {p: s[:4] for p, s in before.items() if f"{rel}/{p}" not in gone}
    newest = 0
    for path, ino, mtime, ctime, size, _ in written:
        expected[path[n:]] = (ino, mtime, ctime, size)
        newest = max(newest, mtime, ctime)
    wait = (newest + RACY_NS - time.time_ns()) / 1e9
    if wait > 0:
        if wait > 0.1:
            return
        time.sleep(wait)  # a few ms: after it, no write can share the files' timestamps
    found = scan(repo.root, rel)
    if found.kind != "dir" or len(found) != len(expected):
        return
    for p, ino, mtime, ctime, size, _ in found.stats():
        if expected.get(p) != (ino, mtime, ctime, size):
            return
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
