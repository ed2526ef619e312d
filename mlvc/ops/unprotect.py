"""``unprotect``: turn read-only links into the cache into private writable copies.

Paths name targets (``targets.select``): a folder above artifacts selects the
artifacts below it, never the other files there. A file is linked only if it
is a cache object itself (the same inode and device as the object's file) or
a symlink into the cache: a file with two hard links that mlvc did not make
is left alone.
"""

from __future__ import annotations

import os
import stat

from mlvc import fs
from mlvc.errors import InvalidPathError, MlvcError, ObjectNotFoundError
from mlvc.formats.lock import LockEntry
from mlvc.fs.atomic import replace_via
from mlvc.fs.parallel import run_parallel
from mlvc.objects.hashing import hash_file
from mlvc.objects.tree import split_meta
from mlvc.ops.targets import check_inside, check_part, select, to_repo_path, writing
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace.build import key
from mlvc.workspace.compare import is_cache_link, part_of
from mlvc.workspace.scan import scan


def _recorded(repo: Repo, entry: LockEntry | None, inner: str) -> dict[str, tuple[str, bool]]:
    """``path -> (oid, executable)`` of what mlvc.lock records under the part ``inner``."""
    if entry is None:
        return {}
    if not entry.is_dir:
        return {"": (entry.oid, entry.executable)}
    try:
        return {p: split_meta(m)[::2] for p, m in part_of(repo.odb.walk_tree(entry.oid), inner)}
    except ObjectNotFoundError:  # the tree is gone: each file is hashed to find its object
        return {}


def unprotect_artifact(repo: Repo, rel: str, entry: LockEntry | None, progress=NULL, inner: str = "") -> list[str]:
    """Turn the files of artifact ``rel`` (or of its part ``inner``) that are cache objects
    into private writable copies, with the recorded executable bit; return their paths."""
    check_inside(repo, rel)
    path = key(rel, inner)
    found = scan(repo.root, path)
    odb = repo.odb
    recorded = _recorded(repo, entry, inner)

    def linked(p: str) -> bool:
        abspath = found.abspath(p)
        st = os.lstat(abspath)
        if stat.S_ISLNK(st.st_mode):
            return is_cache_link(abspath, "", odb.cache)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
            return False
        oid = recorded.get(p, (None,))[0]
        if oid is not None and is_cache_link(abspath, odb.path(oid), odb.cache):
            return True
        oid = hash_file(abspath)[0]  # not the recorded object: is it another one?
        return is_cache_link(abspath, odb.path(oid), odb.cache)

    todo = [p for p in found.paths if linked(p)]

    tmp_dir = repo.safe_tmp()  # the copy is made there, never beside the user's file

    def copy(p: str) -> str:
        abspath = found.abspath(p)
        x = recorded[p][1] if p in recorded else bool(os.stat(abspath).st_mode & 0o100)
        replace_via(abspath, tmp_dir, lambda tmp: fs.copy_hashing(abspath, tmp, 0o777 if x else 0o666))  # umask applies
        return key(path, p)

    with progress.task(f"Unprotecting {path}", len(todo)) as task:
        return run_parallel(copy, todo, task)


def unprotect(repo: Repo, paths: list[str], cwd: str | None = None, progress=NULL) -> list[str]:
    if not paths:
        raise MlvcError("nothing to unprotect", "name one or more tracked paths")
    with writing(repo) as (project, lock):
        for p in paths:
            if os.path.normpath(os.path.join(cwd or os.getcwd(), p)) == repo.root:
                continue
            rel = to_repo_path(repo, p, cwd)
            if not os.path.lexists(os.path.join(repo.root, rel)):
                raise InvalidPathError(f"{p} does not exist in the workspace", f"run `mlvc checkout {p}` first")
        targets = select(repo, paths, project, lock, cwd)
        for t in targets:  # every check before the first change
            if t.inner:
                check_part(repo, t)
        done: list[str] = []
        for t in targets:
            done.extend(unprotect_artifact(repo, t.artifact, lock.artifacts.get(t.artifact), progress, t.inner))
        return done
