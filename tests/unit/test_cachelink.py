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


# ------------------------------------------- linked stores: verified before they are named


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_a_linked_store_that_changes_while_it_is_hashed_publishes_nothing(odb, src, kind, monkeypatch):
    from mlvc.workspace import cachelink

    real = cachelink.hash_file

    def hash_then_write(path, *a):
        result = real(path, *a)
        with open(src, "ab") as f:  # a writer that still has the file open
            f.write(b"late")
        return result

    monkeypatch.setattr(cachelink, "hash_file", hash_then_write)
    with pytest.raises(MlvcError, match="changed while it was being added") as exc:
        add_file(odb, str(src), [kind])
    assert "add it again" in exc.value.hint
    assert list(odb.iter_oids()) == [] and all_leftovers(odb.cache) == []
    assert mode_of(src) == 0o644 and os.stat(src).st_nlink == 1  # the user's file as it was


def test_a_linked_store_refuses_a_file_that_no_longer_has_the_known_id(odb, src):
    with pytest.raises(MlvcError, match="changed while it was being added"):
        add_file(odb, str(src), ["hardlink"], oid=hash_bytes(b"what the stat cache said"), size=5)
    assert list(odb.iter_oids()) == [] and all_leftovers(odb.cache) == []
    assert mode_of(src) == 0o644


def test_a_linked_store_never_links_to_a_damaged_object(odb, src, tmp_path):
    oid = hash_bytes(SRC_DATA)
    damaged = tmp_path / "damaged"
    damaged.write_bytes(b"not the content")
    os.makedirs(os.path.dirname(odb.path(oid)))
    os.link(damaged, odb.path(oid))
    with pytest.raises(CorruptObjectError, match=f"cache object {oid} is damaged") as exc:
        add_file(odb, str(src), ["hardlink"])
    assert "mlvc fsck --repair" in exc.value.hint
    assert mode_of(src) == 0o644 and src.read_bytes() == SRC_DATA
    assert all_leftovers(odb.cache) == []


def test_a_linked_store_of_a_file_at_the_link_limit_keeps_a_copy(odb, src, monkeypatch):
    import errno

    real = os.link

    def link(a, b, *args, **kw):
        if os.fspath(a) == str(src):
            raise OSError(errno.EMLINK, "Too many links")
        return real(a, b, *args, **kw)

    monkeypatch.setattr(os, "link", link)
    oid, size = add_file(odb, str(src), ["hardlink"])
    assert (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    assert os.stat(odb.path(oid)).st_ino != src.stat().st_ino  # a copy of its own
    assert odb.read_bytes(oid) == SRC_DATA and mode_of(odb.path(oid)) == 0o444


@pytest.mark.parametrize("size", [100, SMALL + 1])
def test_a_symlink_store_across_file_systems_copies_into_the_cache(odb, tmp_path, monkeypatch, size):
    import errno

    from mlvc.workspace.cachelink import CacheLinker

    data = os.urandom(size)
    p = tmp_path / "src.bin"
    p.write_bytes(data)
    real = os.link

    def link(a, b, *args, **kw):
        if os.fspath(a) == str(p):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(a, b, *args, **kw)

    monkeypatch.setattr(os, "link", link)
    linker = CacheLinker(odb, ["symlink"])
    oid, got = linker.store(str(p))
    assert (oid, got) == (hash_bytes(data), size)
    assert odb.read_bytes(oid) == data and os.stat(odb.path(oid)).st_ino != p.stat().st_ino
    assert linker.linker.failed == set()  # symlinks still go into the workspace
    assert linker.place(oid, str(p), size=size) == "symlink"
    assert os.readlink(p) == odb.path(oid)


def test_no_working_link_type_suggests_adding_copy_to_the_configured_ones(odb, src, monkeypatch):
    import errno

    def link(*a, **kw):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(MlvcError, match="none of the link types hardlink works") as exc:
        add_file(odb, str(src), ["hardlink"])
    assert "`mlvc config cache.type hardlink,copy`" in exc.value.hint


# ------------------------------------------------------------- placing links


def test_placing_a_hardlink_where_the_object_already_is_changes_nothing(odb, stored, tmp_path, monkeypatch):
    from mlvc.fs import atomic

    monkeypatch.setattr(atomic, "_renameat2", lambda: None)  # a plain rename: a no-op between two names of one file
    staging = tmp_path / "staging"
    staging.mkdir()
    dest = tmp_path / "f"
    os.link(odb.path(stored), dest)
    assert link_out(odb, stored, str(dest), ["hardlink"], tmp_dir=str(staging)) == "hardlink"
    assert os.path.samefile(dest, odb.path(stored))
    assert os.listdir(staging) == []


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
@pytest.mark.parametrize("existing", [False, True])
def test_a_link_to_an_object_of_the_wrong_size_is_refused(odb, stored, tmp_path, kind, existing):
    obj = odb.path(stored)
    os.chmod(obj, 0o644)
    with open(obj, "ab") as f:  # written through a link, as root can
        f.write(b"x")
    dest = tmp_path / "f"
    if existing:
        dest.write_bytes(b"old")
    with pytest.raises(CorruptObjectError, match=stored):
        link_out(odb, stored, str(dest), [kind], size=len(SRC_DATA))
    assert (dest.read_bytes() == b"old") if existing else not os.path.lexists(dest)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("existing", [False, True])
def test_a_hardlink_past_the_link_limit_is_a_verified_copy(odb, stored, tmp_path, monkeypatch, existing):
    import errno

    from mlvc.progress import NullProgress
    from mlvc.workspace.cachelink import CacheLinker

    real = os.link
    obj = odb.path(stored)

    def link(a, b, *args, **kw):
        if os.fspath(a) == obj:
            raise OSError(errno.EMLINK, "Too many links")
        return real(a, b, *args, **kw)

    class Warnings(NullProgress):
        said: list[str] = []

        def warn(self, message):
            self.said.append(message)

    monkeypatch.setattr(os, "link", link)
    progress = Warnings()
    linker = CacheLinker(odb, ["hardlink"], progress)
    dests = [tmp_path / "a", tmp_path / "b"]
    for dest in dests:
        if existing:
            dest.write_bytes(b"old")
        assert linker.place(stored, str(dest), executable=True, size=len(SRC_DATA), new=not existing) == "copy"
        assert dest.read_bytes() == SRC_DATA and os.stat(dest).st_nlink == 1
        assert mode_of(dest) & 0o300 == 0o300  # writable, and executable as asked
    assert linker.linker.failed == set()
    linker.finish()
    assert progress.said == ["2 files kept as copies: the file system's link limit was reached"]
    linker.finish()
    assert len(progress.said) == 1
    assert leftovers(tmp_path) == []


def test_a_linked_store_whose_temp_name_is_cleared_meanwhile_tries_once_more(odb, src, monkeypatch):
    # Another repository's mlvc sharing the cache clears temp files by mtime as it takes the
    # cache lock, and a linked file has the user's file's (old) mtime.
    from mlvc.workspace import cachelink

    real = cachelink.hash_file
    cleared = []

    def clear_then_hash(path, *a):
        if not cleared and os.path.basename(path).startswith(".mlvc-tmp-"):
            cleared.append(path)
            os.unlink(path)
        return real(path, *a)

    monkeypatch.setattr(cachelink, "hash_file", clear_then_hash)
    oid, size = add_file(odb, str(src), ["hardlink"])
    assert cleared and (oid, size) == (hash_bytes(SRC_DATA), len(SRC_DATA))
    assert os.path.samefile(odb.path(oid), src) and odb.check(oid)
    assert all_leftovers(odb.cache) == []
