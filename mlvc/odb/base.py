"""The contract every object store keeps, and the behaviour built on it (trees, checks).

An object is stored once under its id; an object that exists is never
rewritten. A store offers put/get/exists/iter (``_put``, ``read_bytes``,
``exists``, ``iter_oids``) and ``remove``; trees and checks are built on those.
"""

from __future__ import annotations

from typing import Iterator

from mlvc.errors import CorruptObjectError, FileFormatError, MlvcError, ObjectNotFoundError
from mlvc.objects.hashing import OID_HEX_LEN, TREE_SUFFIX, hash_bytes, is_tree_oid, is_valid_oid
from mlvc.objects.tree import TREE_VERSION, Tree, check_object, encode_entries, load_tree, walk_tree


class ObjectStore:
    """The contract every object store keeps."""

    def exists(self, oid: str) -> bool:
        raise NotImplementedError

    def read_bytes(self, oid: str) -> bytes:
        raise NotImplementedError

    def _put(self, oid: str, data: bytes) -> None:
        raise NotImplementedError

    def iter_oids(self) -> Iterator[str]:
        raise NotImplementedError

    def remove(self, oid: str) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Make every object written so far durable."""

    def missing(self, oids) -> list[str]:
        """The ids in ``oids`` that are not in the store."""
        return [oid for oid in oids if not self.exists(oid)]

    def signature(self) -> str | None:
        """Changes whenever an object is added or removed; None where that cannot be told."""
        return None

    # Shared behaviour, built on the primitives above.

    def write_bytes(self, data: bytes, tree: bool = False) -> str:
        oid = hash_bytes(data) + (TREE_SUFFIX if tree else "")
        if not self.exists(oid):
            self._put(oid, data)
        return oid

    def save_tree(self, tree: Tree) -> str:
        """Store every folder object of ``tree`` (format 2), the folders below first, so a
        store that holds a folder's tree holds all of it; return the top tree's id."""
        objects = tree.encode()
        for oid, data in objects:
            if not self.exists(oid):
                self._put(oid, data)
        tree._oid, tree.version = objects[-1][0], TREE_VERSION
        return tree._oid

    def read_tree_object(self, oid: str) -> bytes:
        """One tree object's bytes, checked against its id."""
        if not is_valid_oid(oid) or not is_tree_oid(oid):
            raise MlvcError(f"{oid!r} is not a tree id")
        try:
            data = self.read_bytes(oid)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"tree {oid} is not in the cache", [oid]) from None
        if hash_bytes(data) != oid[:OID_HEX_LEN]:
            raise CorruptObjectError(f"tree {oid} is corrupted in the cache", "run `mlvc fsck`")
        return data

    def load_tree(self, oid: str, check_meta: bool = True) -> Tree:
        """The whole tree ``oid`` (following format 2 sub-folders), flat."""
        return load_tree(oid, self.read_tree_object, check_meta)

    def walk_tree(self, oid: str, check_meta: bool = True, folders: dict[str, str] | None = None):
        """``(path, file metadata)`` of every file of tree ``oid`` in sorted order, read as it goes."""
        return walk_tree(oid, self.read_tree_object, check_meta, folders)

    def save_entries(self, entries) -> str:
        """Store the format 2 trees of sorted ``(path, file metadata)`` pairs as they are encoded
        (the folders below first); return the top tree's id."""

        def put(oid: str, data: bytes) -> None:
            if not self.exists(oid):
                self._put(oid, data)

        return encode_entries(entries, put)[0]

    def check(self, oid: str) -> bool:
        """Rehash one object: True when its content matches its name (and a tree is well formed)."""
        try:
            data_oid = self._hash(oid)
            if data_oid != oid[:OID_HEX_LEN]:
                return False
            if is_tree_oid(oid):
                check_object(self.read_bytes(oid), oid)
        except FileNotFoundError:
            return False
        except FileFormatError:
            return False
        return True

    def _hash(self, oid: str) -> str:
        return hash_bytes(self.read_bytes(oid))
