"""``fsck``: rehash every object in the cache; find corrupted ones, and missing ones mlvc.lock needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlvc import fs
from mlvc.errors import MlvcError, ObjectNotFoundError
from mlvc.formats.lock import read_lock
from mlvc.fs.parallel import run_parallel
from mlvc.progress import NULL
from mlvc.repo import Repo


@dataclass(frozen=True)
class FsckResult:
    checked: int
    corrupted: list[str]
    missing: list[str]  # referenced by mlvc.lock (or its trees) but absent
    removed: list[str] = field(default_factory=list)  # with repair: corrupted objects dropped
    # Temp files killed writers left in the cache (removed with repair): all of them when no
    # writer of any repository sharing the cache is running, else those older than an hour.
    stale_temp: int = 0

    @property
    def ok(self) -> bool:
        return not self.corrupted and not self.missing


def fsck(repo: Repo, progress=NULL, repair: bool = False) -> FsckResult:
    """Rehash every object. With ``repair``, drop the corrupted ones (their content is
    wrong, so nothing is lost) so that `mlvc commit` or `mlvc add` can store them again."""
    if not repair:
        return _check(repo, progress)
    with repo.lock():  # and the cache lock, shared: taking it removes what killed writers left
        result = _check(repo, progress)
        for oid in result.corrupted:
            repo.odb.remove(oid)
        for path in repo.odb.stale_temp_files():
            fs.unlink_quiet(path)
            repo.odb.removed_temp += 1
        return FsckResult(result.checked, result.corrupted, result.missing, list(result.corrupted),
                          repo.odb.removed_temp)


def _check(repo: Repo, progress) -> FsckResult:
    odb = repo.odb
    oids = list(odb.iter_oids())
    with progress.task("Checking objects", len(oids)) as task:
        good = run_parallel(odb.check, oids, task)
    corrupted = [o for o, ok in zip(oids, good) if not ok]
    bad = set(corrupted)
    present = set(oids)
    missing: set[str] = set()
    for entry in read_lock(repo.root).artifacts.values():
        if entry.oid not in present:
            missing.add(entry.oid)
            continue
        if entry.is_dir and entry.oid not in bad:
            try:
                tree = odb.load_tree(entry.oid)
            except ObjectNotFoundError as exc:  # a sub-folder's tree
                missing.update(exc.oids)
                continue
            except MlvcError:  # a corrupted or malformed tree: counted as corrupted above
                continue
            missing.update(o for o in tree.oids() if o not in present)
    return FsckResult(len(oids), corrupted, sorted(missing), stale_temp=len(odb.stale_temp_files()))
