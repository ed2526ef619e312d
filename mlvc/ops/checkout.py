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

import itertools
import os
import stat
import time
from array import array
from dataclasses import dataclass, field

from mlvc import fs
from mlvc.errors import ArtifactNotFoundError, CheckoutConflictError, MlvcError, ObjectNotFoundError
from mlvc.formats.lock import LOCK_FILE, LockEntry
from mlvc.fs.atomic import RACY_NS
from mlvc.fs.parallel import default_workers, run_parallel
from mlvc.objects.hashing import hash_file
from mlvc.ops.targets import check_part, select, writing
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.objects.tree import meta_oid, split_meta
from mlvc.workspace.compare import executable, is_cache_link, part_of
from mlvc.workspace.build import BATCH, hash_files, key
from mlvc.workspace.cachelink import CacheLinker, check_not_damaged
from mlvc.workspace.scan import FIELDS, Scan, file_stat, fingerprint, scan


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
    before: Scan | None = None  # the folder as it was when planned
    complete: bool = False  # every object of the recorded tree is in the cache
    replaced: set[str] = field(default_factory=set)
    chmod: list[tuple[str, bool]] = field(default_factory=list)  # same content, executable bit to restore
    part: bool = False  # a part of a folder artifact, not all of it
    unchanged: int = 0


def _mode_differs(found: Scan, i: int, now: bool, x: bool, odb, oid: str) -> bool:
    """The workspace file ``i`` of ``found`` (executable ``now``) has the recorded content but
    not the recorded executable bit ``x``, and its mode is its own (a file that is the cache
    object, in hardlink or symlink mode, has the object's mode and is left linked)."""
    path = found.abspath(found.paths[i])
    return now != x and not is_cache_link(path, odb.path(oid), odb.cache)


def _part(repo: Repo, entry: LockEntry, inner: str):
    """The recorded part of folder artifact ``entry`` at ``inner``: a file's ``LockEntry``, or
    the folder's ``(path, meta)`` stream (paths relative to it)."""
    rel = key(entry.path, inner)
    it = part_of(repo.odb.walk_tree(entry.oid), inner)
    first = next(it, None)
    if first is None:
        raise ArtifactNotFoundError(f"{rel} is not in the recorded version of {entry.path}",
                                    f"see `mlvc status {entry.path}`; `mlvc checkout {entry.path}` "
                                    "deletes files that the record does not have")
    if first[0] == "":
        oid, size, x = split_meta(first[1])
        return LockEntry(rel, oid, size, executable=x), None
    return None, itertools.chain([first], it)


def plan_artifact(repo: Repo, entry: LockEntry, progress=NULL, relink: bool = False,
                  inner: str = "") -> tuple[_Plan, list[str], list[str]]:
    """Return the plan, the paths whose local changes would be lost, and the missing oids.

    The workspace (scanned and hashed in sorted order) and the recorded tree
    (read folder by folder, every line checked) are merged as two sorted
    sequences; the whole tree is read, and so checked, before anything changes.
    With ``inner``, only that part of a folder artifact is planned (a file or a
    folder inside it), from the recorded tree's folders on its way."""
    odb = repo.odb
    recorded_files = None
    if inner:
        try:
            file_entry, recorded_files = _part(repo, entry, inner)
        except ObjectNotFoundError as exc:
            return _Plan(key(entry.path, inner), entry, part=True), [], exc.oids
        if file_entry is not None:
            entry = file_entry
        else:
            entry = LockEntry(key(entry.path, inner), entry.oid, entry.size, entry.nfiles)
    rel = entry.path
    plan = _Plan(rel, entry, part=bool(inner))
    at_risk: list[str] = []
    missing: list[str] = []
    found = scan(repo.root, rel)
    _keep_skipped(rel, found, entry)
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

        execs = found.executables() if paths else []
        try:
            for path, meta in (recorded_files if recorded_files is not None else odb.walk_tree(entry.oid)):
                while i < n and paths[i] < path:
                    gone(i)
                    i += 1
                oid, size, x = split_meta(meta)
                recorded.add(oid)
                if i < n and paths[i] == path:
                    if oids[i] == oid and not relink:
                        if not _mode_differs(found, i, execs[i], x, odb, oid):
                            plan.unchanged += 1
                            i += 1
                            continue
                        if not os.path.islink(found.abspath(paths[i])):
                            plan.chmod.append((key(rel, path), x))
                            i += 1
                            continue
                    if oids[i] != oid:  # an object written through its link is refused before any change
                        check_not_damaged(odb, oid, found.abspath(paths[i]), key(rel, path), rel)
                    if oids[i] != oid and not odb.exists(oids[i]):
                        at_risk.append(key(rel, path))
                    plan.replaced.add(key(rel, path))
                    i += 1
                plan.write.append(key(rel, path), oid, size, x)
        except ObjectNotFoundError as exc:  # the tree, or one of its sub-folders' trees
            return plan, at_risk, exc.oids
        for j in range(i, n):
            gone(j)
        _keep_skipped(rel, found, entry, plan.write.paths)
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
                if not _mode_differs(found, 0, found.executables()[0], entry.executable, odb, oid):
                    plan.unchanged = 1
                    return plan, at_risk, missing
                if not os.path.islink(found.top):  # else a link to a file elsewhere: written anew
                    plan.chmod.append((rel, entry.executable))
                    return plan, at_risk, missing
            if oid != entry.oid:
                check_not_damaged(odb, entry.oid, found.top, rel, rel)
            if not odb.exists(oid):
                at_risk.append(rel)
            plan.replaced.add(rel)
        plan.write.append(rel, entry.oid, entry.size, entry.executable)
        if not odb.exists(entry.oid):
            missing.append(entry.oid)
    return plan, at_risk, missing


