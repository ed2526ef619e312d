"""Object stores. ``ObjectStoreContract`` is the contract every store keeps
(dulwich's ``ObjectStoreTests`` pattern): a store's test class subclasses it
and says how to make a store and how to damage an object in it. Remote stores
(fsspec) will join the same way. Below it: what only the local cache does
(layout, read-only files). Files in and out through link types: test_cachelink.py."""

from __future__ import annotations

import os

import pytest

from mlvc.fs.atomic import TMP_PREFIX
from mlvc.errors import CorruptObjectError, MlvcError, ObjectNotFoundError
from mlvc.objects.hashing import SMALL, hash_bytes, is_valid_oid
from mlvc.objects.tree import Tree, TreeEntry, serialize_tree
from mlvc.odb import LocalObjectStore, MemoryObjectStore, ObjectStore
from storeutil import add_file, all_leftovers, mode_of

DATA = [b"", b"abc", b"hello\n", bytes(range(256)) * 40]




def _sample_tree() -> Tree:
    return Tree.from_entries(
        [
            TreeEntry("a.txt", hash_bytes(b"abc"), 3),
            TreeEntry("bin/run", hash_bytes(b"#!/bin/sh\n"), 10, True),
            TreeEntry("données/é.csv", hash_bytes(b"x,y\n"), 4),
        ]
    )


