"""Object stores. ``ObjectStoreContract`` is the contract every store keeps
(dulwich's ``ObjectStoreTests`` pattern): a store's test class subclasses it
and says how to make a store and how to damage an object in it. Remote stores
(fsspec) will join the same way. Below it: what only the local cache does
(layout, read-only files, add_file and link_out with each link type)."""

from __future__ import annotations

import os
import stat

import pytest

from mlvc import fsutil
from mlvc.errors import CorruptObjectError, MlvcError, ObjectNotFoundError
from mlvc.hashing import SMALL, hash_bytes, is_valid_oid
from mlvc.objects import Tree, TreeEntry, serialize_tree
from mlvc.odb import LocalObjectStore, MemoryObjectStore, ObjectStore

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
        oids.add(store.save_tree(_sample_tree()))
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
        self.corrupt(store, oid, good.replace(b" x 10", b" - 10"))  # still a valid tree: only the hash tells
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


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _leftovers(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(fsutil.TMP_PREFIX)]


def _all_leftovers(root) -> list[str]:
    return [n for _, _, names in os.walk(root) for n in names if n.startswith(fsutil.TMP_PREFIX)]


def test_layout_is_two_hex_then_thirty(odb, tmp_path):
    oid = odb.write_bytes(b"abc")
    assert oid == "06b05ab6733a618578af5f94892f3950"
    assert (tmp_path / "cache" / "06" / "b05ab6733a618578af5f94892f3950").read_bytes() == b"abc"
    toid = odb.save_tree(_sample_tree())
    assert (tmp_path / "cache" / toid[:2] / (toid[2:])).is_file()
    assert toid[2:].endswith(".tree") and len(toid[2:]) == 35
    assert odb.path(oid) == str(tmp_path / "cache" / "06" / "b05ab6733a618578af5f94892f3950")
    assert sorted(os.listdir(tmp_path / "cache")) == sorted({"06", toid[:2]})


def test_objects_are_read_only(odb, tmp_path):
    oids = [odb.write_bytes(b"abc"), odb.save_tree(_sample_tree())]
    src = tmp_path / "big"
    src.write_bytes(os.urandom(SMALL + 10))
    small = tmp_path / "small"
    small.write_bytes(b"small file")
    oids.append(odb.add_file(str(src), ["copy"])[0])
    oids.append(odb.add_file(str(small), ["copy"], size=10)[0])
    medium = tmp_path / "medium"
    medium.write_bytes(b"m" * 5000)
    oids.append(odb.add_file(str(medium), ["reflink", "copy"])[0])
    for oid in oids:
        assert _mode(odb.path(oid)) == 0o444, oid


def test_an_existing_object_is_never_rewritten(odb, tmp_path):
    oid = odb.write_bytes(b"abc")
    before = os.stat(odb.path(oid))
    src = tmp_path / "same"
    src.write_bytes(b"abc")
    assert odb.write_bytes(b"abc") == oid
    for kinds in (["copy"], ["hardlink"], ["symlink"], ["reflink", "copy"]):
        assert odb.add_file(str(src), kinds)[0] == oid
    after = os.stat(odb.path(oid))
    assert (after.st_ino, after.st_mtime_ns, after.st_nlink) == (before.st_ino, before.st_mtime_ns, before.st_nlink)
    assert _all_leftovers(odb.root) == []


def test_iter_oids_ignores_temp_files_and_junk(odb):
    oid = odb.write_bytes(b"abc")
    os.makedirs(os.path.join(odb.root, "tmp"))
    open(os.path.join(odb.root, "README"), "w").close()
    open(os.path.join(odb.root, "ab"), "w").close()  # a file where a prefix folder would be
    open(os.path.join(odb.root, oid[:2], fsutil.TMP_PREFIX + "0123"), "w").close()
    open(os.path.join(odb.root, oid[:2], "not-an-object"), "w").close()
    assert list(odb.iter_oids()) == [oid]


