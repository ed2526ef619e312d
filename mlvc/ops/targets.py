"""From a user's paths to artifacts: resolve paths against where the user stands, and
know what is tracked (one rule for every verb)."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
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
        texts[PROJECT_FILE] = serialize_project(project, over=project.text)  # people's comments kept
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


@dataclass(frozen=True, order=True)
class Target:
    """What a user's path names: an ``artifact`` (repo-relative), or the part of a folder
    artifact at ``inner`` (a path inside it, '' for the whole artifact). ``tracked`` is False
    for an entry of mlvc.lock that mlvc.yaml no longer lists (see ``untracked``)."""

    artifact: str
    inner: str = ""
    tracked: bool = True

    @property
    def path(self) -> str:
        """The repo-relative path named: the artifact, or the part inside it."""
        return f"{self.artifact}/{self.inner}" if self.inner else self.artifact

    def covers(self, path: str) -> bool:
        """Whether ``path`` (inside the artifact, '' for the artifact itself) is in this target."""
        inner = self.inner
        return not inner or path == inner or path.startswith(inner + "/")


def check_part(repo: Repo, target: Target) -> None:
    """Refuse a part of a folder artifact reached through a symlink: a folder on the way from
    the artifact to it, or the part itself when it is a link to a folder (inside a tracked
    folder mlvc follows no link to a folder; a link to a file stands for that file)."""
    check_inside(repo, target.artifact)
    folder = os.path.join(repo.root, target.artifact)
    parts = target.inner.split("/")
    for i, name in enumerate(parts):
        folder = os.path.join(folder, name)
        try:
            st = os.lstat(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(st.st_mode) and (i < len(parts) - 1 or os.path.isdir(folder)):
            shown = f"{target.artifact}/{'/'.join(parts[:i + 1])}"
            raise InvalidPathError(f"{shown} is a symlink to a folder inside the artifact {target.artifact}; "
                                   "mlvc does not follow those", "replace it with the folder itself")


def all_artifacts(project: Project, lock: Lock) -> list[str]:
    """What is tracked (the one rule of every verb): the artifacts mlvc.yaml lists; without
    an mlvc.yaml, whatever mlvc.lock records. The cached outs of stages that ran count too."""
    return sorted(set(project.artifacts) | stage_outs(lock)) if project.exists else sorted(lock.artifacts)


def stage_outs(lock: Lock) -> set[str]:
    """The cached outs of the stages mlvc.lock records (`mlvc repro`): tracked as added artifacts are."""
    return {p for s in lock.stages.values() for p in s.outs}


def untracked(project: Project, lock: Lock) -> list[str]:
    """Entries of mlvc.lock that are not tracked: their path is not in mlvc.yaml (taken out by
    hand, or by a git merge). ``status`` reports them, ``checkout`` never touches them, and
    ``commit`` drops them from mlvc.lock with their .gitignore line."""
    if not project.exists:
        return []
    listed = set(project.artifacts) | stage_outs(lock)
    return sorted(p for p in lock.artifacts if p not in listed)


STALE_HINT = "run `mlvc commit` to drop it from mlvc.lock, or add it back to mlvc.yaml"


def select(repo: Repo, paths: list[str], project: Project, lock: Lock, cwd: str | None = None,
           stale: bool = False) -> list[Target]:
    """The targets named by ``paths`` (every tracked artifact when empty), sorted.

    A folder above artifacts selects every artifact below it; a path inside a folder
    artifact selects that part of it (``Target.inner``); an artifact named with a part of
    it selects the whole. With ``stale``, the entries of ``untracked`` are selected too
    (``tracked=False``); without, naming one is an error that says so."""
    known = all_artifacts(project, lock)
    old = untracked(project, lock)
    if not paths:
        chosen = [Target(a) for a in known]
        return sorted(chosen + [Target(a, tracked=False) for a in old] if stale else chosen)
    chosen: list[Target] = []
    for p in paths:
        full = os.path.normpath(os.path.join(cwd or os.getcwd(), p))
        if full == repo.root:
            chosen.extend(Target(a) for a in known)
            chosen.extend(Target(a, tracked=False) for a in old if stale)
            continue
        rel = to_repo_path(repo, p, cwd)
        here = [Target(a) for a in known if a == rel or a.startswith(rel + "/")]
        here += [Target(a, tracked=False) for a in old if a == rel or a.startswith(rel + "/")]
        if here:
            if not stale and not any(t.tracked for t in here):
                raise ArtifactNotFoundError(f"{rel} is in {LOCK_FILE} but not in {PROJECT_FILE}, so it is not "
                                            "tracked", STALE_HINT)
            chosen.extend(t for t in here if t.tracked or stale)
            continue
        owner = next((a for a in known if rel.startswith(a + "/")), None)
        if owner:
            entry = lock.artifacts.get(owner)
            if entry is not None and not entry.is_dir:
                raise ArtifactNotFoundError(f"{rel} cannot be inside {owner}, which is a file",
                                            f"name {owner} instead")
            chosen.append(Target(owner, rel[len(owner) + 1:]))
            continue
        if any(rel.startswith(a + "/") for a in old):
            raise ArtifactNotFoundError(f"{rel} is inside an entry of {LOCK_FILE} that is not in {PROJECT_FILE}",
                                        STALE_HINT)
        raise ArtifactNotFoundError(f"{p} is not tracked", "see `mlvc status`, or track it with `mlvc add`")
    return _merge(chosen)


def _merge(targets: list[Target]) -> list[Target]:
    """Sorted, each once; a whole artifact covers its parts, and a part the parts inside it."""
    result: list[Target] = []
    parts: dict[str, list[Target]] = {}
    for t in sorted(set(targets), key=lambda t: (t.artifact, t.inner)):
        same = parts.setdefault(t.artifact, [])
        if any(r.covers(t.inner) for r in same):
            continue
        same.append(t)
        result.append(t)
    return result