class ObjectStoreContract:
    """Subclasses define ``make_store(tmp_path)`` and ``corrupt(store, oid, data)``."""

    def make_store(self, tmp_path) -> ObjectStore:
        raise NotImplementedError

    def corrupt(self, store: ObjectStore, oid: str, data: bytes) -> None:
        """Replace the stored bytes of ``oid`` with ``data`` behind the store's back."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path) -> ObjectStore:
        return self.make_store(tmp_path)

    def test_empty(self, store):
        assert list(store.iter_oids()) == []
        assert not store.exists(hash_bytes(b"abc"))
        assert store.missing([hash_bytes(b"abc")]) == [hash_bytes(b"abc")]

    @pytest.mark.parametrize("data", DATA, ids=[f"{len(d)}B" for d in DATA])
    def test_write_bytes_returns_the_id_and_read_bytes_returns_the_data(self, store, data):
        oid = hash_bytes(data)
        assert not store.exists(oid)
        assert store.write_bytes(data) == oid
        assert store.exists(oid)
        assert store.read_bytes(oid) == data
        assert store.check(oid)

    def test_tree_ids_carry_the_suffix(self, store):
        data = serialize_tree(_sample_tree())
        oid = store.write_bytes(data, tree=True)
        assert oid == hash_bytes(data) + ".tree"
        assert store.exists(oid) and not store.exists(hash_bytes(data))
        assert store.read_bytes(oid) == data

    def test_reading_a_missing_object(self, store):
        with pytest.raises(FileNotFoundError):
            store.read_bytes(hash_bytes(b"nope"))

    def test_writing_twice_keeps_one_object(self, store):
        a = store.write_bytes(b"abc")
        b = store.write_bytes(b"abc")
        assert a == b
        assert list(store.iter_oids()) == [a]

    def test_iter_oids_lists_every_object_once(self, store):
        oids = {store.write_bytes(d) for d in DATA}
        tree = _sample_tree()
        store.save_tree(tree)
        oids |= tree.tree_oids()
        listed = list(store.iter_oids())
        assert sorted(listed) == sorted(oids)
        assert all(is_valid_oid(o) for o in listed)

    def test_remove(self, store):
        a = store.write_bytes(b"abc")
        b = store.write_bytes(b"def")
        store.remove(a)
        assert not store.exists(a)
        assert store.exists(b)
        assert list(store.iter_oids()) == [b]
        store.remove(a)  # removing what is not there is not an error
        assert store.write_bytes(b"abc") == a and store.read_bytes(a) == b"abc"

    def test_missing(self, store):
        present = [store.write_bytes(bytes([i]) * 7) for i in range(40)]
        # Many absent ids sharing one present id's prefix (the local store lists a folder for those).
        absent = [present[0][:2] + f"{i:030x}" for i in range(12)] + [hash_bytes(b"absent")]
        assert store.missing(present + absent) == absent
        assert store.missing([]) == []

    def test_save_tree_load_tree_roundtrip(self, store):
        tree = _sample_tree()
        oid = store.save_tree(tree)
        assert oid == tree.oid
        assert store.save_tree(_sample_tree()) == oid
        back = store.load_tree(oid)
        assert back == tree
        assert back.oid == oid
        assert list(back) == list(tree)

    def test_empty_tree_roundtrip(self, store):
        oid = store.save_tree(Tree.from_entries([]))
        assert len(store.load_tree(oid)) == 0

    def test_load_tree_of_a_missing_tree(self, store):
        oid = _sample_tree().oid
        with pytest.raises(ObjectNotFoundError) as exc:
            store.load_tree(oid)
        assert exc.value.oids == [oid]

    def test_load_tree_of_a_file_id_is_refused(self, store):
        oid = store.write_bytes(b"abc")
        with pytest.raises(MlvcError, match="not a tree"):
            store.load_tree(oid)

    def test_load_tree_of_a_corrupted_tree(self, store):
        tree = _sample_tree()
        oid = store.save_tree(tree)
        good = serialize_tree(tree)
        assert b" d 10 1\n" in good
        self.corrupt(store, oid, good.replace(b" d 10 1\n", b" d 11 1\n"))  # still a valid tree: only the hash tells
        with pytest.raises(CorruptObjectError):
            store.load_tree(oid)
        self.corrupt(store, oid, b"garbage")
        with pytest.raises(CorruptObjectError):
            store.load_tree(oid)

    def test_load_tree_of_a_well_hashed_but_malformed_tree(self, store):
        bad = b"mlvc-tree 1\n../escape\0" + hash_bytes(b"x").encode() + b" - 1\n"
        oid = store.write_bytes(bad, tree=True)
        with pytest.raises(MlvcError) as exc:  # a FileFormatError naming the tree and the line
            store.load_tree(oid)
        assert oid in str(exc.value) and exc.value.line == 2

    def test_check_detects_corruption(self, store):
        a = store.write_bytes(b"abc")
        b = store.write_bytes(b"def")
        t = store.save_tree(_sample_tree())
        assert store.check(a) and store.check(b) and store.check(t)
        self.corrupt(store, a, b"abd")
        self.corrupt(store, t, b"mlvc-tree 1\n")
        assert not store.check(a)
        assert not store.check(t)
        assert store.check(b)
        assert not store.check(hash_bytes(b"never written"))

    def test_flush(self, store):
        store.write_bytes(b"abc")
        store.flush()
        store.flush()
        assert store.read_bytes(hash_bytes(b"abc")) == b"abc"


class TestMemoryObjectStore(ObjectStoreContract):
    def make_store(self, tmp_path):
        return MemoryObjectStore()

    def corrupt(self, store, oid, data):
        store.objects[oid] = data


class TestLocalObjectStore(ObjectStoreContract):
    def make_store(self, tmp_path):
        return LocalObjectStore(str(tmp_path / "cache"))

    def corrupt(self, store, oid, data):
        path = store.path(oid)
        os.chmod(path, 0o644)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o444)


class TestLocalObjectStoreFsyncAlways(TestLocalObjectStore):
    def make_store(self, tmp_path):
        return LocalObjectStore(str(tmp_path / "cache"), fsync="always")


# ----------------------------------------------------- the local cache only


@pytest.fixture
def odb(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(str(tmp_path / "cache"))





def test_layout_is_files_xxh3_then_two_hex_then_thirty(odb, tmp_path):
    objects = tmp_path / "cache" / "files" / "xxh3"
    oid = odb.write_bytes(b"abc")
    assert oid == "06b05ab6733a618578af5f94892f3950"
    assert (objects / "06" / "b05ab6733a618578af5f94892f3950").read_bytes() == b"abc"
    tree = _sample_tree()
    toid = odb.save_tree(tree)
    assert (objects / toid[:2] / (toid[2:])).is_file()
    assert toid[2:].endswith(".tree") and len(toid[2:]) == 35
    assert odb.path(oid) == str(objects / "06" / "b05ab6733a618578af5f94892f3950")
    assert sorted(os.listdir(tmp_path / "cache")) == ["files"]
    assert sorted(os.listdir(tmp_path / "cache" / "files")) == ["xxh3"]
    assert sorted(os.listdir(objects)) == sorted({"06"} | {t[:2] for t in tree.tree_oids()})


def _v1_cache(tmp_path, objects: dict[str, bytes]):
    """A cache as mlvc 0.1 wrote it: <cache>/<2 hex>/<30 hex>."""
    for oid, data in objects.items():
        folder = tmp_path / "cache" / oid[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / oid[2:]).write_bytes(data)
        (folder / oid[2:]).chmod(0o444)


def test_a_format_1_cache_is_moved_into_files_xxh3(tmp_path):
    data = {hash_bytes(d): d for d in DATA}
    _v1_cache(tmp_path, data)
    (tmp_path / "cache" / "README").write_text("not a folder of objects")
    os.symlink(tmp_path, tmp_path / "cache" / "ee")  # never followed
    store = LocalObjectStore(str(tmp_path / "cache"))
    assert store.missing(data) == sorted(data, key=list(data).index)
    assert store.upgrade_layout() == len({o[:2] for o in data})
    assert sorted(store.iter_oids()) == sorted(data)
    assert all(store.read_bytes(o) == d for o, d in data.items())
    assert sorted(os.listdir(tmp_path / "cache")) == ["README", "ee", "files"]
    assert store.upgrade_layout() == 0  # once


def test_a_format_1_folder_merges_into_one_that_exists(tmp_path):
    old = {hash_bytes(d): d for d in DATA}
    _v1_cache(tmp_path, old)
    store = LocalObjectStore(str(tmp_path / "cache"))
    both = store.write_bytes(DATA[1])  # in both layouts: its folder exists in the new one, so no rename
    store.upgrade_layout()
    assert sorted(store.iter_oids()) == sorted(old)
    assert all(store.check(o) for o in old)
    assert not (tmp_path / "cache" / both[:2]).exists()


def test_objects_are_read_only(odb, tmp_path):
    oids = [odb.write_bytes(b"abc"), odb.save_tree(_sample_tree())]
    src = tmp_path / "big"
    src.write_bytes(os.urandom(SMALL + 10))
    small = tmp_path / "small"
    small.write_bytes(b"small file")
    oids.append(add_file(odb, str(src), ["copy"])[0])
    oids.append(add_file(odb, str(small), ["copy"], size=10)[0])
    medium = tmp_path / "medium"
    medium.write_bytes(b"m" * 5000)
    oids.append(add_file(odb, str(medium), ["reflink", "copy"])[0])
    for oid in oids:
        assert mode_of(odb.path(oid)) == 0o444, oid


def test_an_existing_object_is_never_rewritten(odb, tmp_path):
    oid = odb.write_bytes(b"abc")
    before = os.stat(odb.path(oid))
    src = tmp_path / "same"
    src.write_bytes(b"abc")
    assert odb.write_bytes(b"abc") == oid
    for kinds in (["copy"], ["hardlink"], ["symlink"], ["reflink", "copy"]):
        assert add_file(odb, str(src), kinds)[0] == oid
    after = os.stat(odb.path(oid))
    assert (after.st_ino, after.st_mtime_ns, after.st_nlink) == (before.st_ino, before.st_mtime_ns, before.st_nlink)
    assert all_leftovers(odb.root) == []


def test_iter_oids_ignores_temp_files_and_junk(odb):
    oid = odb.write_bytes(b"abc")
    os.makedirs(os.path.join(odb.root, "tmp"))
    open(os.path.join(odb.root, "README"), "w").close()
    open(os.path.join(odb.root, "ab"), "w").close()  # a file where a prefix folder would be
    open(os.path.join(odb.root, oid[:2], TMP_PREFIX + "0123"), "w").close()
    open(os.path.join(odb.root, oid[:2], "not-an-object"), "w").close()
    assert list(odb.iter_oids()) == [oid]


def test_a_store_whose_folder_does_not_exist(tmp_path):
    store = LocalObjectStore(str(tmp_path / "nowhere"))
    assert list(store.iter_oids()) == []
    assert store.missing(["0" * 32]) == ["0" * 32]
