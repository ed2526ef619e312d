"""Object stores: the local cache on disk, and an in-memory store for tests.

Both follow one contract (``ObjectStore``), checked by one shared test class.
An object is stored once under its id; an object that exists is never
rewritten; objects on disk are read-only.
"""

from __future__ import annotations

import errno
import os
from typing import Iterator

from mlvc import fsutil
from mlvc.errors import CorruptObjectError, FileFormatError, MlvcError, ObjectNotFoundError
from mlvc.hashing import SMALL, OID_HEX_LEN, TREE_SUFFIX, hash_bytes, hash_file, is_tree_oid, is_valid_oid
from mlvc.objects import Tree, parse_tree, serialize_tree


class ObjectStore:
    """The contract every object store keeps."""

    def exists(self, oid: str) -> bool:
        raise NotImplementedError

    def read_bytes(self, oid: str) -> bytes:
        raise NotImplementedError

    def _put(self, oid: str, data: bytes) -> None:
        raise NotImplementedError

    def iter_oids(self) -> Iterator[str]:
        raise NotImplementedError

    def remove(self, oid: str) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Make every object written so far durable."""

    def missing(self, oids) -> list[str]:
        """The ids in ``oids`` that are not in the store."""
        return [oid for oid in oids if not self.exists(oid)]

    def signature(self) -> str | None:
        """Changes whenever an object is added or removed; None where that cannot be told."""
        return None

    # Shared behaviour, built on the primitives above.

    def write_bytes(self, data: bytes, tree: bool = False) -> str:
        oid = hash_bytes(data) + (TREE_SUFFIX if tree else "")
        if not self.exists(oid):
            self._put(oid, data)
        return oid

    def save_tree(self, tree: Tree) -> str:
        data = serialize_tree(tree)
        oid = self.write_bytes(data, tree=True)
        tree._oid = oid
        return oid

    def load_tree(self, oid: str, check_meta: bool = True) -> Tree:
        if not is_tree_oid(oid):
            raise MlvcError(f"{oid} is not a tree id")
        try:
            data = self.read_bytes(oid)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"tree {oid} is not in the cache", [oid]) from None
        if hash_bytes(data) != oid[:OID_HEX_LEN]:
            raise CorruptObjectError(f"tree {oid} is corrupted in the cache", "run `mlvc fsck`")
        tree = parse_tree(data, f"tree {oid}", check_meta)
        tree._oid = oid
        return tree

    def check(self, oid: str) -> bool:
        """Rehash one object: True when its content matches its name (and a tree is well formed)."""
        try:
            data_oid = self._hash(oid)
            if data_oid != oid[:OID_HEX_LEN]:
                return False
            if is_tree_oid(oid):
                parse_tree(self.read_bytes(oid), oid)
        except FileNotFoundError:
            return False
        except FileFormatError:
            return False
        return True

    def _hash(self, oid: str) -> str:
        return hash_bytes(self.read_bytes(oid))


class MemoryObjectStore(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def exists(self, oid: str) -> bool:
        return oid in self.objects

    def read_bytes(self, oid: str) -> bytes:
        try:
            return self.objects[oid]
        except KeyError:
            raise FileNotFoundError(oid) from None

    def _put(self, oid: str, data: bytes) -> None:
        self.objects[oid] = bytes(data)

    def iter_oids(self) -> Iterator[str]:
        return iter(sorted(self.objects))

    def remove(self, oid: str) -> None:
        self.objects.pop(oid, None)


class LocalObjectStore(ObjectStore):
    """Objects as files: ``<root>/<first 2 hex>/<remaining 30 hex>[.tree]``."""

    def __init__(self, root: str, fsync: str = "batch") -> None:
        self.root = os.path.abspath(root)
        self.fsync = fsync  # "always": per object; "batch": one syncfs in flush(); "never"
        self._dirs: set[str] = set()
        self._dirty = False
        self.failed_kinds: set[str] = set()

    def path(self, oid: str) -> str:
        return os.path.join(self.root, oid[:2], oid[2:])

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

    def _folder(self, oid: str) -> str:
        folder = os.path.join(self.root, oid[:2])
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
        return folder

    def _commit_tmp(self, tmp: str, oid: str, chmod: bool = True) -> None:
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
        folder = self._folder(oid)
        fd = fsutil.open_tmpfile(folder)
        if fd is not None:
            try:
                fsutil._write_all(fd, data)
                if self.fsync == "always":
                    os.fsync(fd)
                if fsutil.publish_tmpfile(fd, os.path.join(folder, oid[2:])):
                    self._dirty = True
            finally:
                os.close(fd)
            return
        tmp = fsutil.tmp_name(folder)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            fsutil._write_all(fd, data)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        self._commit_tmp(tmp, oid, chmod=False)

    def flush(self) -> None:
        if self._dirty and self.fsync == "batch":
            fsutil.syncfs(self.root)
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

    def _create_new(self, oid: str, src: str, dest: str, kinds: list[str], mode: int, size: int) -> str | None:
        """Put an object at ``dest``, where nothing is, in one step that appears whole:
        a link, or an unnamed file (O_TMPFILE) given its name once written and verified.
        None when that is not possible here (then the caller goes through a temp name)."""
        for kind in kinds:
            if kind in self.failed_kinds:
                continue
            try:
                if kind == "hardlink":
                    os.link(src, dest)
                    return kind
                if kind == "symlink":
                    os.symlink(src, dest)
                    return kind
                if not 0 <= size <= SMALL_NEW:
                    return None
                fd = fsutil.open_tmpfile(os.path.dirname(dest), mode)
                if fd is None:
                    return None
                try:
                    if kind == "copy":
                        data = fsutil.read_small(src, size)
                        if hash_bytes(data) != oid:
                            raise CorruptObjectError(
                                f"cache object {oid} is corrupted (its content does not match its name)",
                                "run `mlvc fsck --repair` to drop damaged objects, then `mlvc commit` "
                                "where the data is good")
                        fsutil._write_all(fd, data)
                    else:
                        import fcntl

                        sfd = os.open(src, os.O_RDONLY)
                        try:
                            fcntl.ioctl(fd, fsutil.FICLONE, sfd)
                        finally:
                            os.close(sfd)
                    if not fsutil.publish_tmpfile(fd, dest):
                        raise FileExistsError(errno.EEXIST, "appeared during checkout", dest)
                finally:
                    os.close(fd)
                return kind
            except FileExistsError:
                raise MlvcError(f"{dest} appeared while checkout was writing it",
                                "another program is writing there; run `mlvc status` and try again") from None
            except FileNotFoundError:
                if not os.path.exists(src):
                    raise ObjectNotFoundError(f"object {oid} is not in the cache", [oid]) from None
                raise
            except OSError as exc:
                if not fsutil.is_unsupported(exc):
                    raise
                self.failed_kinds.add(kind)
        return None

    def signature(self) -> str | None:
        """A digest of the modification times of the cache's folders: any object added
        or removed since changes it. None while a folder changed too recently to tell."""
        import time

        import xxhash

        from mlvc.state import RACY_NS

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
        for folder in [self.root] + [os.path.join(self.root, p) for p in _listdir(self.root) if len(p) == 2]:
            for name in _listdir(folder):
                if name.startswith(fsutil.TMP_PREFIX):
                    path = os.path.join(folder, name)
                    try:
                        if os.lstat(path).st_mtime < limit:
                            found.append(path)
                    except FileNotFoundError:
                        pass
        return found

    def _hash(self, oid: str) -> str:
        return hash_file(self.path(oid))[0]

    # ------------------------------------------------------------- files

    def add_file(self, src: str, kinds: list[str], oid: str | None = None, size: int = -1) -> tuple[str, int]:
        """Store the file at ``src``; return ``(oid, size)``.

        ``kinds`` is the ordered list of ways to get the data in (``reflink``,
        ``hardlink``, ``symlink``, ``copy``); a way the file system refuses is
        dropped for the rest of the run. ``oid`` is the file's hash when the
        caller already knows it (from the stat cache). The source file is
        never modified, moved or truncated.
        """
        if oid is not None and self.exists(oid):
            return oid, size
        for kind in kinds:
            if kind in self.failed_kinds:
                continue
            try:
                if kind == "copy" and 0 <= size <= SMALL:
                    data = fsutil.read_small(src, size)
                    oid = hash_bytes(data)
                    self._put(oid, data)  # an object that exists already is kept as it is
                    return oid, len(data)
                if kind == "copy":
                    return self._add_large_copy(src, oid, size)
                if oid is None:
                    oid, size = hash_file(src, size)
                    if kind == "reflink" and self.exists(oid):
                        return oid, size
                if kind == "reflink":
                    tmp = fsutil.tmp_name(self._folder(oid))
                    fsutil.reflink(src, tmp)
                    self._commit_tmp(tmp, oid)
                    return oid, size
                # hardlink and symlink both put the file itself in the cache. A link
                # appears whole at once, so it needs no temp name; one that exists
                # already is the object (never replaced).
                dest = os.path.join(self._folder(oid), oid[2:])
                try:
                    os.link(src, dest)
                except FileExistsError:
                    return oid, size
                os.chmod(dest, 0o444)
                self._dirty = True
                return oid, size
            except OSError as exc:
                if not fsutil.is_unsupported(exc):
                    raise
                self.failed_kinds.add(kind)
        raise MlvcError(
            f"none of the link types {','.join(kinds)} works for {src}",
            "add 'copy' to the list: `mlvc config cache.type reflink,copy`",
        )

    def _add_large_copy(self, src: str, oid: str | None, size: int) -> tuple[str, int]:
        """Hash first (through mmap), copy only if the object is new (in the kernel),
        then hash the copy: an object never holds bytes that do not match its name."""
        if oid is None:
            oid, size = hash_file(src, size)
            if self.exists(oid):
                return oid, size
        tmp = fsutil.tmp_name(self._folder(oid))
        fsutil.copy_file(src, tmp, 0o444)
        got, size = hash_file(tmp)
        if got != oid:
            _unlink_quiet(tmp)
            raise MlvcError(f"{src} changed while it was being added", "add it again once it is written")
        self._commit_tmp(tmp, oid, chmod=False)
        return oid, size

    def link_out(self, oid: str, dest: str, kinds: list[str], executable: bool = False,
                 size: int = -1, tmp_dir: str | None = None, new: bool = False) -> str:
        """Put object ``oid`` at ``dest`` (replacing what is there) and return the link kind used.

        The new file is made beside ``dest`` (or in ``tmp_dir``) and renamed
        into place, so ``dest`` is the old file or the new one, never half of
        one. Copies are verified against the object id as they are written.
        """
        src = self.path(oid)
        mode = 0o777 if executable else 0o666  # the umask applies
        if new:
            kind = self._create_new(oid, src, dest, kinds, mode, size)
            if kind is not None:
                return kind
        folder = tmp_dir or os.path.dirname(dest)
        for kind in kinds:
            if kind in self.failed_kinds:
                continue
            tmp = fsutil.tmp_name(folder)
            try:
                if kind == "copy":
                    fsutil.copy_verified(src, tmp, oid, mode, size)
                elif kind == "reflink":
                    fsutil.reflink(src, tmp)
                    umask = _umask()
                    os.chmod(tmp, mode & ~umask)
                elif kind == "hardlink":
                    os.link(src, tmp)
                else:
                    os.symlink(src, tmp)
            except OSError as exc:
                _unlink_quiet(tmp)
                if isinstance(exc, FileNotFoundError) and not os.path.exists(src):
                    raise ObjectNotFoundError(f"object {oid} is not in the cache", [oid]) from None
                if not fsutil.is_unsupported(exc):
                    raise
                self.failed_kinds.add(kind)
                continue
            try:
                os.replace(tmp, dest)
            except OSError as exc:
                _unlink_quiet(tmp)
                if exc.errno == errno.EXDEV and tmp_dir is not None:
                    return self.link_out(oid, dest, kinds, executable, size, None)
                raise
            return kind
        raise MlvcError(
            f"none of the link types {','.join(kinds)} works for {dest}",
            "add 'copy' to the list: `mlvc config cache.type reflink,copy`",
        )


_UMASK: int | None = None
SMALL_NEW = 4 * 1024 * 1024


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

