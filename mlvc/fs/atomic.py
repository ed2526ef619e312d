"""Atomic writes and durable files: temp names, write-then-rename, unnamed (O_TMPFILE) files, syncfs.

A reader of any file written here sees the old content or the new, never half.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import sys

TMP_PREFIX = ".mlvc-tmp-"
COPY_CHUNK = 1024 * 1024
# A file whose mtime is this close to the moment it was looked at may still
# change within the same timestamp tick (coarse kernel clocks tick every few
# ms), so what was seen of it is not trusted later: git's "racy clean" rule.
RACY_NS = 20_000_000

_TMP_SERIAL = itertools.count()
_TMP_TAG = os.urandom(8).hex()


def tmp_name(folder: str) -> str:
    """A fresh temp-file name in ``folder``: ``.mlvc-tmp-<pid>-<16 random hex>-<serial>``, a name
    no user plausibly picks, and created only with O_EXCL or a link (which never replace a
    file), so a name taken by a user's file fails instead of touching it.

    ``folder`` is mlvc's own (``.mlvc/tmp``, the cache): a temp file is made among a user's
    files only as the last resort where that folder is on another file system (EXDEV)."""
    return os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{_TMP_TAG}-{next(_TMP_SERIAL)}")


def replace_via(dest: str, tmp_dir: str, make) -> None:
    """Replace ``dest`` with a new file that ``make(tmp)`` creates at the fresh name ``tmp``
    (with O_EXCL or a link: never over an existing file), made in ``tmp_dir`` (mlvc's own
    folder) and renamed over ``dest``. Only where a rename from ``tmp_dir`` cannot reach
    ``dest`` (EXDEV: another file system, a bind mount) is it made beside ``dest``. A temp
    file is removed only if this call made it (``make`` removes what it made when it fails)."""
    for folder in (tmp_dir, os.path.dirname(dest)):
        tmp = tmp_name(folder)
        make(tmp)
        try:
            replace_file(tmp, dest)
            return
        except OSError as exc:
            unlink_quiet(tmp)
            if exc.errno != errno.EXDEV or folder != tmp_dir:
                raise


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
    atomic_write_all([(path, data)], mode=mode, fsync=fsync, tmp_dir=tmp_dir)


def atomic_write_all(files: list[tuple[str, bytes]], *, mode: int = 0o644, fsync: bool = True,
                     tmp_dir: str | None = None) -> None:
    """Write several files so that either all are replaced or none is: every temp file is
    written (and synced) before the first rename, so a full disk or any other error while
    writing leaves every file as it was. (Only a crash between the renames, which need
    no space, can leave some renamed.)"""
    done: list[tuple[str, str]] = []
    try:
        for path, data in files:
            folder = os.path.dirname(path) or "."
            if tmp_dir is not None:
                try:  # a real folder only: never a temp file written through a symlink someone put there
                    st = os.lstat(tmp_dir)
                    if stat.S_ISDIR(st.st_mode) and st.st_dev == os.stat(folder).st_dev:
                        folder = tmp_dir
                except OSError:
                    pass
            tmp = tmp_name(folder)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            except OSError as exc:
                raise naming(exc, path) from None
            done.append((tmp, path))
            try:
                write_all(fd, data)
                if fsync:
                    os.fsync(fd)
            except OSError as exc:
                raise naming(exc, path) from None
            finally:
                os.close(fd)
    except BaseException:
        for tmp, _ in done:
            unlink_quiet(tmp)
        raise
    for i, (tmp, path) in enumerate(done):
        try:
            os.replace(tmp, path)
        except BaseException as exc:
            for later, _ in done[i:]:
                unlink_quiet(later)
            if isinstance(exc, OSError):
                raise naming(exc, path) from None
            raise
    if fsync:
        for folder in {os.path.dirname(path) or "." for _, path in files}:
            fsync_dir(folder)


def naming(exc: OSError, path: str) -> OSError:
    """``exc`` (same errno, same class) naming ``path``, the file the user knows, instead of
    the temp file it was written through (``Is a directory: mlvc.lock``, not a ``.mlvc-tmp-`` name)."""
    return OSError(exc.errno, exc.strerror or str(exc), path)


def unlink_quiet(path: str) -> None:
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


def write_all(fd: int, data) -> None:
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


_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAMEAT2 = None  # libc's renameat2, once looked up (False: there is none)


def _renameat2():
    global _RENAMEAT2
    if _RENAMEAT2 is None:
        _RENAMEAT2 = False
        if sys.platform.startswith("linux"):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = getattr(libc, "renameat2", None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                _RENAMEAT2 = fn
    return _RENAMEAT2


def replace_file(tmp: str, dest: str) -> None:
    """Put the new file ``tmp`` at ``dest`` at once (a reader sees the old file or the new).

    Where ``dest`` is a file, the two are exchanged (renameat2 RENAME_EXCHANGE)
    and the old one, now at ``tmp``, is then removed: a rename over an existing
    file makes ext4 write the new file's data out there and then (auto_da_alloc),
    which cost a checkout of 1 GiB 0.5-1.5 s here. Elsewhere, or where the file
    system cannot exchange, ``os.replace``.
    """
    fn = _renameat2()
    if fn:
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            import ctypes

            if fn(-100, os.fsencode(tmp), -100, os.fsencode(dest), _RENAME_EXCHANGE) == 0:  # -100: AT_FDCWD
                try:
                    os.unlink(tmp)
                except IsADirectoryError as exc:  # a folder took the file's place meanwhile: put it back
                    fn(-100, os.fsencode(tmp), -100, os.fsencode(dest), _RENAME_EXCHANGE)
                    raise naming(exc, dest) from None
                return
            if ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.ENOENT, errno.EOPNOTSUPP):
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), dest)
    try:
        os.replace(tmp, dest)
    except OSError as exc:  # it names the temp file first: name the user's file
        raise naming(exc, dest) from None
