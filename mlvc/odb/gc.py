"""Garbage collection of a store: which objects are reachable from a set of ids, and what else is there.

``reachable`` follows trees to their children (format 2 sub-folders and files,
format 1 files) with an explicit stack, never recursion (a crafted tree may be
deep). A tree that is not in the store is noted as missing, and the walk goes
on with the rest: a tree whose children are not all there never makes a child
that is reachable some other way look unreachable. A tree that is in the store
but corrupted or malformed is an error (what it names cannot be known, so
nothing may be removed). ``garbage`` lists every object of the store outside a
kept set, with its size. Nothing here prints, prompts or takes a lock: the verb
(``mlvc.ops.gc``) holds the cache lock exclusive around both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

from mlvc.errors import ObjectNotFoundError
from mlvc.objects.hashing import TREE_SUFFIX, is_tree_oid
from mlvc.objects.tree import TREE_HEADER, check_oid, parse_folder, parse_tree
from mlvc.odb.base import ObjectStore


@dataclass
class Reachable:
    oids: set[str] = field(default_factory=set)  # every id reached (present in the store or not)
    missing: set[str] = field(default_factory=set)  # trees reached but not in the store (children unknown)


def reachable(store: ObjectStore, roots: Iterable[str]) -> Reachable:
    """Every object id reachable from ``roots``: the ids themselves, and below each tree its
    sub-folders' trees and its files, read one tree object at a time."""
    found = Reachable()
    stack: list[str] = []
    for oid in roots:
        if oid not in found.oids:
            found.oids.add(oid)
            if is_tree_oid(oid):
                stack.append(oid)
    while stack:
        oid = stack.pop()
        try:
            data = store.read_tree_object(oid)  # checked against its id: CorruptObjectError else
        except ObjectNotFoundError:
            found.missing.add(oid)
            continue
        for child in _children(oid, data):
            if child not in found.oids:
                found.oids.add(child)
                if is_tree_oid(child):
                    stack.append(child)
    return found


def _children(oid: str, data: bytes) -> list[str]:
    """The ids one tree object names directly: files, and (format 2) sub-folders' trees."""
    if not data.startswith(TREE_HEADER.encode()):
        tree = parse_tree(data, f"tree {oid}")
        return sorted(tree.oids())
    _, metas = parse_folder(data, f"tree {oid}")
    out = []
    for meta in metas:
        child = check_oid(meta[:32])
        out.append(child + TREE_SUFFIX if meta[33:34] == "d" else child)
    return out


@dataclass(frozen=True)
class Garbage:
    oids: list[str]  # sorted
    size: int  # bytes, all of them
    kept: int  # objects of the store that stay


def garbage(store: ObjectStore, keep: set[str], sizes: dict[str, int] | None = None) -> Garbage:
    """Every object of ``store`` that is not in ``keep``, and how many bytes they hold (from
    ``sizes``, id -> bytes of every object, where a listing gave them: a remote's)."""
    oids, size, kept = [], 0, 0
    for oid in (sorted(sizes) if sizes is not None else store.iter_oids()):
        if oid in keep:
            kept += 1
            continue
        oids.append(oid)
        size += sizes[oid] if sizes is not None else _size(store, oid)
    return Garbage(sorted(oids), size, kept)


def _size(store: ObjectStore, oid: str) -> int:
    path = getattr(store, "path", None)
    try:
        if path is not None:
            return os.lstat(path(oid)).st_size
        return len(store.read_bytes(oid))
    except FileNotFoundError:
        return 0