def checkout(repo: Repo, paths: list[str] | None = None, force: bool = False, cwd: str | None = None,
             progress=NULL, relink: bool = False) -> CheckoutResult:
    """Make the tracked artifacts named by ``paths`` (all recorded ones when empty), or the
    parts of folder artifacts they name, match mlvc.lock. An entry of mlvc.lock that
    mlvc.yaml does not list is not tracked, and never touched."""
    with writing(repo) as (project, lock):
        entries: list[LockEntry] = []
        parts: list[str] = []
        for t in select(repo, paths or [], project, lock, cwd):
            entry = lock.artifacts.get(t.artifact)
            if entry is None:
                if paths:  # named: each must be recorded
                    raise ArtifactNotFoundError(f"{t.artifact} has no recorded version in {LOCK_FILE}",
                                                f"record it with `mlvc commit {t.artifact}`")
                continue  # listed in mlvc.yaml, never recorded: nothing to check out
            if t.inner:
                check_part(repo, t)
            entries.append(entry)
            parts.append(t.inner)
        return checkout_entries(repo, entries, force, progress, relink, parts)


def conflict_message(paths: list[str]) -> str:
    """The first line of the error for local changes that checkout would lose."""
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f"checkout would overwrite or delete local changes that are not in the cache: {shown}"


def checkout_entries(repo: Repo, entries: list[LockEntry], force: bool = False, progress=NULL,
                     relink: bool = False, parts: list[str] | None = None) -> CheckoutResult:
    """Make the workspace match ``entries`` (or, where ``parts`` gives a path inside a folder
    artifact, that part of it). With ``relink`` every file is put in again with the current
    ``cache.type`` (after switching from copy to hardlink, say)."""
    plans: list[_Plan] = []
    at_risk: list[str] = []
    missing: list[str] = []
    safe = fs.SafeDirs(repo.root)
    for entry, inner in zip(entries, parts or [""] * len(entries)):
        top = os.path.join(repo.root, key(entry.path, inner))
        safe.check(os.path.dirname(top))
        if os.path.islink(top) and os.path.isdir(top):
            safe.check(top)  # files are deleted below a folder: never through a link that leaves the repo
        plan, risk, miss = plan_artifact(repo, entry, progress, relink, inner)
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
        raise CheckoutConflictError(
            conflict_message(at_risk),
            at_risk,
            "nothing was changed; record them with `mlvc commit`, or run with --force to discard them",
        )
    return _apply(repo, plans, safe, progress)


def _apply(repo: Repo, plans: list[_Plan], safe: fs.SafeDirs, progress) -> CheckoutResult:
    linker = CacheLinker(repo.odb, repo.config.link_types, progress)
    staging = repo.safe_tmp("checkout")  # made if missing; never through a link (.mlvc, tmp or itself)
    for name in os.listdir(staging):  # left by a killed checkout; we hold the lock
        fs.remove_path(os.path.join(staging, name))
    result = CheckoutResult()
    for plan in plans:
        result.unchanged += plan.unchanged
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
            return file_stat(os.stat(dest))

        # Each written file's five integers (inode, mtime, ctime, size, mode), in write order.
        with progress.task(f"Checking out {plan.rel}", len(plan.write)) as task:
            written = _write_rows(write, plan.write, task, linker, repo.root)
        kept = _save_written(repo, plan, written)
        whole = plan.entry.is_dir and not plan.part  # the fingerprint vouches for a whole artifact only
        if whole and plan.before is None and kept and linker.copies_only():
            # The folder was not there, so every file in it was just written (and none shares
            # an inode with the cache): its fingerprint comes from their rows, not a rescan.
            _remember_written(repo, plan, written)
            whole = False
        for path in plan.write.paths:
            (result.modified if path in plan.replaced else result.added).append(path)
        _restore_modes(repo, plan, safe, result)
        newest = _newest(written)
        plan.write = plan.before = written = None  # released before the folder is scanned again
        if whole:
            _remember_clean(repo, plan, newest)
    result.modified.sort()
    linker.finish()  # files kept as copies at the link limit, said once
    return result


