"""From a user's paths to artifacts: resolve paths against where the user stands, and
know what is tracked (one rule for every verb)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from mlvc import fs
from mlvc.errors import ArtifactNotFoundError, InvalidPathError
from mlvc.formats.lock import LOCK_FILE, Lock, read_lock, serialize_lock
from mlvc.formats.project import PROJECT_FILE, Project, read_project, serialize_project
from mlvc.formats.yamlio import write_texts
from mlvc.repo import MLVC_DIR, Repo


@contextmanager
def writing(repo: Repo) -> Iterator[tuple[Project, Lock]]:
    """mlvc.yaml and mlvc.lock as they are now, read under the repository lock (held until the end)."""
    with repo.lock():
        yield read_project(repo.root), read_lock(repo.root)


def save(repo: Repo, project: Project | None, lock: Lock | None) -> None:
    """Write mlvc.yaml and mlvc.lock (either may be None: left as it is): both or neither."""
    texts = {}
    if project is not None:
        texts[PROJECT_FILE] = serialize_project(project)
    if lock is not None:
        texts[LOCK_FILE] = serialize_lock(lock)
    write_texts(repo.root, texts)


def to_repo_path(repo: Repo, path: str, cwd: str | None = None) -> str:
    """A user's path (relative to ``cwd``, or absolute) as a repo-relative POSIX path."""
    cwd = cwd or os.getcwd()
    full = os.path.normpath(os.path.join(cwd, path))
    if not fs.is_within(repo.root, full):
        real = os.path.realpath(full)
        if not fs.is_within(os.path.realpath(repo.root), real):
            raise InvalidPathError(f"{path} is outside the repository {repo.root}")
        full = os.path.join(repo.root, os.path.relpath(real, os.path.realpath(repo.root)))
    elif full != repo.root and not fs.is_within(os.path.realpath(repo.root),
                                                os.path.realpath(os.path.dirname(full))):
        # Inside the repository by name, but a folder on the way is a symlink to somewhere else.
        raise InvalidPathError(f"{path} is outside the repository {repo.root} (through a symlink)")
    rel = os.path.relpath(full, repo.root).replace(os.sep, "/")
    if rel == ".":
        raise InvalidPathError("cannot track the repository root itself", "name a file or folder inside it")
    first = rel.split("/", 1)[0]
    if first in (".git", MLVC_DIR):
        raise InvalidPathError(f"{path} is inside {first}/, which mlvc never tracks")
    if rel in (PROJECT_FILE, LOCK_FILE):
        raise InvalidPathError(f"{rel} is mlvc's own file; commit it with git")
    if rel.rpartition("/")[2] == ".gitignore":
        raise InvalidPathError(f"{rel} holds git's ignore rules (mlvc writes to it); commit it with git")
    fs.check_relpath(rel)
    return rel


def check_inside(repo: Repo, rel: str) -> None:
    """Refuse an artifact whose path leaves the repository through a symlink: a folder on
    its way (``data -> /victim`` committed by someone else), or the artifact itself (a
    link to an outside file or folder). Checked before anything is written, hashed into
    the cache, linked or chmod'ed, so a hostile clone cannot point mlvc at a victim."""
    root_real = os.path.realpath(repo.root)
    top = os.path.join(repo.root, rel)
    parent = os.path.dirname(top)
    real = os.path.realpath(parent)
    if not fs.is_within(root_real, real):
        raise InvalidPathError(f"{rel} is reached through a symlink to {real}, outside the repository",
                               "mlvc never reads or writes outside it; remove the link")
    if os.path.islink(top):
        target = os.path.realpath(top)
        if not fs.is_within(root_real, target):
            raise InvalidPathError(f"{rel} is a symlink to {target}, outside the repository",
                                   "track the data itself, inside the repository")


def all_artifacts(project: Project, lock: Lock) -> list[str]:
    """What is tracked: mlvc.yaml says so; without one, whatever mlvc.lock records."""
    return sorted(project.artifacts) if project.exists else sorted(lock.artifacts)


def select(repo: Repo, paths: list[str], project: Project, lock: Lock, cwd: str | None = None) -> list[str]:
    """The artifacts named by ``paths`` (all when empty). A folder selects every artifact below it."""
    known = all_artifacts(project, lock)
    if not paths:
        return known
    chosen: list[str] = []
    for p in paths:
        full = os.path.normpath(os.path.join(cwd or os.getcwd(), p))
        if full == repo.root:
            chosen.extend(known)
            continue
        rel = to_repo_path(repo, p, cwd)
        if rel in known:
            chosen.append(rel)
            continue
        below = [a for a in known if a.startswith(rel + "/")]
        if below:
            chosen.extend(below)
            continue
        owner = next((a for a in known if rel.startswith(a + "/")), None)
        if owner:
            raise ArtifactNotFoundError(f"{rel} is inside the artifact {owner}", f"name {owner} instead")
        raise ArtifactNotFoundError(f"{rel} is not tracked", "see `mlvc status`, or track it with `mlvc add`")
    return sorted(set(chosen))
