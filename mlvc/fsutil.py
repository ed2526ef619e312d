"""File-system helpers: atomic writes, path validation, link types.

Nothing here knows about repositories beyond a root folder and relative paths.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import sys
from contextlib import contextmanager

from mlvc.errors import CorruptObjectError, InvalidPathError

TMP_PREFIX = ".mlvc-tmp-"
COPY_CHUNK = 1024 * 1024
FICLONE = 0x40049409  # from linux/fs.h
LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")

# Errors that mean "this link type is not possible here", so the next one in
# the configured list is tried instead.
_UNSUPPORTED = {
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.EXDEV,
    errno.EINVAL,
    errno.ENOTTY,
    errno.EPERM,
    errno.EMLINK,
    errno.ENOSYS,
    errno.EBADF,
}


_TMP_SERIAL = itertools.count()
_TMP_TAG = os.urandom(4).hex()


def tmp_name(folder: str) -> str:
    """A fresh temp-file name in ``folder`` (unique in this process; created with O_EXCL)."""
    return os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{_TMP_TAG}-{next(_TMP_SERIAL)}")


def fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, *, mode: int = 0o644, fsync: bool = True, tmp_dir: str | None = None) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one.

    The temp file is made in ``tmp_dir`` (a git-ignored folder, so a killed
    write leaves nothing in ``git status``) when it is on the same file
    system, else beside ``path``.
    """
    folder = os.path.dirname(path) or "."
    if tmp_dir is not None and os.path.isdir(tmp_dir):
        try:
            if os.stat(tmp_dir).st_dev == os.stat(folder).st_dev:
                folder = tmp_dir
        except OSError:
            pass
    tmp = tmp_name(folder)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quiet(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    if fsync:
        fsync_dir(os.path.dirname(path) or ".")


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def syncfs(path: str) -> None:
    """Flush every dirty page of the file system that holds ``path`` (one call for many files)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


# --------------------------------------------------------------------- paths


def check_relpath(path: object, what: str = "path") -> str:
    """Validate a POSIX path relative to a root; return it or raise InvalidPathError."""
    if not isinstance(path, str) or not path:
        raise InvalidPathError(f"{what} must be a non-empty string, got {path!r}")
    if "\\" in path:
        raise InvalidPathError(f"{what} {path!r} contains a backslash; paths use '/'")
    if "\0" in path or "\n" in path or "\r" in path:
        raise InvalidPathError(f"{what} {path!r} contains a NUL or newline character")
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # a file name of bytes that are not UTF-8 (os.fsdecode's surrogates)
            raise InvalidPathError(f"{what} {path!r} is not valid UTF-8", "rename it") from None
    if path.startswith("/"):
        raise InvalidPathError(f"{what} {path!r} is absolute; it must be relative to the repository")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise InvalidPathError(f"{what} {path!r} has an empty, '.' or '..' segment")
    return path


def is_within(root_real: str, path_real: str) -> bool:
    return path_real == root_real or path_real.startswith(root_real.rstrip(os.sep) + os.sep)


class SafeDirs:
    """Checks, once per folder, that writing into a folder stays inside ``root``.

    A folder (or any parent up to the root) that is a symlink to somewhere
    outside the repository is refused, so nothing is written through it.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.root_real = os.path.realpath(root)
        self._ok: set[str] = {self.root}

    def check(self, folder: str) -> None:
        folder = os.path.abspath(folder)
        if folder in self._ok:
            return
        if not is_within(self.root, folder):
            raise InvalidPathError(f"refusing to write to {folder!r}: it is outside the repository")
        real = os.path.realpath(folder)
        if not is_within(self.root_real, real):
            raise InvalidPathError(
                f"refusing to write into {os.path.relpath(folder, self.root)!r}: "
                f"it is a symlink to {real!r}, outside the repository"
            )
        self._ok.add(folder)

    def makedirs(self, folder: str) -> None:
        """Create ``folder`` (and parents) after checking each existing parent."""
        folder = os.path.abspath(folder)
        if folder in self._ok:
            return
        parent = os.path.dirname(folder)
        if parent != folder and parent not in self._ok:
            self.makedirs(parent)
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            os.mkdir(folder)
            self._ok.add(folder)
            return
        if stat.S_ISLNK(st.st_mode):
            self.check(folder)
            if not os.path.isdir(folder):
                raise InvalidPathError(f"{os.path.relpath(folder, self.root)!r} is a symlink to a file, not a folder")
            return
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidPathError(
                f"cannot create folder {os.path.relpath(folder, self.root)!r}: a file is in the way",
                "move or remove that file, or run with --force",
            )
        self._ok.add(folder)


# ---------------------------------------------------------------- link types


def is_unsupported(exc: OSError) -> bool:
    return exc.errno in _UNSUPPORTED


def reflink(src: str, dst: str) -> None:
    """Clone ``src`` to a new file ``dst`` sharing its blocks (copy-on-write)."""
    if not sys.platform.startswith("linux"):
        raise OSError(errno.EOPNOTSUPP, "reflink is only supported on Linux")
    import fcntl

    sfd = os.open(src, os.O_RDONLY)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.ioctl(dfd, FICLONE, sfd)
        except BaseException:
            os.close(dfd)
            _unlink_quiet(dst)
            raise
        os.close(dfd)
    finally:
        os.close(sfd)


@contextmanager
def _new_copy(src: str, dst: str, mode: int):
    """Open ``src`` and a new file ``dst``; if the body fails, ``dst`` is removed."""
    sfd = os.open(src, os.O_RDONLY)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            yield sfd, dfd
        except BaseException:
            os.close(dfd)
            dfd = -1
            _unlink_quiet(dst)
            raise
        finally:
            if dfd >= 0:
                os.close(dfd)
    finally:
        os.close(sfd)


def copy_hashing(src: str, dst: str, mode: int = 0o644, size_hint: int = -1) -> tuple[str, int]:
    """Copy ``src`` to a new file ``dst``, hashing the bytes as they pass; return (oid, size)."""
    from mlvc.hashing import hash_fd

    with _new_copy(src, dst, mode) as (sfd, dfd):
        if size_hint < 0:
            size_hint = os.fstat(sfd).st_size
        return hash_fd(sfd, size_hint, lambda chunk: _write_all(dfd, chunk))


def copy_file(src: str, dst: str, mode: int = 0o644) -> int:
    """Copy ``src`` to a new file ``dst`` inside the kernel (copy_file_range); return the size."""
    with _new_copy(src, dst, mode) as (sfd, dfd):
        size = os.fstat(sfd).st_size
        done = 0
        try:
            while done < size:
                n = os.copy_file_range(sfd, dfd, size - done)
                if n == 0:
                    break
                done += n
        except OSError as exc:
            if done or not is_unsupported(exc):
                raise
            buf = bytearray(COPY_CHUNK)
            while True:
                n = os.readv(sfd, [buf])
                if not n:
                    break
                _write_all(dfd, memoryview(buf)[:n])
                done += n
        return done


def copy_verified(src: str, dst: str, expected_oid: str, mode: int = 0o644, size_hint: int = -1) -> int:
    """Copy an object out of the cache, refusing (and removing ``dst``) if its hash is wrong.

    Small files are hashed as they pass; a large one is copied in the kernel
    and then hashed where it landed (from the page cache, through mmap).
    """
    if size_hint > 4 * COPY_CHUNK:
        from mlvc.hashing import hash_file

        size = copy_file(src, dst, mode)
        oid = hash_file(dst)[0]
    else:
        oid, size = copy_hashing(src, dst, mode, size_hint)
    if oid != expected_oid:
        _unlink_quiet(dst)
        raise CorruptObjectError(
            f"cache object {expected_oid} is corrupted (its content hashes to {oid})",
            "run `mlvc fsck --repair` to drop damaged objects, then `mlvc commit` where the data is good",
        )
    return size


_NO_TMPFILE: set[str] = set()  # folders whose file system refused O_TMPFILE


def open_tmpfile(folder: str, mode: int = 0o444) -> int | None:
    """An unnamed file in ``folder`` (O_TMPFILE), or None where the file system has none.

    It gets a name only through ``publish_tmpfile``, complete; if the process
    dies first it vanishes, leaving no temp file anywhere.
    """
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or folder in _NO_TMPFILE:
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, mode)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            _NO_TMPFILE.add(folder)
            return None
        raise


