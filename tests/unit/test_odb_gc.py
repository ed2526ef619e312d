"""``mlvc.odb.gc``: what is reachable from a set of ids (trees followed without recursion), and the rest.

Named test_odb_gc.py, not test_gc.py: tests/func/test_gc.py has that name, and pytest (no
``__init__.py`` in the test folders) refuses two test modules of the same name."""

from __future__ import annotations

import pytest

from mlvc.errors import CorruptObjectError
from mlvc.objects.hashing import hash_bytes
from mlvc.objects.tree import Tree, TreeEntry
from mlvc.odb.gc import garbage, reachable
from mlvc.odb.local import LocalObjectStore
from mlvc.odb.memory import MemoryObjectStore


def _files(store, *contents: bytes) -> list[str]:
    return [store.write_bytes(c) for c in contents]


def _folder(store, entries: list[tuple[str, str, int]]) -> str:
    """One format 2 tree object of (name, oid, size) lines written by hand; a ``.tree`` oid is a folder."""
    lines = []
    for name, oid, size in sorted(entries, key=lambda e: e[0] + ("/" if e[1].endswith(".tree") else "")):
        if oid.endswith(".tree"):
            lines.append(f"{name}\0{oid[:32]} d {size} 1\n")
        else:
            lines.append(f"{name}\0{oid} - {size}\n")
    return store.write_bytes(("mlvc-tree 2\n" + "".join(lines)).encode(), tree=True)


def test_a_nested_tree_reaches_every_sub_folder_and_file():
    store = MemoryObjectStore()
    a, b, c, junk = _files(store, b"a", b"b", b"c", b"junk")
    top = store.save_tree(Tree.from_entries([TreeEntry("a", a, 1, False), TreeEntry("x/b", b, 1, False),
                                             TreeEntry("x/y/c", c, 1, True)]))
    found = reachable(store, [top])
    trees = {o for o in store.objects if o.endswith(".tree")}
    assert len(trees) == 3
    assert found.oids == {a, b, c} | trees and not found.missing
    assert garbage(store, found.oids).oids == [junk]


def test_a_format_1_tree_reaches_its_files():
    store = MemoryObjectStore()
    a, b = _files(store, b"a", b"b")
    data = f"mlvc-tree 1\nd/a\0{a} - 1\nd/e/b\0{b} x 1\n".encode()
    top = store.write_bytes(data, tree=True)
    assert reachable(store, [top]).oids == {top, a, b}


def test_a_deep_tree_is_walked_without_recursion():
    store = MemoryObjectStore()
    (leaf,) = _files(store, b"leaf")
    oid = _folder(store, [("f", leaf, 4)])
    chain = [oid]
    for _ in range(3000):  # far deeper than Python's recursion limit
        oid = _folder(store, [("d", oid, 4)])
        chain.append(oid)
    found = reachable(store, [oid])
    assert found.oids == set(chain) | {leaf}


def test_a_missing_sub_folder_does_not_hide_its_siblings():
    store = MemoryObjectStore()
    a, c, shared = _files(store, b"a", b"c", b"shared")
    sub = _folder(store, [("c", c, 1), ("s", shared, 6)])
    top = _folder(store, [("a", a, 1), ("sub", sub, 7), ("z", shared, 6)])
    store.remove(sub)
    found = reachable(store, [top])
    assert found.missing == {sub}
    assert {top, a, shared} <= found.oids  # siblings, and a child of the missing tree named elsewhere
    assert garbage(store, found.oids).oids == [c]  # only what nothing readable names


def test_a_missing_root_is_noted_and_a_file_root_is_kept_as_it_is():
    store = MemoryObjectStore()
    (a,) = _files(store, b"a")
    gone = "0" * 32 + ".tree"
    found = reachable(store, [a, gone])
    assert found.oids == {a, gone} and found.missing == {gone}


def test_a_corrupted_tree_is_an_error_not_an_empty_folder():
    store = MemoryObjectStore()
    (a,) = _files(store, b"a")
    top = _folder(store, [("a", a, 1)])
    store.objects[top] = b"mlvc-tree 2\n"  # hashes to something else now
    with pytest.raises(CorruptObjectError):
        reachable(store, [top])


def test_garbage_counts_bytes_and_kept_objects_of_the_local_cache(tmp_path):
    store = LocalObjectStore(str(tmp_path / "cache"))
    keep, drop1, drop2 = _files(store, b"keep", b"12345", b"123")
    result = garbage(store, {keep, "f" * 32})  # a kept id that is not in the cache changes nothing
    assert result.oids == sorted([drop1, drop2]) and result.size == 8 and result.kept == 1
    assert hash_bytes(b"keep") == keep
