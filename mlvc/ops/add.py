"""``add``: track new files or folders (or record a new version of tracked ones)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

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
                hint = (f"`mlvc commit {rel}` records it as part of {a}" if a in known
                        else f"add {a} alone: it holds {rel}")
                raise InvalidPathError(f"{rel} is inside the tracked artifact {a}", hint)
            if a.startswith(rel + "/"):
                raise InvalidPathError(f"{rel} contains the tracked artifact {a}", f"`mlvc remove {a}` first")
    tracked = git_tracked(repo.root, rels)
    for rel in rels:
        if rel in tracked:
            raise InvalidPathError(f"{rel} is tracked by git",
                                   f"stop tracking it in git first: `git rm -r --cached {rel}`")


def _check_not_outs(rels: list[str], producer: dict[str, str]) -> None:
    """A stage's out is recorded by the stage (``mlvc repro``), never listed under artifacts:
    (reading mlvc.yaml would refuse the whole file)."""
    for rel in rels:
        for out, stage in sorted(producer.items()):
            if rel == out:
                where = f"{rel} is an out of stage {stage!r}"
            elif rel.startswith(out + "/"):
                where = f"{rel} is inside {out}, an out of stage {stage!r}"
            elif out.startswith(rel + "/"):
                where = f"{rel} holds {out}, an out of stage {stage!r}"
            else:
                continue
            raise InvalidPathError(where, f"`mlvc repro {stage}` records it in mlvc.lock; "
                                   f"after changing it by hand, `mlvc commit {out}` records that version")


def ignore_file_for(rel: str) -> str:
    parent = rel.rpartition("/")[0]
    return f"{parent}/.gitignore" if parent else ".gitignore"


def add(repo: Repo, paths: list[str], cwd: str | None = None, progress=NULL,
        pipeline: Callable | None = None) -> AddResult:
    """Track ``paths``. ``pipeline(root, project)``: the stages of mlvc.yaml
    (``mlvc.pipeline.stage.load_pipeline``, passed in by ``mlvc.api``: ops never imports
    pipeline), read only when mlvc.yaml has stages, so that a stage's out is refused."""
    if not paths:
        raise MlvcError("nothing to add", "name one or more files or folders")
    with writing(repo) as (project, lock):
        known = all_artifacts(project, lock)
        targets: list[str] = []
        for p in paths:
            rel = to_repo_path(repo, p, cwd)
            if rel not in targets:
                targets.append(rel)
        if pipeline is not None and project.stages:
            _check_not_outs(targets, pipeline(repo.root, project).producer())
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