def publish_tmpfile(fd: int, dest: str) -> bool:
    """Give the unnamed file ``fd`` the name ``dest`` at once; False if ``dest`` exists (never replaced)."""
    global _ROOT_FD
    if _ROOT_FD is None:
        _ROOT_FD = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        # A dir fd makes Python call linkat() (plain link() would not follow the
        # /proc magic link); AT_SYMLINK_FOLLOW then links the open file itself.
        os.link(f"/proc/self/fd/{fd}", dest, src_dir_fd=_ROOT_FD, follow_symlinks=True)
    except FileExistsError:
        return False
    return True


_ROOT_FD: int | None = None


def read_small(path: str, size: int) -> bytes:
    """The whole content of a small file, with as few system calls as there can be."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, size + 1)
        if len(data) <= size:
            return data
        parts = [data]
        while chunk := os.read(fd, COPY_CHUNK):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def remove_path(path: str) -> None:
    """Remove a file, symlink or folder tree (making read-only folders writable as needed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        def onexc(func, p, exc):  # pragma: no cover - only with odd permissions
            os.chmod(os.path.dirname(p), 0o755)
            func(p)

        shutil.rmtree(path, onexc=onexc) if sys.version_info >= (3, 12) else shutil.rmtree(path, onerror=onexc)
    else:
        os.unlink(path)
