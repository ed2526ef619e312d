"""``unprotect``: turn read-only links into the cache into private writable copies."""

from __future__ import annotations

import os

from mlvc import fs
from mlvc.errors import ArtifactNotFoundError, InvalidPathError, MlvcError
from mlvc.fs.parallel import run_parallel
from mlvc.ops.targets import all_artifacts, check_inside, to_repo_path, writing
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace.build import is_linked
from mlvc.workspace.scan import scan


def unprotect_artifact(repo: Repo, rel: str, progress=NULL) -> list[str]:
    """Turn links into the cache under ``rel`` into private writable copies."""
    check_inside(repo, rel)
    found = scan(repo.root, rel)
    todo = [(p, a) for p, a in ((p, found.abspath(p)) for p in found.paths) if is_linked(a)]

    def copy(item):
        path, abspath = item
        tmp = fs.tmp_name(os.path.dirname(abspath))
        mode = 0o777 if os.stat(abspath).st_mode & 0o100 else 0o666
        fs.copy_hashing(abspath, tmp, mode)  # the umask applies
        os.replace(tmp, abspath)
        return f"{rel}/{path}" if path else rel

    with progress.task(f"Unprotecting {rel}", len(todo)) as task:
        return run_parallel(copy, todo, task)


def unprotect(repo: Repo, paths: list[str], cwd: str | None = None, progress=NULL) -> list[str]:
    if not paths:
        raise MlvcError("nothing to unprotect", "name one or more tracked paths")
    with writing(repo) as (project, lock):
        known = all_artifacts(project, lock)
        done: list[str] = []
        for p in paths:
            rel = to_repo_path(repo, p, cwd)
            if not any(rel == a or rel.startswith(a + "/") or a.startswith(rel + "/") for a in known):
                raise ArtifactNotFoundError(f"{rel} is not tracked", "see `mlvc status` for what is")
            if not os.path.lexists(os.path.join(repo.root, rel)):
                raise InvalidPathError(f"{rel} does not exist in the workspace", f"run `mlvc checkout {rel}` first")
            done.extend(unprotect_artifact(repo, rel, progress))
        return done
