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
    old = recorded.oid_map() if recorded is not None else {}
    for path, (oid, _, _) in current.items():
        was = old.get(path)
        if was is None:
            changes.append(Change(key(rel, path), "added", None, oid))
        elif was != oid:
            changes.append(Change(key(rel, path), "modified", was, oid))
    for path in old.keys() - current.keys():
        changes.append(Change(key(rel, path), "deleted", old[path], None))
    changes.sort(key=lambda c: c.path)
    return changes
