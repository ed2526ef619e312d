"""Helpers shared by the object store and cache-link tests."""

from __future__ import annotations

import os
import stat

from mlvc.fs.atomic import TMP_PREFIX
from mlvc.workspace.cachelink import CacheLinker


def add_file(odb, src, kinds, oid=None, size=-1):
    """Store a workspace file in ``odb`` through ``kinds`` (what add does per file)."""
    return CacheLinker(odb, kinds).store(src, oid, size)


def link_out(odb, oid, dest, kinds, **kw):
    """Put object ``oid`` at ``dest`` through ``kinds`` (what checkout does per file)."""
    return CacheLinker(odb, kinds).place(oid, dest, **kw)


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def leftovers(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(TMP_PREFIX)]


def all_leftovers(root) -> list[str]:
    return [n for _, _, names in os.walk(root) for n in names if n.startswith(TMP_PREFIX)]
