"""Paths on disk: is a path inside a root, and folders created without leaving it through a symlink."""

from __future__ import annotations

import os
import stat

from mlvc.errors import InvalidPathError
from mlvc.objects.paths import check_relpath

__all__ = ["check_relpath", "is_within", "SafeDirs"]


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
