"""``add``: track new files or folders (or record a new version of tracked ones)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc.errors import InvalidPathError, MlvcError
from mlvc.formats.lock import LOCK_FILE, LockEntry
from mlvc.formats.project import PROJECT_FILE
from mlvc.ops.record import record_all
from mlvc.ops.targets import all_artifacts, save, to_repo_path, writing
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.scm import git_tracked
from mlvc.workspace import gitignore


@dataclass(frozen=True)
class AddResult:
    entries: list[LockEntry]
    git_files: list[str]  # what to `git add` next
    unchanged: list[str] = field(default_factory=list)


def _check_new(repo: Repo, rels: list[str], known: list[str]) -> None:
    for rel in rels:
        if not os.path.lexists(os.path.join(repo.root, rel)):
            raise InvalidPathError(f"{rel} does not exist")
    for i, rel in enumerate(rels):
        for a in known + rels[:i]:
            if rel.startswith(a + "/"):
                raise InvalidPathError(f"{rel} is inside the tracked artifact {a}",
                                       f"track {a} as a whole with `mlvc commit {a}`")
            if a.startswith(rel + "/"):
                raise InvalidPathError(f"{rel} contains the tracked artifact {a}", f"`mlvc remove {a}` first")
    tracked = git_tracked(repo.root, rels)
    for rel in rels:
        if rel in tracked:
            raise InvalidPathError(f"{rel} is tracked by git",
                                   f"stop tracking it in git first: `git rm -r --cached {rel}`")


def ignore_file_for(rel: str) -> str:
    parent = rel.rpartition("/")[0]
    return f"{parent}/.gitignore" if parent else ".gitignore"


def add(repo: Repo, paths: list[str], cwd: str | None = None, progress=NULL) -> AddResult:
    if not paths:
        raise MlvcError("nothing to add", "name one or more files or folders")
    with writing(repo) as (project, lock):
        known = all_artifacts(project, lock)
        targets: list[str] = []
        for p in paths:
            rel = to_repo_path(repo, p, cwd)
            if rel not in targets:
                targets.append(rel)
        _check_new(repo, [t for t in targets if t not in known], known)
        entries, unchanged = record_all(repo, targets, lock.artifacts, progress)
        git_files = []
        for entry in entries:
            lock.artifacts[entry.path] = entry
            if entry.path not in project.artifacts:
                project.artifacts.append(entry.path)
            gi = gitignore.ignore(repo.root, entry.path)
            git_files.append(gi or ignore_file_for(entry.path))
        save(repo, project, lock)  # both or neither
        git_files = sorted(set(git_files)) + [PROJECT_FILE, LOCK_FILE]
        return AddResult(entries, git_files, unchanged)
