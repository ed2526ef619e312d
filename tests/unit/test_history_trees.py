"""The Merkle comparison of mlvc.history.diff: only the trees on the way to a change are read."""

import pytest

from mlvc.errors import ObjectNotFoundError
from mlvc.history.diff import ADDED, DELETED, MODE, MODIFIED, diff_trees
from mlvc.objects.hashing import hash_bytes
from mlvc.objects.tree import file_meta
from mlvc.odb.memory import MemoryObjectStore


class CountingStore(MemoryObjectStore):
    def __init__(self):
        super().__init__()
        self.loads = []

    def read_tree_object(self, oid):
        self.loads.append(oid)
        return super().read_tree_object(oid)


def _entries(files):
    return [(p, file_meta(hash_bytes(c), len(c), x)) for p, (c, x) in sorted(files.items())]


def _files(n_top=20, n_mid=10, n_leaf=100):
    """20,000 files: 20 folders of 10 folders of 100 files."""
    return {f"t{i:02}/m{j:02}/f{k:03}": (f"{i}.{j}.{k}".encode(), False)
            for i in range(n_top) for j in range(n_mid) for k in range(n_leaf)}


def test_two_big_trees_differing_in_one_file_load_only_the_trees_on_its_path():
    store = CountingStore()
    files = _files()
    assert len(files) == 20_000
    old = store.save_entries(_entries(files))
    files["t07/m03/f042"] = (b"changed!", False)
    new = store.save_entries(_entries(files))
    store.loads.clear()
    changes = diff_trees(store, old, new, "data")
    assert [(c.path, c.change, c.old.size, c.new.size) for c in changes] == [
        ("data/t07/m03/f042", MODIFIED, len(b"7.3.42"), 8)]
    # the top, t07 and t07/m03 on each side: 6 trees of the 2 * 221
    assert len(store.loads) == 6
    assert len(set(store.loads)) == 6


def test_same_tree_reads_only_the_tops():
    store = CountingStore()
    top = store.save_entries(_entries(_files(2, 2, 3)))
    store.loads.clear()
    assert diff_trees(store, top, top) == []
    assert len(store.loads) == 2


def test_added_deleted_mode_and_file_becoming_folder():
    store = MemoryObjectStore()
    old = store.save_entries(_entries({"a": (b"1", False), "b": (b"2", False), "c": (b"3", False),
                                       "gone/x": (b"x", False), "gone/y/z": (b"z", False)}))
    new = store.save_entries(_entries({"a": (b"1", True), "b/inner": (b"2", False), "c": (b"3", False),
                                       "new/p": (b"p", False)}))
    got = [(c.path, c.change) for c in diff_trees(store, old, new)]
    assert got == [
        ("a", MODE), ("b", DELETED), ("b/inner", ADDED), ("gone/x", DELETED), ("gone/y/z", DELETED),
        ("new/p", ADDED)]


def test_a_missing_sub_tree_is_named():
    store = MemoryObjectStore()
    files = _files(2, 1, 2)
    old = store.save_entries(_entries(files))
    files["t01/m00/f000"] = (b"new", False)
    new = store.save_entries(_entries(files))
    sub = store.load_tree(old).folders["t01/m00"]
    store.remove(sub)
    with pytest.raises(ObjectNotFoundError) as e:
        diff_trees(store, old, new, "data")
    assert f"the tree {sub} of data" in str(e.value) and "is not in the cache" in str(e.value)
    assert e.value.oids == [sub]
