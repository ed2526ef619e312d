"""The repository handle: root, config, object store, stat cache, git.

``Repo`` stays small; verbs are functions in ``mlvc.ops`` that take it.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import time
from contextlib import contextmanager
from functools import cached_property
from typing import Iterator

from mlvc import fs
from mlvc.config import Config, ConfigFiles, trusted_cache_dir
from mlvc.errors import ConfigError, LockHeldError, MlvcError, NotARepoError, NotAGitRepoError, UnsafeLinkError
from mlvc.fs.atomic import atomic_write
from mlvc.odb.local import LAYOUT, LocalObjectStore
from mlvc.workspace.state import State, StateNoop

MLVC_DIR = ".mlvc"
TMP = f"{MLVC_DIR}/tmp"
DEFAULT_LOCK_WAIT = 3.0


def lock_wait_seconds() -> float:
    """MLVC_LOCK_TIMEOUT (seconds to wait for another writer), read when a lock is taken."""
    raw = os.environ.get("MLVC_LOCK_TIMEOUT")
    if raw is None:
        return DEFAULT_LOCK_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0:
        raise ConfigError(f"MLVC_LOCK_TIMEOUT must be a number of seconds (0 or more), got {raw[:40]!r}",
                          f"unset it for the default of {DEFAULT_LOCK_WAIT:g} seconds")
    return value


def _dot_kind(path: str) -> str | None:
    """What ``path/.mlvc`` is: "dir", "link" (a symlink to a folder: refused) or None."""
    dot = os.path.join(path, MLVC_DIR)
    try:
        st = os.lstat(dot)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode) and os.path.isdir(dot):
        return "link"
    return None


def find_root(start: str | None = None) -> str:
    """The nearest folder at or above ``start`` that holds ``.mlvc/`` (a real folder: a symlink
    named ``.mlvc`` is refused, never followed)."""
    path = os.path.abspath(start or os.getcwd())
    while True:
        kind = _dot_kind(path)
        if kind == "link":
            fs.safe_dir(path, MLVC_DIR, create=False)  # raises UnsafeLinkError naming it
        if kind:
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
        self._writing = False  # inside lock(): the cache lock is held SHARED once the cache is used
        fs.safe_dir(self.root, MLVC_DIR, create=False)  # .mlvc is a real folder (or not there yet)
        self.tmp_dir = os.path.join(self.dot, "tmp")  # a path only: use it through safe_tmp()

    @classmethod
    def find(cls, start: str | None = None) -> "Repo":
        return cls(find_root(start))

    def safe_tmp(self, sub: str | None = None) -> str:
        """``.mlvc/tmp`` (or a folder ``sub`` in it), created if missing, each part checked not to be
        a symlink (``UnsafeLinkError`` otherwise): the only way to reach a folder of .mlvc/tmp.

        Everything directly in ``.mlvc/tmp`` is mlvc's own (the lock, the stat cache, ``checkout/``,
        temp files) and never a symlink, so one listing refuses a link anywhere there at once."""
        tmp = fs.safe_dir(self.root, TMP)
        fs.check_no_links(tmp, self.root)
        return fs.safe_dir(self.root, f"{TMP}/{sub}") if sub else tmp

    @cached_property
    def config(self) -> Config:
        return Config(ConfigFiles(os.path.join(self.dot, "config"), os.path.join(self.dot, "config.local"),
                                  tmp=self.tmp_dir))

    @cached_property
    def odb(self) -> LocalObjectStore:
        cache = trusted_cache_dir(self.config, self.root)
        inside = fs.is_within(self.root, cache)
        if inside:  # no symlink on the way from the root (git may carry one)
            fs.safe_dir(self.root, os.path.relpath(cache, self.root).replace(os.sep, "/"), create=False)
        objects = fs.safe_dir(cache, "/".join(LAYOUT), create=False, shown_root=self.root if inside else None)
        fs.check_no_links(cache, self.root)  # the cache's own folders (files/, format 1 fan-outs)
        fs.check_no_links(objects, self.root)  # the fan-out folders of objects
        store = LocalObjectStore(cache, fsync=self.config.get("core.fsync") or "batch",
                                 shared=self.config.get("cache.shared") == "group")
        if self._writing:  # made under the repository lock: a writer holds the cache lock too
            store.acquire(wait=lock_wait_seconds())
        try:
            store.upgrade_layout()  # a cache of format 1: moved once, in milliseconds (a rename per folder)
        except PermissionError:
            store.root = store.cache  # a format 1 cache this user may not change: read it in place
        return store

    @contextmanager
    def cache_lock(self, exclusive: bool = True) -> Iterator[None]:
        """The cache lock for the block. EXCLUSIVE (the default) is for a garbage collection: it
        waits (``MLVC_LOCK_TIMEOUT``) until no writer of any repository that shares the cache is
        running, and keeps new ones waiting. Take it inside ``lock()``; a writer's SHARED hold
        (taken by ``lock()`` itself) is given up for the block and taken again after it."""
        with self.odb.lock(exclusive=exclusive, wait=lock_wait_seconds()):
            yield

    @cached_property
    def state(self) -> State | StateNoop:
        if os.environ.get("MLVC_NO_STATE"):
            return StateNoop()
        try:
            tmp = self.safe_tmp()
        except UnsafeLinkError:
            raise
        except OSError:  # not writable here: the stat cache reports it when (if) it is used
            tmp = self.tmp_dir
        db = os.path.join(tmp, "state.db")
        for suffix in ("", "-wal", "-shm", "-journal"):  # sqlite follows links: check every file it opens
            fs.check_own_file(db + suffix, self.root)
        return State(db)

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
        """Serialise writers. A lock left by a dead process is released by the OS.

        A writer that uses the cache (add, commit, checkout, fsck --repair) also holds the cache
        lock SHARED from its first use of ``odb`` to the end of the block (``cache_lock``), so a
        garbage collection of any repository sharing the cache waits for it; a permission error
        in the cache gets a hint about ``cache.shared``.

        Two locks, taken in this order: ``.mlvc/tmp/lock`` (which names the holder's pid), opened
        without following a link and re-checked after ``flock`` to be the file at that path still
        (else it was replaced while we waited: lock the new one); then the ``.mlvc`` folder itself,
        which a stray ``rm .mlvc/tmp/lock`` cannot take away from a running writer.
        """
        import fcntl

        deadline = time.monotonic() + lock_wait_seconds()
        tmp = self.safe_tmp()
        dir_fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fd = self._lock_file(fcntl, dir_fd, deadline)
        finally:
            os.close(dir_fd)
        dot_fd = -1
        try:
            dot_fd = os.open(self.dot, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            _flock(fcntl, dot_fd, deadline, fd, required=False)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._writing = True
            try:
                if "odb" in self.__dict__:
                    self.odb.acquire(wait=lock_wait_seconds())
                yield
            except PermissionError as exc:
                hinted = self._cache_permission(exc)
                if hinted is None:
                    raise
                raise hinted from exc
            finally:
                self._writing = False
                if "odb" in self.__dict__:
                    self.odb.release()
                os.ftruncate(fd, 0)
                if dot_fd >= 0:
                    fcntl.flock(dot_fd, fcntl.LOCK_UN)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            if dot_fd >= 0:
                os.close(dot_fd)
            os.close(fd)

    def _cache_permission(self, exc: PermissionError) -> MlvcError | None:
        """A permission error on a path in the cache, as an error that says how a cache several
        users share is set up (None for a path elsewhere)."""
        if "odb" not in self.__dict__ or not exc.filename:
            return None
        cache = self.odb.cache
        path = os.fsdecode(exc.filename)
        if not fs.is_within(cache, path):
            return None
        if os.path.basename(path).startswith(fs.TMP_PREFIX):
            path = os.path.dirname(path)  # the folder it could not be written in
        import shlex

        c = shlex.quote(cache)
        return MlvcError(
            f"permission denied in the cache: {path} ({exc.strerror or exc})",
            "if several users share this cache, run `mlvc config cache.shared group` in each repository that "
            f"uses it and give the group its folders once: `chgrp -R GROUP {c} && find {c} -type d -exec "
            "chmod 2775 {} +`; else make it yours again (`chown -R`) or set another cache.dir")

    def _lock_file(self, fcntl, dir_fd: int, deadline: float) -> int:
        """An fd of ``.mlvc/tmp/lock``, flocked, that is still the file at that path."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        while True:
            try:
                fd = os.open("lock", flags, 0o644, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                    fs.check_own_file(os.path.join(self.tmp_dir, "lock"), self.root)  # raises, naming it
                raise
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    fs.check_own_file(os.path.join(self.tmp_dir, "lock"), self.root)
                    raise UnsafeLinkError(f"refusing to use {TMP}/lock: it is not a regular file")
                _flock(fcntl, fd, deadline, fd)
                try:
                    now = os.stat("lock", dir_fd=dir_fd, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
                if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed or replaced while we waited for it: lock what is there now


def _flock(fcntl, fd: int, deadline: float, pid_fd: int, required: bool = True) -> None:
    """``flock(fd)``, retried until ``deadline``, then ``LockHeldError`` naming the holder."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                if not required:  # a file system that cannot lock a folder: the lock file alone
                    return
                raise
            if time.monotonic() >= deadline:
                holder = _read_pid(pid_fd)
                who = f"process {holder}" if holder else "another process"
                raise LockHeldError(
                    f"the repository is locked by {who} (another mlvc command is running)",
                    "wait for it to finish and try again",
                ) from None
            time.sleep(0.05)


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
    parent = os.path.dirname(root)
    if parent != root:
        try:
            outer = find_root(parent)
        except NotARepoError:
            outer = None
        if outer is not None:
            raise MlvcError(
                f"{root} is inside the mlvc repository {outer}; a repository inside another is not supported",
                f"run mlvc commands from here as they are (they use {outer}), or init a folder outside it",
            )
    kind = _dot_kind(root)
    if kind == "dir" and not force:
        raise MlvcError(f"{root} is already an mlvc repository", "use --force to re-create the .mlvc files")
    dot = fs.safe_dir(root, MLVC_DIR)  # refuses a symlink named .mlvc, even with --force
    fs.safe_dir(root, TMP)
    atomic_write(os.path.join(dot, ".gitignore"), GITIGNORE.encode(), tmp_dir=os.path.join(dot, "tmp"))
    config = os.path.join(dot, "config")
    if not fs.check_own_file(config, root):
        atomic_write(config, b"", tmp_dir=os.path.join(dot, "tmp"))
    return Repo(root)
