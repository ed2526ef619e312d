"""The local cache: objects as read-only files, published whole (O_TMPFILE linked to its name).

Layout (format 2, the same on remotes): ``<cache>/files/xxh3/<first 2 hex>/<other 30 hex>[.tree]``.
The hash algorithm is part of the path, so a second one can be added beside it
without ambiguity. A format 1 cache (``<cache>/<2 hex>/...``) is moved into
place once, a fan-out folder at a time (each move one atomic rename).
"""

from __future__ import annotations

import errno
import os
from typing import Iterator

from mlvc import fs
from mlvc.objects.hashing import hash_file, is_valid_oid
from mlvc.odb.base import ObjectStore


LAYOUT = ("files", "xxh3")  # where the objects of each hash algorithm live, below the cache folder
_HEX = frozenset("0123456789abcdef")


class LocalObjectStore(ObjectStore):
    """Objects as files: ``<cache>/files/xxh3/<first 2 hex>/<remaining 30 hex>[.tree]``.

    ``cache`` is the cache folder (``cache.dir``); ``root`` is the folder of
    this hash algorithm's objects inside it.
    """

    def __init__(self, cache: str, fsync: str = "batch") -> None:
        self.cache = os.path.abspath(cache)
        self.root = os.path.join(self.cache, *LAYOUT)
        self.fsync = fsync  # "always": per object; "batch": one syncfs in flush(); "never"
        self._dirs: set[str] = set()
        self._dirty = False

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
        os.makedirs(self.root, exist_ok=True)
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
        folder = os.path.join(self.root, oid[:2])
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
        return folder

    def publish_tmp(self, tmp: str, oid: str, chmod: bool = True) -> None:
        """Move a finished temp file to its object name, read-only; never replace an object."""
        dest = self.path(oid)
        if chmod:
            os.chmod(tmp, 0o444)
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
                fs.write_all(fd, data)
                if self.fsync == "always":
                    os.fsync(fd)
                if fs.publish_tmpfile(fd, os.path.join(folder, oid[2:])):
                    self._dirty = True
            finally:
                os.close(fd)
            return
        tmp = fs.tmp_name(folder)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
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

    def stale_temp_files(self, min_age: float = 3600.0) -> list[str]:
        """Temp files older than ``min_age`` seconds: left by a killed writer (a younger
        one may belong to a running mlvc of another repository sharing this cache)."""
        import time

        limit = time.time() - min_age
        found = []
        for folder in [self.cache, self.root] + [os.path.join(self.root, p) for p in _listdir(self.root) if len(p) == 2]:
            for name in _listdir(folder):
                if name.startswith(fs.TMP_PREFIX):
                    path = os.path.join(folder, name)
                    try:
                        if os.lstat(path).st_mtime < limit:
                            found.append(path)
                    except FileNotFoundError:
                        pass
        return found

    def _hash(self, oid: str) -> str:
        return hash_file(self.path(oid))[0]


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
