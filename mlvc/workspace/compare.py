"""What changed between a recorded tree and what the workspace holds."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from mlvc import fs
from mlvc.errors import FileFormatError
from mlvc.objects.tree import check_oid, meta_oid, split_meta
from mlvc.workspace.build import key

ADDED = "added"
MODIFIED = "modified"
DELETED = "deleted"
MODE = "mode"  # the content is the same; only the executable bit differs


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # repo-relative
    kind: str  # "added", "modified", "deleted", or "mode" (only the executable bit changed)
    old_oid: str | None = None
    new_oid: str | None = None
    mode_changed: bool = False  # the executable bit differs (kind "mode", or "modified" as well)


def executable(meta: str) -> bool:
    """A recorded file's executable bit, from metadata read without checking every line."""
    try:
        return split_meta(meta)[2]
    except ValueError:
        raise FileFormatError("tree", f"malformed entry {meta[:60]!r}",
                              hint="the tree object is not safe to use") from None


def is_cache_link(path: str, obj: str, cache: str) -> bool:
    """Whether the workspace file at ``path`` is the cache object at ``obj`` (a hardlink: the
    same inode on the same device) or a symlink into the ``cache`` folder. Such a file has
    the object's mode, not a mode of its own. Two hard links alone prove nothing: a file
    the user linked elsewhere is not the cache's."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISLNK(st.st_mode):
        return fs.is_within(os.path.realpath(cache), os.path.realpath(path))
    if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
        return False
    try:
        ost = os.stat(obj)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return (st.st_ino, st.st_dev) == (ost.st_ino, ost.st_dev)


def part_of(recorded: Iterable[tuple[str, str]], inner: str) -> Iterator[tuple[str, str]]:
    """The entries of a sorted ``(path, meta)`` stream at or below ``inner``, with paths made
    relative to it ('' for a file at ``inner`` itself); stops once past them."""
    if not inner:
        yield from recorded
        return
    below = inner + "/"
    end = inner + "0"  # '/' + 1: every path below inner sorts before it
    cut = len(below)
    for path, meta in recorded:
        if path == inner:
            yield "", meta
        elif path.startswith(below):
            yield path[cut:], meta
        elif path >= end:
            return


def diff(rel: str, paths: list[str], oids: list[str], recorded: Iterable[tuple[str, str]],
         executables: list[bool] | None = None,
         linked: Callable[[str, str], bool] | None = None) -> list[Change]:
    """Files added, modified or deleted in the workspace (``paths`` with their ``oids``, sorted)
    relative to the ``recorded`` tree's ``(path, file metadata)`` stream (sorted): a merge of
    two sorted sequences, holding nothing per file but the changes.

    With ``executables`` (each file's executable bit) a file whose bit differs from the
    record is changed too (kind "mode" when its content is the same), unless
    ``linked(path, oid)`` says it is the cache object itself (hardlink or symlink mode),
    whose mode is the object's."""
    changes: list[Change] = []
    n = len(paths)
    i = 0
    for path, meta in recorded:
        while i < n and paths[i] < path:
            changes.append(Change(key(rel, paths[i]), ADDED, None, oids[i]))
            i += 1
        was = meta_oid(meta)
        if i < n and paths[i] == path:
            moded = executables is not None and executables[i] != executable(meta) and not (
                linked is not None and linked(path, oids[i]))
            if oids[i] != was:
                changes.append(Change(key(rel, path), MODIFIED, check_oid(was), oids[i], moded))
            elif moded:
                changes.append(Change(key(rel, path), MODE, was, oids[i], True))
            i += 1
        else:
            changes.append(Change(key(rel, path), DELETED, check_oid(was), None))
    changes.extend(Change(key(rel, paths[j]), ADDED, None, oids[j]) for j in range(i, n))
    return changes
