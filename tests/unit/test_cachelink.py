"""Files between the workspace and the local cache (``CacheLinker``): storing with each
link type, placing objects back, verification, fallbacks."""

from __future__ import annotations

import os
import stat

import pytest

from mlvc.errors import CorruptObjectError, MlvcError, ObjectNotFoundError
from mlvc.fs.links import reflink
from mlvc.objects.hashing import SMALL, hash_bytes
from mlvc.odb import LocalObjectStore
from storeutil import add_file, all_leftovers, leftovers, link_out, mode_of


@pytest.fixture
def odb(tmp_path):
    return LocalObjectStore(str(tmp_path / "cache"))







# ------------------------------------------------------------------ add_file


@pytest.fixture
def src(tmp_path):
    p = tmp_path / "work" / "data.bin"
    p.parent.mkdir()
    p.write_bytes(b"some data\n" * 100)
    return p


SRC_DATA = b"some data\n" * 100


def test_add_file_copy(odb, src):
    oid, size = add_file(odb, str(src), ["copy"])
    assert (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    obj = os.stat(odb.path(oid))
    assert obj.st_ino != src.stat().st_ino
    assert src.read_bytes() == SRC_DATA
    assert mode_of(src) == 0o644  # the source is not touched at all


def test_add_file_copy_of_a_large_file(odb, tmp_path):
    data = os.urandom(SMALL * 2 + 3)
    p = tmp_path / "big"
    p.write_bytes(data)
    for size in (-1, len(data)):
        oid, got = add_file(odb, str(p), ["copy"], size=size)
        assert (oid, got) == (hash_bytes(data), len(data))
    assert odb.read_bytes(oid) == data
    assert p.read_bytes() == data
    assert all_leftovers(odb.root) == []


def test_add_file_reflink_falls_back_to_a_copy(odb, src):
    oid, size = add_file(odb, str(src), ["reflink", "copy"])
    assert (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    assert os.stat(odb.path(oid)).st_ino != src.stat().st_ino  # a copy (or a reflink clone): its own inode
    assert odb.read_bytes(oid) == SRC_DATA == src.read_bytes()
    assert mode_of(odb.path(oid)) == 0o444


def _reflink_works(tmp_path) -> bool:
    (tmp_path / "probe").write_bytes(b"x")
    try:
        reflink(str(tmp_path / "probe"), str(tmp_path / "probe2"))
    except OSError:
        return False
    return True


def test_add_file_with_no_working_link_type_says_to_add_copy(odb, src, tmp_path):
    if _reflink_works(tmp_path):
        pytest.skip("this file system supports reflinks")
    with pytest.raises(MlvcError, match="none of the link types reflink works") as exc:
        add_file(odb, str(src), ["reflink"])
    assert "copy" in exc.value.hint
    assert list(odb.iter_oids()) == []
    assert all_leftovers(odb.root) == []


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_add_file_link_kinds_put_the_file_itself_in_the_cache(odb, src, kind):
    oid, size = add_file(odb, str(src), [kind])
    assert (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    assert os.stat(odb.path(oid)).st_ino == src.stat().st_ino
    assert not os.path.islink(odb.path(oid))
    assert src.read_bytes() == SRC_DATA
    assert odb.check(oid)


def test_add_file_with_a_known_oid_that_is_already_stored(odb, src):
    oid = odb.write_bytes(SRC_DATA)
    assert add_file(odb, str(src), ["copy"], oid=oid, size=len(SRC_DATA)) == (oid, len(SRC_DATA))


@pytest.mark.parametrize("kinds", [["copy"], ["reflink", "copy"], ["hardlink"], ["symlink"]])
@pytest.mark.parametrize("size", [100, SMALL + 1])
def test_add_file_never_modifies_the_source(odb, tmp_path, kinds, size):
    data = os.urandom(size)
    p = tmp_path / "src.bin"
    p.write_bytes(data)
    oid, got = add_file(odb, str(p), kinds, size=-1)
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
    assert link_out(odb, stored, str(dest), ["copy"]) == "copy"
    assert dest.read_bytes() == SRC_DATA
    assert os.stat(dest).st_ino != os.stat(odb.path(stored)).st_ino
    assert mode_of(dest) & 0o200  # the workspace copy is writable
    assert leftovers(dest.parent) == []


def test_link_out_reflink_falls_back_to_a_copy(odb, stored, tmp_path):
    dest = tmp_path / "f"
    kind = link_out(odb, stored, str(dest), ["reflink", "copy"])
    assert kind in ("reflink", "copy")
    assert dest.read_bytes() == SRC_DATA
    assert not dest.is_symlink()
    assert os.stat(dest).st_ino != os.stat(odb.path(stored)).st_ino


def test_link_out_hardlink(odb, stored, tmp_path):
    dest = tmp_path / "f"
    assert link_out(odb, stored, str(dest), ["hardlink"]) == "hardlink"
    assert os.stat(dest).st_ino == os.stat(odb.path(stored)).st_ino
    assert dest.read_bytes() == SRC_DATA


def test_link_out_symlink(odb, stored, tmp_path):
    dest = tmp_path / "f"
    assert link_out(odb, stored, str(dest), ["symlink"]) == "symlink"
    assert dest.is_symlink()
    assert os.path.realpath(dest) == os.path.realpath(odb.path(stored))
    assert dest.read_bytes() == SRC_DATA


@pytest.mark.parametrize("executable", [True, False])
def test_link_out_copy_honours_the_executable_bit(odb, stored, tmp_path, executable):
    dest = tmp_path / "run.sh"
    link_out(odb, stored, str(dest), ["copy"], executable=executable)
    assert bool(mode_of(dest) & stat.S_IXUSR) is executable


@pytest.mark.parametrize("kinds", [["copy"], ["reflink", "copy"], ["hardlink"], ["symlink"]])
def test_link_out_replaces_dest_atomically(odb, stored, tmp_path, kinds):
    dest = tmp_path / "f"
    dest.write_bytes(b"old content")
    with open(dest, "rb") as reader:
        link_out(odb, stored, str(dest), kinds)
        assert reader.read() == b"old content"  # the old file was replaced, not rewritten in place
    assert dest.read_bytes() == SRC_DATA
    assert leftovers(tmp_path) == []
    assert odb.read_bytes(stored) == SRC_DATA


def test_link_out_with_a_temp_folder(odb, stored, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dest = tmp_path / "f"
    link_out(odb, stored, str(dest), ["copy"], tmp_dir=str(tmp))
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
        link_out(odb, oid, str(dest), ["copy"], size=size)
    if existing:
        assert dest.read_bytes() == b"old"
    else:
        assert not os.path.lexists(dest)
    assert leftovers(tmp_path) == []


def test_link_out_of_a_missing_object(odb, tmp_path):
    oid = hash_bytes(b"never stored")
    with pytest.raises(ObjectNotFoundError) as exc:
        link_out(odb, oid, str(tmp_path / "f"), ["copy"])
    assert exc.value.oids == [oid]
    assert not os.path.lexists(tmp_path / "f")


def test_link_out_with_no_working_link_type(odb, stored, tmp_path):
    if _reflink_works(tmp_path):
        pytest.skip("this file system supports reflinks")
    dest = tmp_path / "f"
    with pytest.raises(MlvcError, match="none of the link types"):
        link_out(odb, stored, str(dest), ["reflink"])
    assert not os.path.lexists(dest)
    assert leftovers(tmp_path) == []


def test_a_replaced_file_is_named_in_the_temp_folder_never_beside_the_users_files(odb, stored, tmp_path,
                                                                                 monkeypatch):
    # A kill between naming the new file and exchanging it with the old one must leave
    # nothing among the user's files: the temp name lives in tmp_dir (.mlvc/tmp/checkout).
    from mlvc import fs
    from mlvc.workspace import cachelink

    work = tmp_path / "work"
    staging = tmp_path / "staging"
    work.mkdir()
    staging.mkdir()
    dest = work / "f"
    dest.write_bytes(b"old content")
    seen = []
    real = fs.replace_file

    def spy(tmp, target):
        seen.append((os.path.dirname(tmp), sorted(os.listdir(work))))
        return real(tmp, target)

    monkeypatch.setattr(cachelink.fs, "replace_file", spy)
    link_out(odb, stored, str(dest), ["copy"], tmp_dir=str(staging))
    assert seen == [(str(staging), ["f"])]
    assert dest.read_bytes() == SRC_DATA
    assert os.listdir(staging) == [] and os.listdir(work) == ["f"]
