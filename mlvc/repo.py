"""The repository handle: root, config, object store, stat cache, git.

``Repo`` stays small; verbs are functions in ``mlvc.ops`` that take it.
"""

from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager
from functools import cached_property
from typing import Iterator

from mlvc.config import Config, ConfigFiles, cache_dir
from mlvc.errors import LockHeldError, NotARepoError, NotAGitRepoError
from mlvc.fs.atomic import atomic_write
from mlvc.odb.local import LocalObjectStore
from mlvc.workspace.state import State, StateNoop

MLVC_DIR = ".mlvc"
LOCK_WAIT_SECONDS = float(os.environ.get("MLVC_LOCK_TIMEOUT", "3"))


def find_root(start: str | None = None) -> str:
    """The nearest folder at or above ``start`` that holds ``.mlvc/``."""
    path = os.path.abspath(start or os.getcwd())
    while True:
        if os.path.isdir(os.path.join(path, MLVC_DIR)):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            raise NotARepoError("not an mlvc repository (no .mlvc folder here or above)",
                                "run `mlvc init` at the top of your git repository")
        path = parent


def find_git_root(start: str) -> str | None:
    path = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(path, ".git")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


class Repo:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.dot = os.path.join(self.root, MLVC_DIR)
        self.tmp_dir = os.path.join(self.dot, "tmp")

    @classmethod
    def find(cls, start: str | None = None) -> "Repo":
        return cls(find_root(start))

    @cached_property
    def config(self) -> Config:
        return Config(ConfigFiles(os.path.join(self.dot, "config"), os.path.join(self.dot, "config.local")))

    @cached_property
    def odb(self) -> LocalObjectStore:
        store = LocalObjectStore(cache_dir(self.config, self.root), fsync=self.config.get("core.fsync") or "batch")
        try:
            store.upgrade_layout()  # a cache of format 1: moved once, in milliseconds (a rename per folder)
        except PermissionError:
            store.root = store.cache  # a format 1 cache this user may not change: read it in place
        return store

    @cached_property
    def state(self) -> State | StateNoop:
        if os.environ.get("MLVC_NO_STATE"):
            return StateNoop()
        return State(os.path.join(self.tmp_dir, "state.db"))

    @cached_property
    def scm(self):
        from mlvc.scm.git import Git, NoSCM

        git_root = find_git_root(self.root)
        return Git(git_root, self.root) if git_root else NoSCM()

    def close(self) -> None:
        if "state" in self.__dict__:
            self.state.close()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise writers. A lock left by a dead process is released by the OS."""
        import fcntl

        os.makedirs(self.tmp_dir, exist_ok=True)
        path = os.path.join(self.tmp_dir, "lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        holder = _read_pid(fd)
                        who = f"process {holder}" if holder else "another process"
                        raise LockHeldError(
                            f"the repository is locked by {who} (another mlvc command is running)",
                            "wait for it to finish and try again",
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        data = os.pread(fd, 32, 0)
        return int(data.decode().strip())
    except (OSError, ValueError):
        return None


GITIGNORE = "/cache/\n/tmp/\n/config.local\n"


def create(path: str, force: bool = False) -> Repo:
    root = os.path.abspath(path)
    if find_git_root(root) is None:
        raise NotAGitRepoError(f"{root} is not inside a git repository", "run `git init` first, then `mlvc init`")
    dot = os.path.join(root, MLVC_DIR)
    if os.path.isdir(dot) and not force:
        from mlvc.errors import MlvcError

        raise MlvcError(f"{root} is already an mlvc repository", "use --force to re-create the .mlvc files")
    os.makedirs(os.path.join(dot, "tmp"), exist_ok=True)
    atomic_write(os.path.join(dot, ".gitignore"), GITIGNORE.encode())
    config = os.path.join(dot, "config")
    if not os.path.exists(config):
        atomic_write(config, b"")
    return Repo(root)
