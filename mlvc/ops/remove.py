"""``remove``: stop tracking paths; the files stay in the workspace as writable copies."""

from __future__ import annotations

from dataclasses import dataclass

from mlvc.errors import ArtifactNotFoundError, MlvcError
from mlvc.formats.lock import LOCK_FILE
from mlvc.formats.project import PROJECT_FILE
from mlvc.ops.targets import all_artifacts, save, to_repo_path, untracked, writing
from mlvc.ops.unprotect import unprotect_artifact
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace import gitignore


@dataclass(frozen=True)
class RemoveResult:
    removed: list[str]
    git_files: list[str]


def remove(repo: Repo, paths: list[str], cwd: str | None = None, progress=NULL) -> RemoveResult:
    if not paths:
        raise MlvcError("nothing to remove", "name one or more tracked paths")
    with writing(repo) as (project, lock):
        known = set(all_artifacts(project, lock)) | set(untracked(project, lock))  # the latter only in mlvc.lock
        targets = []
        for p in paths:
            rel = to_repo_path(repo, p, cwd)
            if rel not in known:
                owner = next((a for a in sorted(known) if rel.startswith(a + "/")), None)
                if owner:  # a part of a folder artifact: mlvc tracks (and stops tracking) the folder as a whole
                    raise ArtifactNotFoundError(f"{p} is inside the tracked folder {owner}, which is tracked as "
                                                "a whole", f"`mlvc remove {owner}` stops tracking all of it; to drop "
                                                "only this file, delete it and run `mlvc commit "
                                                f"{owner}`")
                raise ArtifactNotFoundError(f"{p} is not tracked", "see `mlvc status` for what is")
            targets.append(rel)
        git_files = set()
        for rel in targets:
            unprotect_artifact(repo, rel, lock.artifacts.get(rel), progress)
            gi = gitignore.unignore(repo.root, rel)
            if gi:
                git_files.add(gi)
            lock.artifacts.pop(rel, None)
            if rel in project.artifacts:
                project.artifacts.remove(rel)
            repo.state.forget(rel)
        save(repo, project, lock)  # both or neither
        return RemoveResult(sorted(targets), sorted(git_files) + [PROJECT_FILE, LOCK_FILE])
