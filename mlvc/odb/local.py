"""The local cache: objects as read-only files, published whole (O_TMPFILE linked to its name).

Layout (format 2, the same on remotes): ``<cache>/files/xxh3/<first 2 hex>/<other 30 hex>[.tree]``.
The hash algorithm is part of the path, so a second one can be added beside it
without ambiguity. A format 1 cache (``<cache>/<2 hex>/...``) is moved into
place once, a fan-out folder at a time (each move one atomic rename).

The cache lock, ``<cache>/lock``, is shared by every repository that uses the
cache: writers (add, commit, checkout, fsck --repair) hold it SHARED for their
whole run, a garbage collection holds it EXCLUSIVE (``lock(exclusive=True)``),
so it never removes an object that another repository is adding. When the
exclusive lock can be taken at once, no writer of any repository is alive, and
every temp file in the cache is what a killed writer left: it is removed then.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from contextlib import contextmanager
from typing import Iterator

from mlvc import fs
from mlvc.errors import LockHeldError, UnsafeLinkError
from mlvc.objects.hashing import hash_file, is_valid_oid
from mlvc.odb.base import ObjectStore


LAYOUT = ("files", "xxh3")  # where the objects of each hash algorithm live, below the cache folder
LOCK = "lock"  # the cache lock, in the cache folder
SHARED_DIR_MODE = 0o2775  # cache.shared group: group-writable, setgid (new entries keep the group)
OBJECT_MODE = 0o444
STALE_AFTER = 3600.0  # a temp file this old is garbage even while writers are alive
_SLACK = 1.0  # seconds: how much older than the last clean-up a changed fan-out folder may look
_HEX = frozenset("0123456789abcdef")


class LocalObjectStore(ObjectStore):
    """Objects as files: ``<cache>/files/xxh3/<first 2 hex>/<remaining 30 hex>[.tree]``.

    ``cache`` is the cache folder (``cache.dir``); ``root`` is the folder of
    this hash algorithm's objects inside it.
    """

    def __init__(self, cache: str, fsync: str = "batch", shared: bool = False) -> None:
        self.cache = os.path.abspath(cache)
        self.root = os.path.join(self.cache, *LAYOUT)
        self.fsync = fsync  # "always": per object; "batch": one syncfs in flush(); "never"
        self.shared = shared  # cache.shared group: folders 2775, objects 0444 whatever the umask
        self._dirs: set[str] = set()
        self._dirty = False
        self._lock_fd: int | None = None
        self._exclusive = False
        # Temp files last modified before this time are garbage (set when the lock is taken).
        self.stale_before: float | None = None
        self.removed_temp = 0  # temp files of killed writers removed by this process

    def path(self, oid: str) -> str:
        return os.path.join(self.root, oid[:2], oid[2:])

    def legacy_folders(self) -> list[str]:
        """The fan-out folders of a format 1 cache (``<cache>/<2 hex>/``), never through a symlink."""
        found = []
        try:
            with os.scandir(self.cache) as it:
                for entry in it:
                    if len(entry.name) == 2 and set(entry.name) <= _HEX and entry.is_dir(follow_symlinks=False):
                        found.append(entry.name)
        except (FileNotFoundError, NotADirectoryError):
            pass
        return sorted(found)

    def upgrade_layout(self, progress=None) -> int:
        """Move the objects of a format 1 cache into ``files/xxh3/``; return how many folders moved.

        Each fan-out folder moves with one rename, so a reader finds it whole in
        one place or the other, and a killed move resumes where it stopped. Where
        the new layout already has that folder (another mlvc wrote there), the
        objects move one by one; an object already there is kept (same name,
        same content). Safe to run from several processes at once.
        """
        legacy = self.legacy_folders()
        if not legacy:
            return 0
        self._makedirs(self.root)
        task = progress.task("Moving the cache to files/xxh3/", len(legacy)) if progress else None
        for name in legacy:
            src = os.path.join(self.cache, name)
            dst = os.path.join(self.root, name)
            try:
                os.rename(src, dst)
            except FileNotFoundError:
                pass  # another process moved it
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                self._merge_folder(src, dst)
            if task:
                task.advance()
        if task:
            task.close()
        return len(legacy)

    @staticmethod
    def _merge_folder(src: str, dst: str) -> None:
        for name in _listdir(src):
            old = os.path.join(src, name)
            try:
                os.link(old, os.path.join(dst, name), follow_symlinks=False)
            except FileExistsError:
                pass
            except FileNotFoundError:
                continue
            os.unlink(old)
        try:
            os.rmdir(src)
        except OSError:
            pass

    def exists(self, oid: str) -> bool:
        return os.path.exists(self.path(oid))

    def read_bytes(self, oid: str) -> bytes:
        with open(self.path(oid), "rb") as f:
            return f.read()

    def missing(self, oids) -> list[str]:
        """One listing per prefix folder where many ids share it, one stat otherwise."""
        by_prefix: dict[str, list[str]] = {}
        for oid in oids:
            by_prefix.setdefault(oid[:2], []).append(oid)
        out = []
        for prefix, group in by_prefix.items():
            if len(group) < 8:
                out.extend(o for o in group if not self.exists(o))
                continue
            try:
                names = set(os.listdir(os.path.join(self.root, prefix)))
            except FileNotFoundError:
                names = set()
            out.extend(o for o in group if o[2:] not in names)
        return out

    def folder(self, oid: str) -> str:
        """The fan-out folder of ``oid``, created if missing (mode 2775 with ``shared``)."""
        folder = os.path.join(self.root, oid[:2])
        if folder not in self._dirs:
            self._makedirs(folder)
            self._dirs.add(folder)
        return folder

    def _makedirs(self, path: str) -> None:
        """``os.makedirs``; with ``shared``, each folder made is mode 2775 whatever the umask."""
        if not self.shared:
            os.makedirs(path, exist_ok=True)
            return
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for folder in reversed(missing):
            try:
                os.mkdir(folder, SHARED_DIR_MODE)
            except FileExistsError:
                continue
            os.chmod(folder, SHARED_DIR_MODE)  # the umask took group bits away, and mkdir drops setgid

    def publish_tmp(self, tmp: str, oid: str, chmod: bool = True) -> None:
        """Move a finished temp file to its object name, read-only; never replace an object."""
        dest = self.path(oid)
        if chmod or self.shared:
            os.chmod(tmp, OBJECT_MODE)
        if self.fsync == "always":
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if os.path.exists(dest):
            os.unlink(tmp)
            return
        os.replace(tmp, dest)
        self._dirty = True

    def _put(self, oid: str, data: bytes) -> None:
        folder = self.folder(oid)
        fd = fs.open_tmpfile(folder)
        if fd is not None:
            try:
                if self.shared:
                    os.fchmod(fd, OBJECT_MODE)  # O_TMPFILE's mode went through the umask
                fs.write_all(fd, data)
                if self.fsync == "always":
                    os.fsync(fd)
                if fs.publish_tmpfile(fd, os.path.join(folder, oid[2:])):
                    self._dirty = True
            finally:
                os.close(fd)
            return
        tmp = fs.tmp_name(folder)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OBJECT_MODE)
        try:
            if self.shared:
                os.fchmod(fd, OBJECT_MODE)
            fs.write_all(fd, data)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        self.publish_tmp(tmp, oid, chmod=False)

    def flush(self) -> None:
        if self._dirty and self.fsync == "batch":
            fs.syncfs(self.root)
        self._dirty = False

    def iter_oids(self) -> Iterator[str]:
        try:
            prefixes = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return
        for prefix in prefixes:
            if len(prefix) != 2:
                continue
            folder = os.path.join(self.root, prefix)
            try:
                names = sorted(os.listdir(folder))
            except NotADirectoryError:
                continue
            for name in names:
                oid = prefix + name
                if is_valid_oid(oid):
                    yield oid

    def remove(self, oid: str) -> None:
        try:
            os.unlink(self.path(oid))
        except FileNotFoundError:
            pass

    def signature(self) -> str | None:
        """A digest of the modification times of the cache's folders: any object added
        or removed since changes it. None while a folder changed too recently to tell."""
        import time

        import xxhash

        from mlvc.fs.atomic import RACY_NS

        limit = time.time_ns() - RACY_NS
        parts = []
        try:
            with os.scandir(self.root) as it:
                for entry in it:
                    if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
                        m = entry.stat(follow_symlinks=False).st_mtime_ns
                        if m > limit:
                            return None
                        parts.append(f"{entry.name}:{m}")
        except FileNotFoundError:
            return None
        parts.sort()
        return xxhash.xxh3_128_hexdigest("\n".join(parts).encode())

    # ------------------------------------------------------------ the cache lock

    @contextmanager
    def lock(self, exclusive: bool = False, wait: float = 3.0) -> Iterator[None]:
        """Hold the cache lock for the block: SHARED for a writer, EXCLUSIVE for a garbage
        collection (``exclusive=True``: no writer of any repository sharing the cache is alive
        while it is held). ``LockHeldError`` after ``wait`` seconds."""
        held = self._lock_fd is not None
        before = self._exclusive
        if held:  # a writer of this process becoming a collector: let go, then take it anew
            self.release()
        self.acquire(exclusive, wait)
        try:
            yield
        finally:
            self.release()
            if held:
                self.acquire(before, wait)

    def acquire(self, exclusive: bool = False, wait: float = 3.0) -> None:
        """Take the cache lock (see ``lock``), and remove what killed writers left: every temp file
        when no writer is alive, else those older than an hour. The cache folder is made if
        missing. A cache this user may not write is used without the lock (it adds nothing)."""
        if self._lock_fd is not None:
            return
        try:
            self._makedirs(self.root)  # files/xxh3/ too: with shared, made 2775 before anyone else makes it
        except PermissionError:
            if not os.path.isdir(self.cache):
                raise
        opened = self._open_lock()
        if opened is None:
            return
        fd, fresh = opened
        import fcntl

        deadline = time.monotonic() + wait
        try:
            alone = _try_flock(fcntl, fd, fcntl.LOCK_EX)
            if not alone:
                _wait_flock(fcntl, fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, deadline, self.cache, exclusive)
                alone = exclusive
            now = _fs_now()
            if alone:  # no writer anywhere: every temp file is garbage; mark when that was so
                self.stale_before = now
                if self._clean_temp(fd, float("inf"), 0 if fresh else None):
                    try:
                        os.utime(fd)
                    except OSError:
                        pass
                if not exclusive and not _try_flock(fcntl, fd, fcntl.LOCK_SH):
                    _wait_flock(fcntl, fd, fcntl.LOCK_SH, deadline, self.cache, exclusive)
            else:
                self.stale_before = now - STALE_AFTER
                self._clean_temp(fd, self.stale_before, 0 if fresh else None)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        self._exclusive = exclusive

    def release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    def _open_lock(self) -> tuple[int, bool] | None:
        """``(fd, fresh)`` of ``<cache>/lock`` (never through a symlink; ``fresh``: made now),
        or None where this user may not create it."""
        mode = 0o664 if self.shared else 0o644
        base = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        dir_fd = os.open(self.cache, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for _ in range(10):
                try:
                    fd, fresh = os.open(LOCK, base | os.O_CREAT | os.O_EXCL, mode, dir_fd=dir_fd), True
                except FileExistsError:
                    try:
                        fd, fresh = os.open(LOCK, base, dir_fd=dir_fd), False
                    except FileNotFoundError:
                        continue  # removed meanwhile
                    except OSError as exc:
                        if exc.errno in (errno.ELOOP, errno.ENXIO):
                            raise UnsafeLinkError(f"refusing to use {os.path.join(self.cache, LOCK)}: "
                                                  "it is a symlink or not a regular file",
                                                  "remove it; mlvc makes a new one") from None
                        raise
                except (PermissionError, OSError) as exc:
                    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                        return None  # a cache this user reads only: nothing to protect from
                    raise
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    raise UnsafeLinkError(f"refusing to use {os.path.join(self.cache, LOCK)}: it is not a regular file",
                                          "remove it; mlvc makes a new one")
                if fresh and self.shared:
                    os.fchmod(fd, mode)  # group-writable whatever the umask
                return fd, fresh
            raise OSError(errno.EAGAIN, "the cache lock file keeps disappearing", os.path.join(self.cache, LOCK))
        finally:
            os.close(dir_fd)

    # ------------------------------------------------------------ temp files of killed writers

    def _temp_folders(self, since_ns: int | None) -> list[str]:
        """Where temp files can be: the cache folder, ``files/``, ``files/xxh3/`` and its fan-out
        folders, those only if changed since ``since_ns`` (None: all). Cheap: one listing of
        ``files/xxh3/`` and the folders that changed since the last clean-up."""
        folders = [self.cache, os.path.dirname(self.root), self.root]
        try:
            with os.scandir(self.root) as it:
                for entry in it:
                    if len(entry.name) != 2 or not entry.is_dir(follow_symlinks=False):
                        continue
                    if since_ns is None or entry.stat(follow_symlinks=False).st_mtime_ns >= since_ns:
                        folders.append(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        return folders

    def _clean_temp(self, lock_fd: int, before: float, since_ns: int | None) -> bool:
        """Remove temp files modified before ``before`` in the folders that changed since the
        last clean-up (the lock file's mtime marks it; ``since_ns=0``: all). True if all went."""
        if since_ns is None:
            since_ns = os.fstat(lock_fd).st_mtime_ns - int(_SLACK * 1e9)
        ok = True
        for path in self._find_temp(self._temp_folders(since_ns), before):
            try:
                os.unlink(path)
                self.removed_temp += 1
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok

    @staticmethod
    def _find_temp(folders: list[str], before: float) -> list[str]:
        found = []
        for folder in folders:
            for name in _listdir(folder):
                if name.startswith(fs.TMP_PREFIX):
                    path = os.path.join(folder, name)
                    try:
                        st = os.lstat(path)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(st.st_mode) and st.st_mtime < before:
                        found.append(path)
        return found

    def stale_temp_files(self) -> list[str]:
        """Every temp file in the cache that a killed writer left (a full listing, for fsck): all
        of them when no writer of any repository is alive (the exclusive cache lock is free),
        else those older than an hour (a younger one may be a running writer's)."""
        before = self.stale_before
        if before is None:  # this process holds no cache lock: is anybody writing?
            before = time.time() - STALE_AFTER
            try:
                opened = self._open_lock() if os.path.isdir(self.cache) else None
            except OSError:
                opened = None
            if opened is not None:
                import fcntl

                fd = opened[0]
                try:
                    if _try_flock(fcntl, fd, fcntl.LOCK_EX):
                        before = _fs_now()
                finally:
                    os.close(fd)
        return self._find_temp(self._temp_folders(None), before)

    def _hash(self, oid: str) -> str:
        return hash_file(self.path(oid))[0]


def _fs_now() -> float:
    """Now, as the file system stamps a file it changes (the kernel's coarse clock, which can lag
    time.time() by a tick): a file changed after this moment never looks older than it."""
    import sys

    if sys.platform.startswith("linux"):
        try:
            return time.clock_gettime(getattr(time, "CLOCK_REALTIME_COARSE", 5))  # 5: Linux's value
        except OSError:
            pass
    return time.time() - 0.05


def _try_flock(fcntl, fd: int, how: int) -> bool:
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def _wait_flock(fcntl, fd: int, how: int, deadline: float, cache: str, exclusive: bool) -> None:
    while not _try_flock(fcntl, fd, how):
        if time.monotonic() >= deadline:
            if exclusive:
                raise LockHeldError(f"the cache {cache} is in use by another mlvc command (add, commit, checkout "
                                    "or fsck --repair, maybe in another repository that shares it)",
                                    "wait for it to finish and try again")
            raise LockHeldError(f"the cache {cache} is locked for a clean-up (garbage collection) by another "
                                "mlvc command, maybe in another repository that shares it",
                                "wait for it to finish and try again; MLVC_LOCK_TIMEOUT sets how many seconds "
                                "mlvc waits")
        time.sleep(0.05)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
