"""Walking an artifact's path in the workspace, and the fingerprint that vouches for a whole folder."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field

from mlvc.errors import InvalidPathError
from mlvc.fs.atomic import RACY_NS, TMP_PREFIX

# A file found in the workspace: (path inside the artifact, absolute path, stat)
Found = tuple[str, str, os.stat_result]


@dataclass
class Scan:
    """What is at an artifact's path in the workspace."""

    kind: str  # "file", "dir" or "missing"
    files: list[Found] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # temp files of a killed mlvc (absolute paths)


def _bad_name(path: str) -> str | None:
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8"
    if "\\" in path:
        return "contains a backslash"
    if "\n" in path or "\r" in path:
        return "contains a newline"
    return None


def scan(root: str, rel: str) -> Scan:
    """List the files at ``rel`` (repo-relative), recursing into folders."""
    top = os.path.join(root, rel)
    try:
        st = os.stat(top)
    except (FileNotFoundError, NotADirectoryError):  # absent, or a parent is a file
        return Scan("missing")
    if stat.S_ISREG(st.st_mode):
        return Scan("file", [("", top, st)])
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidPathError(f"{rel!r} is not a regular file or folder")
    files: list[Found] = []
    leftovers: list[str] = []
    stack = [("", top)]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                    if name.startswith(TMP_PREFIX):
                        leftovers.append(entry.path)
                        continue
                if entry.is_file(follow_symlinks=False):
                    est = entry.stat(follow_symlinks=False)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((prefix + name + "/", entry.path))
                    continue
                elif entry.is_symlink():
                    est = _follow(entry.path, rel, prefix + name)
                else:
                    raise InvalidPathError(f"{rel}/{prefix}{name} is not a regular file (a socket, pipe or device?)",
                                           "move it out of the tracked folder")
                if not name.isascii() or "\\" in name:
                    problem = _bad_name(name)
                    if problem:
                        raise InvalidPathError(f"cannot track {rel}/{prefix}{name!r}: its name {problem}", "rename it")
                files.append((prefix + name, entry.path, est))
    return Scan("dir", files, leftovers)


def fingerprint(files: list[Found]) -> str | None:
    """A digest of every file's path, inode, mtime and size; None while any file is racily new.

    When a folder's fingerprint equals one saved with a tree id, the folder
    still holds exactly that tree, and nothing needs hashing or looking up.
    """
    import xxhash
    from array import array

    limit = time.time_ns() - RACY_NS
    ints = array("q")
    for _, _, st in files:
        if st.st_mtime_ns > limit or st.st_ctime_ns > limit:
            return None
        ints.extend((st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size))
    h = xxhash.xxh3_128("\0".join(f[0] for f in files).encode("utf-8", "surrogateescape"))
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
