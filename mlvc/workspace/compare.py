"""What changed between a recorded tree and what the workspace holds."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Iterable

from mlvc.objects.tree import check_oid, meta_oid
from mlvc.workspace.build import key


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # repo-relative
    kind: str  # "added", "modified" or "deleted"
    old_oid: str | None = None
    new_oid: str | None = None


def diff(rel: str, paths: list[str], oids: list[str], recorded: Iterable[tuple[str, str]]) -> list[Change]:
    """Files added, modified or deleted in the workspace (``paths`` with their ``oids``, sorted)
    relative to the ``recorded`` tree's ``(path, file metadata)`` stream (sorted): a merge of
    two sorted sequences, holding nothing per file but the changes."""
    changes: list[Change] = []
    n = len(paths)
    i = 0
    for path, meta in recorded:
        while i < n and paths[i] < path:
            changes.append(Change(key(rel, paths[i]), "added", None, oids[i]))
            i += 1
        was = meta_oid(meta)
        if i < n and paths[i] == path:
            if oids[i] != was:
                changes.append(Change(key(rel, path), "modified", check_oid(was), oids[i]))
            i += 1
        else:
            changes.append(Change(key(rel, path), "deleted", check_oid(was), None))
    changes.extend(Change(key(rel, paths[j]), "added", None, oids[j]) for j in range(i, n))
    return changes
