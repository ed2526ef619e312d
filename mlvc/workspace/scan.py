"""Walking an artifact's path in the workspace, and the fingerprint that vouches for a whole folder.

A scan keeps, per file, its path inside the artifact and five integers in one
``array`` (inode, mtime and ctime in ns, size, mode): about 100 bytes a file,
not a ``stat_result`` object, so a million files scan in about 100 MB.
Each folder is listed through its own descriptor and its files are stat'ed
relative to it (``fstatat``): one path component looked up per file. A
sub-folder is opened without following a symlink put in its place; only one
folder is open at a time, however wide the tree. Paths come out sorted (the
order of trees and of the stat cache), so what follows merges sorted runs.
"""

from __future__ import annotations

import operator
import os
import stat
import time
from array import array
from typing import Iterator

from mlvc.errors import InvalidPathError
from mlvc.fs.atomic import RACY_NS
from mlvc.objects.paths import NEVER_TRACKED, bad_name, is_plain, name_problem

FIELDS = 5  # ino, mtime_ns, ctime_ns, size, mode
FileStat = tuple[int, int, int, int, int]
_INO_WRAP = 1 << 64
_INO_MAX = (1 << 63) - 1


def signed_ino(ino: int) -> int:
    """An inode number as a signed 64-bit integer (what an array and sqlite hold), one to one."""
    return ino if ino <= _INO_MAX else ino - _INO_WRAP


def file_stat(st: os.stat_result) -> FileStat:
    return (signed_ino(st.st_ino), st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_mode)


class Scan:
    """What is at an artifact's path in the workspace.

    ``kind`` is "file", "dir" or "missing"; ``paths[i]`` is a file's path inside
    the artifact ('' for a file artifact itself); its five integers are
    ``ints[5 * i : 5 * i + 5]``; ``skipped`` are the paths inside the artifact
    of the ``.git`` and ``.mlvc`` entries left out (another repository's, never data).
    """

    __slots__ = ("kind", "top", "paths", "ints", "skipped")

    def __init__(self, kind: str, top: str, paths: list[str] | None = None, ints: array | None = None,
                 skipped: list[str] | None = None) -> None:
        self.kind = kind
        self.top = top
        self.paths = paths if paths is not None else []
        self.ints = ints if ints is not None else array("q")
        self.skipped = skipped if skipped is not None else []

    def __len__(self) -> int:
        return len(self.paths)

    def abspath(self, path: str) -> str:
        return f"{self.top}/{path}" if path else self.top

    def stats(self) -> Iterator[tuple[str, int, int, int, int, int]]:
        """``(path, ino, mtime_ns, ctime_ns, size, mode)`` for every file."""
        it = iter(self.ints)
        return zip(self.paths, it, it, it, it, it)

    def executables(self) -> list[bool]:
        """Whether each file has its owner's execute bit, in order."""
        return [bool(mode & 0o100) for mode in self.ints[4::FIELDS]]


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


def scan(root: str, rel: str) -> Scan:
    """List the files at ``rel`` (repo-relative), recursing into folders."""
    top = os.path.join(root, rel)
    try:
        st = os.stat(top)
    except (FileNotFoundError, NotADirectoryError):  # absent, or a parent is a file
        return Scan("missing", top)
    if stat.S_ISREG(st.st_mode):
        return Scan("file", top, [""], array("q", file_stat(st)))
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidPathError(f"{rel!r} is not a regular file or folder")
    paths: list[str] = []
    ints = array("q")
    skipped: list[str] = []
    # Depth-first in the trees' order (a folder sorts as 'name/'), so paths come out sorted
    # and every later step can merge sorted sequences instead of building dicts. Each
    # frame: [prefix, folder, items sorted by key, next index]; an item is
    # (key, name, five integers) for a file, (key, name, None) for a sub-folder.
    stack = [["", top, _list_folder(top, "", rel, skipped, True), 0]]
    while stack:
        frame = stack[-1]
        prefix, folder, items, i = frame
        n = len(items)
        while i < n:
            item = items[i]
            if item[2] is None:
                break
            paths.append(prefix + item[1])
            ints.extend(item[2])
            i += 1
        if i == n:
            stack.pop()
            continue
        frame[3] = i + 1
        name = items[i][1]
        sub = f"{folder}/{name}"
        stack.append([f"{prefix}{name}/", sub, _list_folder(sub, f"{prefix}{name}/", rel, skipped), 0])
    return Scan("dir", top, paths, ints, skipped)


def _list_folder(folder: str, prefix: str, rel: str, skipped: list[str], top: bool = False) -> list:
    """One folder's entries, stat'ed through its descriptor, sorted by key (see ``scan``).

    Every name is checked (one string test each; no system call is added): a name mlvc
    cannot track is refused naming the file; ``.git`` and ``.mlvc`` are left out."""
    # The top may be a symlink to a folder (refused elsewhere if it leaves the repository);
    # below it, a symlink where a folder was listed is never followed.
    fd = os.open(folder, _DIR_FLAGS | (0 if top else os.O_NOFOLLOW))
    items = []
    try:
        with os.scandir(fd) as it:
            for entry in it:
                name = entry.name
                if not is_plain(name):
                    problem = name_problem(name)
                    if problem:
                        raise bad_name(f"{rel}/{prefix}{name}", problem)
                if name[0] == "." and name in NEVER_TRACKED:
                    skipped.append(prefix + name)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    items.append((name + "/", name, None))
                    continue
                if entry.is_file(follow_symlinks=False):
                    est = entry.stat(follow_symlinks=False)  # fstatat(fd, name)
                elif entry.is_symlink():
                    est = _follow(f"{folder}/{name}", rel, prefix + name)
                else:
                    raise InvalidPathError(f"{rel}/{prefix}{name} is not a regular file "
                                           "(a socket, pipe or device?)", "move it out of the tracked folder")
                items.append((name, name, (signed_ino(est.st_ino), est.st_mtime_ns, est.st_ctime_ns, est.st_size,
                                           est.st_mode)))
    finally:
        os.close(fd)
    items.sort(key=_KEY)
    return items


_KEY = operator.itemgetter(0)


def fingerprint(found: Scan) -> str | None:
    """A digest of every file's path, inode, times, size and mode; None while any file is racily new.

    When a folder's fingerprint equals one saved with a tree id, the folder
    still holds exactly that tree, and nothing needs hashing or looking up.
    """
    import xxhash

    limit = time.time_ns() - RACY_NS
    ints = found.ints
    if len(ints) and (max(ints[1::FIELDS]) > limit or max(ints[2::FIELDS]) > limit):
        return None
    h = xxhash.xxh3_128("\0".join(found.paths).encode("utf-8", "surrogateescape"))
    h.update(ints.tobytes())
    return h.hexdigest()


def _follow(path: str, rel: str, inner: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidPathError(f"{rel}/{inner} is a broken symlink", "remove it or point it at a file") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidPathError(f"{rel}/{inner} is a symlink to a folder; mlvc does not follow those",
                               "replace it with the folder itself")
    return st
