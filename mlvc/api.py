"""One plain function per verb. The CLI parses arguments, calls these, and renders.

Paths given by a user are relative to ``cwd``; everything returned is
repo-relative POSIX. Functions return values and raise ``mlvc.errors``;
they never print or prompt.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from mlvc import fsutil, ignore
from mlvc.errors import ArtifactNotFoundError, CorruptObjectError, InvalidPathError, MlvcError
from mlvc.lockfile import (LOCK_FILE, PROJECT_FILE, Lock, LockEntry, Project, parse_lock, read_lock,
                           read_project, write_lock, write_project)
from mlvc.progress import NULL, run_parallel
from mlvc.repo import MLVC_DIR, Repo
from mlvc.repo import init as _init_repo


@contextmanager
def open_repo(cwd: str | None = None) -> Iterator[Repo]:
    repo = Repo.find(cwd)
    try:
        yield repo
    finally:
        repo.close()


@contextmanager
def _writing(cwd: str | None) -> Iterator[tuple[Repo, Project, Lock]]:
    """The repository, held under its lock, with mlvc.yaml and mlvc.lock as they are now."""
    with open_repo(cwd) as repo, repo.lock():
        yield repo, read_project(repo.root), read_lock(repo.root)


# ------------------------------------------------------------------- paths


def to_repo_path(repo: Repo, path: str, cwd: str | None = None) -> str:
    """A user's path (relative to ``cwd``, or absolute) as a repo-relative POSIX path."""
    cwd = cwd or os.getcwd()
    full = os.path.normpath(os.path.join(cwd, path))
    if not fsutil.is_within(repo.root, full):
        real = os.path.realpath(full)
        if not fsutil.is_within(os.path.realpath(repo.root), real):
            raise InvalidPathError(f"{path} is outside the repository {repo.root}")
        full = os.path.join(repo.root, os.path.relpath(real, os.path.realpath(repo.root)))
    elif full != repo.root and not fsutil.is_within(os.path.realpath(repo.root),
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
    fsutil.check_relpath(rel)
    return rel


def _all_artifacts(project: Project, lock: Lock) -> list[str]:
    """What is tracked: mlvc.yaml says so; without one, whatever mlvc.lock records."""
    return sorted(project.artifacts) if project.exists else sorted(lock.artifacts)


def select(repo: Repo, paths: list[str], project: Project, lock: Lock, cwd: str | None = None) -> list[str]:
    """The artifacts named by ``paths`` (all when empty). A folder selects every artifact below it."""
    known = _all_artifacts(project, lock)
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


# -------------------------------------------------------------------- init


@dataclass(frozen=True)
class InitResult:
    root: str


def init(path: str | None = None, force: bool = False) -> InitResult:
    repo = _init_repo(path or os.getcwd(), force)
    return InitResult(repo.root)


# ------------------------------------------------------------ add / commit


@dataclass(frozen=True)
class AddResult:
    entries: list[LockEntry]
    git_files: list[str]  # what to `git add` next
    unchanged: list[str] = field(default_factory=list)


def _git_tracked(repo: Repo, rel: str) -> bool:
    import subprocess

    try:
        out = subprocess.run(["git", "--literal-pathspecs", "ls-files", "-z", "--", rel], cwd=repo.root, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and bool(out.stdout.strip(b"\0"))


def _check_new(repo: Repo, rel: str, known: list[str]) -> None:
    if not os.path.lexists(os.path.join(repo.root, rel)):
        raise InvalidPathError(f"{rel} does not exist")
    for a in known:
        if rel.startswith(a + "/"):
            raise InvalidPathError(f"{rel} is inside the tracked artifact {a}", f"track {a} as a whole with `mlvc commit {a}`")
        if a.startswith(rel + "/"):
            raise InvalidPathError(f"{rel} contains the tracked artifact {a}", f"`mlvc remove {a}` first")
    if _git_tracked(repo, rel):
        raise InvalidPathError(f"{rel} is tracked by git", f"stop tracking it in git first: `git rm -r --cached {rel}`")


def _record_all(repo: Repo, targets: list[str], lock: Lock, progress) -> tuple[list[LockEntry], list[str]]:
    from mlvc.record import record

    entries = []
    unchanged = []
    all_rows = []
    for rel in targets:
        entry, rows = record(repo, rel, progress, lock.artifacts.get(rel))
        all_rows.extend(rows)
        if lock.artifacts.get(rel) == entry:
            unchanged.append(rel)
        entries.append(entry)
    repo.odb.flush()  # objects are durable before the lock that names them
    repo.state.save(all_rows)
    sig = repo.odb.signature()  # every object of these trees was just stored or found
    if sig is not None:
        repo.state.set_cache_sig([e.path for e in entries if e.is_dir], sig)
    return entries, unchanged


def add(paths: list[str], cwd: str | None = None, progress=NULL) -> AddResult:
    if not paths:
        raise MlvcError("nothing to add", "name one or more files or folders")
    with _writing(cwd) as (repo, project, lock):
        known = _all_artifacts(project, lock)
        targets: list[str] = []
        for p in paths:
            rel = to_repo_path(repo, p, cwd)
            if rel not in known:
                _check_new(repo, rel, known + targets)
            if rel not in targets:
                targets.append(rel)
        entries, unchanged = _record_all(repo, targets, lock, progress)
        git_files = []
        for entry in entries:
            lock.artifacts[entry.path] = entry
            if entry.path not in project.artifacts:
                project.artifacts.append(entry.path)
            gi = ignore.ignore(repo.root, entry.path)
            git_files.append(gi or ignore_file_for(entry.path))
        write_project(repo.root, project)
        write_lock(repo.root, lock)
        git_files = sorted(set(git_files)) + [PROJECT_FILE, LOCK_FILE]
        return AddResult(entries, git_files, unchanged)


def ignore_file_for(rel: str) -> str:
    parent = rel.rpartition("/")[0]
    return f"{parent}/.gitignore" if parent else ".gitignore"


def commit(paths: list[str], cwd: str | None = None, progress=NULL) -> AddResult:
    with _writing(cwd) as (repo, project, lock):
        targets = select(repo, paths, project, lock, cwd)
        if not targets:
            raise MlvcError("nothing is tracked yet", "track files with `mlvc add PATH`")
        entries, unchanged = _record_all(repo, targets, lock, progress)
        git_files = set()
        for entry in entries:
            lock.artifacts[entry.path] = entry
            gi = ignore.ignore(repo.root, entry.path)  # a path added to mlvc.yaml by hand
            if gi:
                git_files.add(gi)
        stale = [p for p in lock.artifacts if project.exists and p not in project.artifacts]
        for p in stale:  # taken out of mlvc.yaml by hand
            del lock.artifacts[p]
        if not project.exists:
            project.artifacts = sorted(lock.artifacts)
            write_project(repo.root, project)
            git_files.add(PROJECT_FILE)
        if len(unchanged) < len(entries) or stale:
            write_lock(repo.root, lock)
            git_files.add(LOCK_FILE)
        return AddResult(entries, sorted(git_files), unchanged)


# ------------------------------------------------------------------ status


def status(paths: list[str] | None = None, cwd: str | None = None, progress=NULL):
    from mlvc.status import status as _status

    with open_repo(cwd) as repo:
        project = read_project(repo.root)
        lock = read_lock(repo.root)
        targets = select(repo, paths or [], project, lock, cwd)
        return _status(repo, targets, lock.artifacts, progress)


# ---------------------------------------------------------------- checkout


def checkout(paths: list[str] | None = None, force: bool = False, cwd: str | None = None, progress=NULL,
             relink: bool = False):
    from mlvc.checkout import checkout as _checkout

    with _writing(cwd) as (repo, project, lock):
        targets = select(repo, paths or [], Project(), lock, cwd)
        if paths:
            for rel in select(repo, paths, project, lock, cwd):
                if rel not in lock.artifacts:
                    raise ArtifactNotFoundError(f"{rel} has no recorded version in {LOCK_FILE}",
                                                f"record it with `mlvc commit {rel}`")
        return _checkout(repo, [lock.artifacts[t] for t in targets], force, progress, relink)


# ------------------------------------------------------------------ remove


@dataclass(frozen=True)
class RemoveResult:
    removed: list[str]
    git_files: list[str]


def remove(paths: list[str], cwd: str | None = None, progress=NULL) -> RemoveResult:
    if not paths:
        raise MlvcError("nothing to remove", "name one or more tracked paths")
    with _writing(cwd) as (repo, project, lock):
        known = _all_artifacts(project, lock)
        targets = []
        for p in paths:
            rel = to_repo_path(repo, p, cwd)
            if rel not in known:
                raise ArtifactNotFoundError(f"{rel} is not tracked", "see `mlvc status` for what is")
            targets.append(rel)
        git_files = set()
        for rel in targets:
            _unprotect_artifact(repo, rel, progress)
            gi = ignore.unignore(repo.root, rel)
            if gi:
                git_files.add(gi)
            lock.artifacts.pop(rel, None)
            if rel in project.artifacts:
                project.artifacts.remove(rel)
            repo.state.forget(rel)
        write_project(repo.root, project)
        write_lock(repo.root, lock)
        return RemoveResult(sorted(targets), sorted(git_files) + [PROJECT_FILE, LOCK_FILE])


# --------------------------------------------------------------- unprotect


def _unprotect_artifact(repo: Repo, rel: str, progress) -> list[str]:
    """Turn links into the cache under ``rel`` into private writable copies."""
    from mlvc.record import is_linked
    from mlvc.worktree import scan

    found = scan(repo.root, rel)
    todo = [(p, a) for p, a, _ in found.files if is_linked(a)]

    def copy(item):
        path, abspath = item
        tmp = fsutil.tmp_name(os.path.dirname(abspath))
        mode = 0o777 if os.stat(abspath).st_mode & 0o100 else 0o666
        fsutil.copy_hashing(abspath, tmp, mode)  # the umask applies
        os.replace(tmp, abspath)
        return f"{rel}/{path}" if path else rel

    with progress.task(f"Unprotecting {rel}", len(todo)) as task:
        return run_parallel(copy, todo, task)


def unprotect(paths: list[str], cwd: str | None = None, progress=NULL) -> list[str]:
    if not paths:
        raise MlvcError("nothing to unprotect", "name one or more tracked paths")
    with _writing(cwd) as (repo, project, lock):
        known = _all_artifacts(project, lock)
        done: list[str] = []
        for p in paths:
            rel = to_repo_path(repo, p, cwd)
            if not any(rel == a or rel.startswith(a + "/") or a.startswith(rel + "/") for a in known):
                raise ArtifactNotFoundError(f"{rel} is not tracked", "see `mlvc status` for what is")
            if not os.path.lexists(os.path.join(repo.root, rel)):
                raise InvalidPathError(f"{rel} does not exist in the workspace", f"run `mlvc checkout {rel}` first")
            done.extend(_unprotect_artifact(repo, rel, progress))
        return done


# ---------------------------------------------------------------------- ls


@dataclass(frozen=True)
class LsResult:
    rev: str | None  # the commit's full sha, None for the workspace's mlvc.lock
    entries: list[LockEntry]


def ls(rev: str | None = None, cwd: str | None = None) -> LsResult:
    with open_repo(cwd) as repo:
        if rev is None:
            return LsResult(None, sorted(read_lock(repo.root).artifacts.values(), key=lambda e: e.path))
        sha = repo.scm.resolve(rev)
        data = repo.scm.read_file(sha, LOCK_FILE)
        if data is None:
            return LsResult(sha, [])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            from mlvc.errors import FileFormatError

            raise FileFormatError(f"{LOCK_FILE}@{rev}", "is not valid UTF-8") from None
        lock = parse_lock(text, f"{LOCK_FILE}@{rev}")
        return LsResult(sha, sorted(lock.artifacts.values(), key=lambda e: e.path))


# -------------------------------------------------------------------- fsck


@dataclass(frozen=True)
class FsckResult:
    checked: int
    corrupted: list[str]
    missing: list[str]  # referenced by mlvc.lock (or its trees) but absent
    removed: list[str] = field(default_factory=list)  # with repair: corrupted objects dropped
    stale_temp: int = 0  # temp files a killed writer left in the cache (removed with repair)

    @property
    def ok(self) -> bool:
        return not self.corrupted and not self.missing


def fsck(cwd: str | None = None, progress=NULL, repair: bool = False) -> FsckResult:
    """Rehash every object. With ``repair``, drop the corrupted ones (their content is
    wrong, so nothing is lost) so that `mlvc commit` or `mlvc add` can store them again."""
    if repair:
        with open_repo(cwd) as repo, repo.lock():
            result = _fsck(repo, progress)
            for oid in result.corrupted:
                repo.odb.remove(oid)
            for path in repo.odb.stale_temp_files():
                fsutil.remove_path(path)
            return FsckResult(result.checked, result.corrupted, result.missing, list(result.corrupted),
                              result.stale_temp)
    with open_repo(cwd) as repo:
        return _fsck(repo, progress)


def _fsck(repo: Repo, progress) -> FsckResult:
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
            except (MlvcError, CorruptObjectError):
                continue
            missing.update(o for o in tree.oids() if o not in present)
    return FsckResult(len(oids), corrupted, sorted(missing), stale_temp=len(odb.stale_temp_files()))


# ------------------------------------------------------------------ config


def config_get(key: str, cwd: str | None = None) -> str | None:
    with open_repo(cwd) as repo:
        return repo.config.get(key)


def config_list(cwd: str | None = None) -> dict[str, str]:
    with open_repo(cwd) as repo:
        return repo.config.items()


def config_set(key: str, value: str, local: bool = False, cwd: str | None = None) -> str:
    with open_repo(cwd) as repo, repo.lock():
        if key == "cache.dir" and value and not os.path.isabs(os.path.expanduser(value)):
            # Given relative to where the user stands; stored relative to .mlvc/.
            value = os.path.relpath(os.path.abspath(os.path.join(cwd or os.getcwd(), value)), repo.dot)
        return repo.config.set(key, value, local)


def config_unset(key: str, local: bool = False, cwd: str | None = None) -> bool:
    with open_repo(cwd) as repo, repo.lock():
        return repo.config.unset(key, local)