def test_a_store_whose_folder_does_not_exist(tmp_path):
    store = LocalObjectStore(str(tmp_path / "nowhere"))
    assert list(store.iter_oids()) == []
    assert store.missing(["0" * 32]) == ["0" * 32]


# ------------------------------------------------------------------ add_file


@pytest.fixture
def src(tmp_path):
    p = tmp_path / "work" / "data.bin"
    p.parent.mkdir()
    p.write_bytes(b"some data\n" * 100)
    return p


SRC_DATA = b"some data\n" * 100


def test_add_file_copy(odb, src):
    oid, size = odb.add_file(str(src), ["copy"])
    assert (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    obj = os.stat(odb.path(oid))
    assert obj.st_ino != src.stat().st_ino
    assert src.read_bytes() == SRC_DATA
    assert _mode(src) == 0o644  # the source is not touched at all


def test_add_file_copy_of_a_large_file(odb, tmp_path):
    data = os.urandom(SMALL * 2 + 3)
    p = tmp_path / "big"
    p.write_bytes(data)
    for size in (-1, len(data)):
        oid, got = odb.add_file(str(p), ["copy"], size=size)
        assert (oid, got) == (hash_bytes(data), len(data))
    assert odb.read_bytes(oid) == data
    assert p.read_bytes() == data
    assert _all_leftovers(odb.root) == []


def test_add_file_reflink_falls_back_to_a_copy(odb, src):
    oid, size = odb.add_file(str(src), ["reflink", "copy"])
    assert (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    assert os.stat(odb.path(oid)).st_ino != src.stat().st_ino  # a copy (or a reflink clone): its own inode
    assert odb.read_bytes(oid) == SRC_DATA == src.read_bytes()
    assert _mode(odb.path(oid)) == 0o444


def _reflink_works(tmp_path) -> bool:
    (tmp_path / "probe").write_bytes(b"x")
    try:
        fsutil.reflink(str(tmp_path / "probe"), str(tmp_path / "probe2"))
    except OSError:
        return False
    return True


def test_add_file_with_no_working_link_type_says_to_add_copy(odb, src, tmp_path):
    if _reflink_works(tmp_path):
        pytest.skip("this file system supports reflinks")
    with pytest.raises(MlvcError, match="none of the link types reflink works") as exc:
        odb.add_file(str(src), ["reflink"])
    assert "copy" in exc.value.hint
    assert list(odb.iter_oids()) == []
    assert _all_leftovers(odb.root) == []


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_add_file_link_kinds_put_the_file_itself_in_the_cache(odb, src, kind):
    oid, size = odb.add_file(str(src), [kind])
    assert (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    assert os.stat(odb.path(oid)).st_ino == src.stat().st_ino
    assert not os.path.islink(odb.path(oid))
    assert src.read_bytes() == SRC_DATA
    assert odb.check(oid)


def test_add_file_with_a_known_oid_that_is_already_stored(odb, src):
    oid = odb.write_bytes(SRC_DATA)
    assert odb.add_file(str(src), ["copy"], oid=oid, size=len(SRC_DATA)) == (oid, len(SRC_DATA))


@pytest.mark.parametrize("kinds", [["copy"], ["reflink", "copy"], ["hardlink"], ["symlink"]])
@pytest.mark.parametrize("size", [100, SMALL + 1])
def test_add_file_never_modifies_the_source(odb, tmp_path, kinds, size):
    data = os.urandom(size)
    p = tmp_path / "src.bin"
    p.write_bytes(data)
    oid, got = odb.add_file(str(p), kinds, size=-1)
    assert p.read_bytes() == data
    assert (oid, got) == (hash_bytes(data), size)
    assert odb.read_bytes(oid) == data


# ------------------------------------------------------------------ link_out


@pytest.fixture
def stored(odb):
    return odb.write_bytes(SRC_DATA)


def test_link_out_copy(odb, stored, tmp_path):
    dest = tmp_path / "out" / "f"
    dest.parent.mkdir()
    assert odb.link_out(stored, str(dest), ["copy"]) == "copy"
    assert dest.read_bytes() == SRC_DATA
    assert os.stat(dest).st_ino != os.stat(odb.path(stored)).st_ino
    assert _mode(dest) & 0o200  # the workspace copy is writable
    assert _leftovers(dest.parent) == []


def test_link_out_reflink_falls_back_to_a_copy(odb, stored, tmp_path):
    dest = tmp_path / "f"
    kind = odb.link_out(stored, str(dest), ["reflink", "copy"])
    assert kind in ("reflink", "copy")
    assert dest.read_bytes() == SRC_DATA
    assert not dest.is_symlink()
    assert os.stat(dest).st_ino != os.stat(odb.path(stored)).st_ino


def test_link_out_hardlink(odb, stored, tmp_path):
    dest = tmp_path / "f"
    assert odb.link_out(stored, str(dest), ["hardlink"]) == "hardlink"
    assert os.stat(dest).st_ino == os.stat(odb.path(stored)).st_ino
    assert dest.read_bytes() == SRC_DATA


def test_link_out_symlink(odb, stored, tmp_path):
    dest = tmp_path / "f"
    assert odb.link_out(stored, str(dest), ["symlink"]) == "symlink"
    assert dest.is_symlink()
    assert os.path.realpath(dest) == os.path.realpath(odb.path(stored))
    assert dest.read_bytes() == SRC_DATA


@pytest.mark.parametrize("executable", [True, False])
def test_link_out_copy_honours_the_executable_bit(odb, stored, tmp_path, executable):
    dest = tmp_path / "run.sh"
    odb.link_out(stored, str(dest), ["copy"], executable=executable)
    assert bool(_mode(dest) & stat.S_IXUSR) is executable


@pytest.mark.parametrize("kinds", [["copy"], ["reflink", "copy"], ["hardlink"], ["symlink"]])
def test_link_out_replaces_dest_atomically(odb, stored, tmp_path, kinds):
    dest = tmp_path / "f"
    dest.write_bytes(b"old content")
    with open(dest, "rb") as reader:
        odb.link_out(stored, str(dest), kinds)
        assert reader.read() == b"old content"  # the old file was replaced, not rewritten in place
    assert dest.read_bytes() == SRC_DATA
    assert _leftovers(tmp_path) == []
    assert odb.read_bytes(stored) == SRC_DATA


def test_link_out_with_a_temp_folder(odb, stored, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dest = tmp_path / "f"
    odb.link_out(stored, str(dest), ["copy"], tmp_dir=str(tmp))
    assert dest.read_bytes() == SRC_DATA
    assert os.listdir(tmp) == []


@pytest.mark.parametrize("size", [len(SRC_DATA), SMALL + 10])
@pytest.mark.parametrize("existing", [False, True])
def test_link_out_copy_refuses_a_corrupted_object(odb, tmp_path, size, existing):
    data = os.urandom(size)
    oid = odb.write_bytes(data)
    path = odb.path(oid)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\0corrupt\0")
    dest = tmp_path / "out"
    if existing:
        dest.write_bytes(b"old")
    with pytest.raises(CorruptObjectError, match=oid):
        odb.link_out(oid, str(dest), ["copy"], size=size)
    if existing:
        assert dest.read_bytes() == b"old"
    else:
        assert not os.path.lexists(dest)
    assert _leftovers(tmp_path) == []


def test_link_out_of_a_missing_object(odb, tmp_path):
    oid = hash_bytes(b"never stored")
    with pytest.raises(ObjectNotFoundError) as exc:
        odb.link_out(oid, str(tmp_path / "f"), ["copy"])
    assert exc.value.oids == [oid]
    assert not os.path.lexists(tmp_path / "f")


def test_link_out_with_no_working_link_type(odb, stored, tmp_path):
    if _reflink_works(tmp_path):
        pytest.skip("this file system supports reflinks")
    dest = tmp_path / "f"
    with pytest.raises(MlvcError, match="none of the link types"):
        odb.link_out(stored, str(dest), ["reflink"])
    assert not os.path.lexists(dest)
    assert _leftovers(tmp_path) == []
