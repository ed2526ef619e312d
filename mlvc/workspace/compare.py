"""What changed between a recorded tree and what the workspace holds."""

from __future__ import annotations

from dataclasses import dataclass

from mlvc.objects.tree import Tree
from mlvc.workspace.build import Listing, key


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # repo-relative
    kind: str  # "added", "modified" or "deleted"
    old_oid: str | None = None
    new_oid: str | None = None


def diff(rel: str, recorded: Tree | None, current: Listing) -> list[Change]:
    """Files added, modified or deleted in ``current`` relative to ``recorded`` (content only)."""
    changes: list[Change] = []
    index = recorded.index if recorded is not None else {}
    for path, (oid, _, _) in current.items():
        meta = index.get(path)
        if meta is None:
            changes.append(Change(key(rel, path), "added", None, oid))
        elif meta[:32] != oid:
            changes.append(Change(key(rel, path), "modified", meta[:32], oid))
    for path in index.keys() - current.keys() if recorded is not None else ():
        changes.append(Change(key(rel, path), "deleted", index[path][:32], None))
    changes.sort(key=lambda c: c.path)
    return changes