FORK_BATCH = 64  # files a forked worker writes at a time


def _write_rows(write, w: _Writes, task, linker: CacheLinker, root: str) -> array:
    """``write(row) -> (inode, mtime, ctime, size, mode)`` of every row of ``w``, as one array
    in row order: in forked workers (``fs.forked``, no GIL between them, forked once for all
    the rows) where there are enough files and none is linked to the cache (copies and
    reflinks: a worker has nothing to warn about), else on threads, ``BATCH`` rows at a time.
    The first file is written here, so a link type the file system refuses is known before
    the workers start. What a worker left (an error, a worker that died) is done here on
    threads, raising what it meets."""
    from mlvc.fs import forked

    n = len(w)
    jobs = default_workers()
    written = array("q")
    if not (n > 1 and forked.usable(-(-n // FORK_BATCH), jobs)):
        _write_threads(write, w, 0, task, written)
        return written
    written.extend(write(next(w.rows(0, 1))))
    task.advance()
    if not linker.copies_only():
        _write_threads(write, w, 1, task, written)
        return written
    # A batch is a range of rows: a worker reads them from its own copy of ``w`` (forked).
    batches = [(i, min(i + FORK_BATCH, n)) for i in range(1, n, FORK_BATCH)]
    written.frombytes(bytes(written.itemsize * FIELDS * (n - 1)))  # zeros; each batch's integers put in place

    def fn(batch: tuple[int, int]) -> bytes:  # in a worker
        ints = array("q")
        for j, row in enumerate(w.rows(*batch)):
            try:
                ints.extend(write(row))
            except BaseException as exc:
                exc.partial = j
                raise
        return ints.tobytes()

    def put(batch: tuple[int, int], ints: array) -> None:
        written[FIELDS * batch[0]:FIELDS * batch[1]] = ints

    def told(i: int, payload: bytes) -> None:
        ints = array("q")
        ints.frombytes(payload)
        put(batches[i], ints)
        task.advance(batches[i][1] - batches[i][0])

    def again(row) -> tuple:
        """A file a worker left undone; one a worker killed midway wrote whole (nothing was there
        when checkout planned it) is kept as it is when it holds the recorded content."""
        try:
            return write(row)
        except MlvcError:
            found = _written_whole(os.path.join(root, row[0]), row[1], row[2], row[3])
            if found is None:
                raise
            return found

    def rest(left: list[tuple[int, int]]) -> None:
        for i, got in left:  # the files a failed worker wrote are as it wrote them
            rows = list(w.rows(*batches[i]))
            ints = array("q")
            for row in rows[:got]:
                ints.extend(file_stat(os.stat(os.path.join(root, row[0]))))
            task.advance(got)
            for one in run_parallel(again, rows[got:], task):
                ints.extend(one)
            put(batches[i], ints)

    forked.run_forked(fn, batches, jobs, told, rest)
    return written


def _write_threads(write, w: _Writes, start: int, task, written: array) -> None:
    for at in range(start, len(w), BATCH):
        for ints in run_parallel(write, list(w.rows(at, at + BATCH)), task):
            written.extend(ints)


def _written_whole(dest: str, oid: str, size: int, x: bool):
    """The five integers of the file at ``dest`` if it is a copy (a regular file with one name)
    with the content of ``oid`` and the recorded owner's x, unchanged while it was read; else None."""
    try:
        st = os.lstat(dest)
        if (not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size != size
                or bool(st.st_mode & 0o100) != bool(x) or hash_file(dest, size)[0] != oid):
            return None
        found = file_stat(os.lstat(dest))
    except OSError:
        return None
    return found if found == file_stat(st) else None


def _restore_modes(repo: Repo, plan: _Plan, safe: fs.SafeDirs, result: CheckoutResult) -> None:
    """Give files whose content is as recorded their recorded executable bit (a chmod: the
    content is not written again); the umask applies, as to the files checkout writes."""
    if not plan.chmod:
        return
    umask = os.umask(0o022)
    os.umask(umask)
    for path, x in plan.chmod:
        dest = os.path.join(repo.root, path)
        safe.check(os.path.dirname(dest))
        st = os.lstat(dest)
        if not stat.S_ISREG(st.st_mode):  # replaced meanwhile: never chmod through a link
            continue
        mode = stat.S_IMODE(st.st_mode)
        os.chmod(dest, (mode | (0o111 & ~umask)) if x else mode & ~0o111)
        result.modified.append(path)


def _newest(written: array) -> int:
    return max(max(written[1::FIELDS], default=0), max(written[2::FIELDS], default=0))


def _save_written(repo: Repo, plan: _Plan, written: array) -> bool:
    """Save the stat cache rows of the files just written once they are old enough to be
    trusted (a few ms at most; rows still racily new are not kept). Whether all were kept."""
    newest = _newest(written)
    wait = (newest + RACY_NS - time.time_ns()) / 1e9
    if 0 < wait <= 0.1:
        time.sleep(wait)  # after it, no write can share the files' timestamps
    w = plan.write
    kept = newest + RACY_NS <= time.time_ns()  # so at the save's own clock too
    repo.state.save(zip(w.paths, *(written[k::FIELDS] for k in range(4)), w.oids))
    return kept


def _remember_written(repo: Repo, plan: _Plan, written: array) -> None:
    """Save the fingerprint of a folder that checkout wrote whole (nothing was there before),
    made from the rows of its files as written: the paths in the tree's order, which is a
    scan's, and the five integers a scan finds while no file changes. A file changed since
    then is found changed by the next scan, whose fingerprint then differs: a fingerprint
    never vouches for content that is not the recorded tree's (``_remember_clean``)."""
    w = plan.write
    modes = written[4::FIELDS]
    if len(modes) != len(w.paths) or any(bool(m & 0o100) != bool(x) for m, x in zip(modes, w.execs)):
        return  # a umask without the owner's x: status must see it
    cut = len(plan.rel) + 1
    top = os.path.join(repo.root, plan.rel)
    _save_fingerprint(repo, plan, Scan("dir", top, [p[cut:] for p in w.paths], written))


def _save_fingerprint(repo: Repo, plan: _Plan, found: Scan) -> None:
    """The fingerprint of ``found`` saved as the recorded tree's (with the cache's signature
    when every object of the tree is in the cache); nothing while a file is racily new."""
    fp = fingerprint(found)
    if fp is not None:
        repo.state.save_dir(plan.rel, fp, plan.entry.oid, repo.odb.signature() if plan.complete else None)


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
        odb = repo.odb
        for path, ino, mtime, ctime, size, mode in found.stats():
            k = base + path
            row = next(rows, None)
            while row is not None and row[0] < k:
                row = next(rows, None)
            recorded = next(tree, None)
            if (row is None or row[0] != k or row[1:5] != (ino, mtime, ctime, size) or recorded is None
                    or recorded[0] != path or meta_oid(recorded[1]) != row[5]):
                return
            if bool(mode & 0o100) != executable(recorded[1]) and not is_cache_link(
                    found.abspath(path), odb.path(row[5]), odb.cache):
                return  # not the recorded bit (a umask without the owner's x): status must see it
        if next(tree, None) is not None:
            return
    finally:
        rows.close()
    _save_fingerprint(repo, plan, found)




def _keep_skipped(rel: str, found: Scan, entry: LockEntry, written: list[str] | None = None) -> None:
    """Refuse, before anything changes, to put a file where a folder holds a ``.git`` or
    ``.mlvc`` (left out of every scan, so never deleted): another repository is never data."""
    if not found.skipped:
        return
    hint = "nothing was changed; mlvc never deletes a .git or .mlvc folder: move it away"
    if not entry.is_dir:
        raise CheckoutConflictError(f"checkout would replace the folder {rel} with a file, deleting "
                                    f"{rel}/{found.skipped[0]}", [rel], hint)
    if written is None:
        return
    files = set(written)
    for path in found.skipped:
        parts = path.split("/")
        for k in range(1, len(parts)):
            folder = key(rel, "/".join(parts[:k]))
            if folder in files:
                raise CheckoutConflictError(f"checkout would replace the folder {folder} with a file, deleting "
                                            f"{rel}/{path}", [folder], hint)


def _prune_empty_dirs(top: str, deleted: list[str], root: str) -> None:
    folders = {os.path.dirname(os.path.join(root, p)) for p in deleted}
    for folder in sorted(folders, key=len, reverse=True):
        while len(folder) > len(top) and folder.startswith(top):
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)
