"""Paths on disk: is a path inside a root, folders created without leaving it through a symlink,
mlvc's own folders and files checked (never followed through a link), bounded reads of regular files."""

from __future__ import annotations

import errno
import os
import stat

from mlvc.errors import FileFormatError, InvalidPathError, UnsafeLinkError
from mlvc.objects.paths import check_relpath

__all__ = ["check_relpath", "is_within", "SafeDirs", "safe_dir", "check_own_file", "check_no_links",
           "read_regular"]

_LINK_HINT = ("mlvc never follows a link in its own folders; remove the link "
              "(.mlvc/tmp and .mlvc/cache are never committed)")


def _rel(path: str, root: str | None) -> str:
    if root is not None and is_within(root, path) and path != root:
        return os.path.relpath(path, root)
    return path


def _refuse(path: str, st: os.stat_result, root: str | None, what: str = "a folder") -> UnsafeLinkError:
    name = _rel(path, root)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return UnsafeLinkError(f"refusing to use {name!r}: it is a symlink (to {target!r})", _LINK_HINT)
    return UnsafeLinkError(f"refusing to use {name!r}: it is not {what}",
                           "mlvc made it; move it away and run the command again")


def safe_dir(root: str, rel: str, create: bool = True, shown_root: str | None = "") -> str:
    """The folder ``root/rel`` (``rel`` POSIX, e.g. ``.mlvc/tmp/checkout``), checked one component
    at a time below ``root`` with ``lstat``: a symlink, or anything but a folder, is refused with
    ``UnsafeLinkError`` naming it, so nothing is ever read, written or deleted through a link.
    Missing folders are created (``create``), else the path is returned as it is (nothing there
    can lead elsewhere). ``root`` itself is trusted (the caller found it). Returns the path.
    Errors name the path relative to ``shown_root`` (default ``root``; None: absolute)."""
    root = os.path.abspath(root)
    shown = root if shown_root == "" else shown_root
    path = root
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == ".." or os.sep in part:
            raise InvalidPathError(f"{rel!r} leaves {root!r}")
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                return os.path.join(path, *parts[i + 1:])
            try:
                os.mkdir(path)
                continue
            except FileExistsError:  # made meanwhile (by another mlvc): check what is there now
                st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise _refuse(path, st, shown)
    return path


def check_own_file(path: str, root: str | None = None) -> bool:
    """A file mlvc owns (the lock, the stat cache, a config file) is absent (False) or a regular
    file (True); a symlink or anything else is refused with ``UnsafeLinkError`` naming it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, st, root, "a regular file")
    return True


def check_no_links(folder: str, root: str | None = None) -> None:
    """No entry of ``folder`` (one level, no stat calls) is a symlink; a missing folder is fine."""
    try:
        it = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    with it:
        for entry in it:
            if entry.is_symlink():
                raise _refuse(entry.path, os.lstat(entry.path), root)


def read_regular(path: str, name: str, limit: int, root: str | None = None) -> bytes | None:
    """The content of the regular file ``path`` (None if there is none), at most ``limit`` bytes.

    Never follows a symlink at ``path`` (``O_NOFOLLOW``: ``UnsafeLinkError``), never blocks on a
    FIFO or reads a device (``O_NONBLOCK``, then ``fstat``: only a regular file is read), and
    refuses a file larger than ``limit`` (``FileFormatError``) without reading all of it."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(path, os.lstat(path), root, "a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileFormatError(name, "is a folder, expected a file")
        if not stat.S_ISREG(st.st_mode):
            raise FileFormatError(name, "is not a regular file (a device, FIFO or socket)",
                                  hint="mlvc reads its files only as regular files")
        too_big = FileFormatError(name, f"is larger than {limit:,} bytes, too large to be an mlvc file")
        if st.st_size > limit:
            raise too_big
        parts = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise too_big
        return b"".join(parts)
    finally:
        os.close(fd)


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
        self._ok: set[str] = {self.root}  # checked to resolve inside the root (they may not exist)
        self._made: set[str] = {self.root}  # known to exist as folders

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
        """Create ``folder`` and the folders above it that are missing, from the root down,
        checking each one that exists (no recursion: a path may be thousands of folders deep)."""
        folder = os.path.abspath(folder)
        if folder in self._made:
            return
        if not is_within(self.root, folder):
            raise InvalidPathError(f"refusing to write to {folder!r}: it is outside the repository")
        chain = []
        while folder not in self._made:
            chain.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(chain):
            try:
                st = os.lstat(folder)
            except FileNotFoundError:
                os.mkdir(folder)
                self._ok.add(folder)
                self._made.add(folder)
                continue
            if stat.S_ISLNK(st.st_mode):
                self._ok.discard(folder)
                self.check(folder)
                if not os.path.isdir(folder):
                    raise InvalidPathError(
                        f"{os.path.relpath(folder, self.root)!r} is a symlink to a file, not a folder")
            elif not stat.S_ISDIR(st.st_mode):
                raise InvalidPathError(
                    f"cannot create folder {os.path.relpath(folder, self.root)!r}: a file is in the way",
                    "move or remove that file, or run with --force",
                )
            self._made.add(folder)
