"""``commit``: record the workspace state of tracked artifacts in mlvc.lock."""

from __future__ import annotations

from mlvc.errors import MlvcError
from mlvc.formats.lock import LOCK_FILE, LOCK_SCHEMA
from mlvc.formats.project import PROJECT_FILE
from mlvc.ops.add import AddResult
from mlvc.ops.record import record_all
from mlvc.ops.targets import save, select, writing
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace import gitignore


def commit(repo: Repo, paths: list[str], cwd: str | None = None, progress=NULL) -> AddResult:
    with writing(repo) as (project, lock):
        targets = select(repo, paths, project, lock, cwd)
        if not targets:
            raise MlvcError("nothing is tracked yet", "track files with `mlvc add PATH`")
        entries, unchanged = record_all(repo, targets, lock.artifacts, progress)
        git_files = set()
        for entry in entries:
            lock.artifacts[entry.path] = entry
            gi = gitignore.ignore(repo.root, entry.path)  # a path added to mlvc.yaml by hand
            if gi:
                git_files.add(gi)
        stale = [p for p in lock.artifacts if project.exists and p not in project.artifacts]
        for p in stale:  # taken out of mlvc.yaml by hand
            del lock.artifacts[p]
        new_project = new_lock = None
        if not project.exists:
            project.artifacts = sorted(lock.artifacts)
            new_project = project
            git_files.add(PROJECT_FILE)
        if len(unchanged) < len(entries) or stale or lock.schema < LOCK_SCHEMA:  # an older schema is migrated
            new_lock = lock
            git_files.add(LOCK_FILE)
        save(repo, new_project, new_lock)  # both or neither
        return AddResult(entries, sorted(git_files), unchanged)
