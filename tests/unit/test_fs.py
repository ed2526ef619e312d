"""Path validation, the write guard for symlinked folders, atomic writes and copies."""

from __future__ import annotations

import os
import stat

import pytest

from mlvc.fs import atomic, links
from mlvc.errors import CorruptObjectError, InvalidPathError
from mlvc.fs import SafeDirs, atomic_write, check_relpath, copy_hashing, copy_verified, remove_path
from mlvc.objects.hashing import hash_bytes


@pytest.mark.parametrize(
    "path", ["a", "a/b/c.csv", "données/é.csv", "a b", ".hidden", "a/.b", "...", "a/..b", "..a", "a.", "-", "~", "日本"]
)
def test_check_relpath_accepts(path):
    assert check_relpath(path) == path


@pytest.mark.parametrize(
    "path,match",
    [
        ("", "non-empty"),
        (None, "non-empty"),
        (b"a", "non-empty"),
        (1, "non-empty"),
        ("/a", "absolute"),
        ("/", "absolute"),
        ("a\\b", "backslash"),
        ("\\a", "backslash"),
        ("a\0b", "NUL"),
        ("a\nb", "newline"),
        ("a\rb", "newline"),
        ("bad\udcff.txt", "not valid UTF-8"),  # os.fsdecode of a name that is not UTF-8
        ("d/\ud800", "not valid UTF-8"),
        (".", "segment"),
        ("..", "segment"),
        ("./a", "segment"),
        ("a/.", "segment"),
        ("a/../b", "segment"),
        ("../a", "segment"),
        ("a//b", "segment"),
        ("a/", "segment"),
    ],
)
def test_check_relpath_refuses(path, match):
    with pytest.raises(InvalidPathError, match=match):
        check_relpath(path, "artifact path")


def test_check_relpath_names_what_it_checks():
    with pytest.raises(InvalidPathError, match="^tree path '/x' is absolute"):
        check_relpath("/x", "tree path")


# ------------------------------------------------------------------ SafeDirs


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    return r


def test_safedirs_refuses_a_symlink_to_a_folder_outside(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "data").symlink_to(outside)
    safe = SafeDirs(str(root))
    with pytest.raises(InvalidPathError, match="symlink to .*outside the repository"):
        safe.check(str(root / "data"))
    with pytest.raises(InvalidPathError, match="outside the repository"):
        safe.check(str(root / "data" / "sub"))
    with pytest.raises(InvalidPathError, match="outside the repository"):
        safe.makedirs(str(root / "data" / "sub" / "deeper"))
    assert os.listdir(outside) == []  # nothing created through the link


def test_safedirs_refuses_a_symlink_to_a_parent_of_the_root(root):
    (root / "up").symlink_to("..")
    with pytest.raises(InvalidPathError):
        SafeDirs(str(root)).makedirs(str(root / "up" / "x"))


def test_safedirs_allows_a_symlink_to_a_folder_inside(root):
    (root / "real").mkdir()
    (root / "data").symlink_to("real")
    safe = SafeDirs(str(root))
    safe.check(str(root / "data"))
    safe.makedirs(str(root / "data" / "a" / "b"))
    assert (root / "real" / "a" / "b").is_dir()


def test_safedirs_allows_a_root_that_is_itself_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    safe = SafeDirs(str(tmp_path / "link"))
    safe.makedirs(str(tmp_path / "link" / "a" / "b"))
    assert (real / "a" / "b").is_dir()


def test_safedirs_refuses_folders_outside_the_root(root, tmp_path):
    safe = SafeDirs(str(root))
    with pytest.raises(InvalidPathError, match="outside the repository"):
        safe.check(str(tmp_path / "elsewhere"))
    with pytest.raises(InvalidPathError, match="outside the repository"):
        safe.check(str(root / ".." / "elsewhere"))
    with pytest.raises(InvalidPathError, match="outside the repository"):
        safe.check(str(root) + "2")  # a sibling sharing the root's name as a prefix


def test_safedirs_makedirs_creates_nested_folders(root):
    SafeDirs(str(root)).makedirs(str(root / "a" / "b" / "c"))
    assert (root / "a" / "b" / "c").is_dir()


def test_safedirs_makedirs_refuses_a_file_in_the_way(root):
    (root / "a").write_text("x")
    with pytest.raises(InvalidPathError, match="a file is in the way"):
        SafeDirs(str(root)).makedirs(str(root / "a" / "b"))
    assert (root / "a").read_text() == "x"


def test_safedirs_makedirs_refuses_a_symlink_to_a_file(root):
    (root / "f").write_text("x")
    (root / "a").symlink_to("f")
    with pytest.raises(InvalidPathError, match="symlink to a file"):
        SafeDirs(str(root)).makedirs(str(root / "a" / "b"))


# --------------------------------------------------------------- atomic write


def test_atomic_write_creates_and_replaces(tmp_path):
    p = tmp_path / "f"
    atomic_write(str(p), b"one")
    assert p.read_bytes() == b"one"
    atomic_write(str(p), b"two, longer")
    assert p.read_bytes() == b"two, longer"
    atomic_write(str(p), b"")
    assert p.read_bytes() == b""
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_write_replaces_the_inode_not_the_content_in_place(tmp_path):
    # A reader holding the old file keeps reading the old content.
    p = tmp_path / "f"
    p.write_bytes(b"old")
    with open(p, "rb") as reader:
        atomic_write(str(p), b"new")
        assert reader.read() == b"old"
    assert p.read_bytes() == b"new"


def test_atomic_write_mode_and_no_fsync(tmp_path):
    p = tmp_path / "f"
    atomic_write(str(p), b"x", mode=0o600, fsync=False)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_write_failure_leaves_no_temp_file_and_the_old_content(tmp_path):
    p = tmp_path / "d"
    p.mkdir()
    (p / "keep").write_text("x")
    with pytest.raises(OSError):
        atomic_write(str(p), b"data")  # a folder cannot be replaced by a file
    assert sorted(os.listdir(tmp_path)) == ["d"]
    assert (p / "keep").read_text() == "x"


def test_atomic_write_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(str(tmp_path / "missing" / "f"), b"x")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------- copies


@pytest.mark.parametrize("size", [0, 10, atomic.COPY_CHUNK * 4, atomic.COPY_CHUNK * 4 + 1, atomic.COPY_CHUNK * 5 + 7])
def test_copy_hashing(tmp_path, size):
    data = os.urandom(size)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(data)
    assert copy_hashing(str(src), str(dst), 0o444) == (hash_bytes(data), size)
    assert dst.read_bytes() == data
    assert stat.S_IMODE(dst.stat().st_mode) == 0o444
    assert src.read_bytes() == data


def test_copy_hashing_never_overwrites(tmp_path):
    (tmp_path / "src").write_bytes(b"a")
    (tmp_path / "dst").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        copy_hashing(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert (tmp_path / "dst").read_bytes() == b"b"


def test_copy_verified_refuses_a_wrong_hash_and_leaves_nothing(tmp_path):
    (tmp_path / "src").write_bytes(b"abc")
    with pytest.raises(CorruptObjectError, match="corrupted"):
        copy_verified(str(tmp_path / "src"), str(tmp_path / "dst"), hash_bytes(b"abd"))
    assert not (tmp_path / "dst").exists()
    assert copy_verified(str(tmp_path / "src"), str(tmp_path / "dst"), hash_bytes(b"abc")) == 3
    assert (tmp_path / "dst").read_bytes() == b"abc"


def test_reflink_is_unsupported_or_works(tmp_path):
    (tmp_path / "src").write_bytes(b"abc")
    try:
        links.reflink(str(tmp_path / "src"), str(tmp_path / "dst"))
    except OSError as exc:
        assert links.is_unsupported(exc)
        assert not (tmp_path / "dst").exists()
    else:
        assert (tmp_path / "dst").read_bytes() == b"abc"


def test_remove_path(tmp_path):
    remove_path(str(tmp_path / "missing"))  # no error
    f = tmp_path / "f"
    f.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(f)
    remove_path(str(link))
    assert not os.path.lexists(link) and f.exists()  # the link, not its target
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "ro").write_text("x")
    os.chmod(d / "sub" / "ro", 0o444)
    remove_path(str(d))
    assert not d.exists()
    remove_path(str(f))
    assert not f.exists()


# ------------------------------------------------------------- replace_file


def test_replace_file_puts_the_new_file_in_place_and_removes_the_old(tmp_path):
    from mlvc.fs import replace_file

    dest, new = tmp_path / "dest", tmp_path / "new"
    dest.write_bytes(b"old")
    new.write_bytes(b"new")
    old_ino = dest.stat().st_ino
    replace_file(str(new), str(dest))
    assert dest.read_bytes() == b"new" and dest.stat().st_ino != old_ino
    assert sorted(os.listdir(tmp_path)) == ["dest"]  # the old file went with the temp name


def test_replace_file_where_nothing_is(tmp_path):
    from mlvc.fs import replace_file

    (tmp_path / "new").write_bytes(b"new")
    replace_file(str(tmp_path / "new"), str(tmp_path / "dest"))
    assert (tmp_path / "dest").read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["dest"]


def test_replace_file_never_swaps_with_a_folder(tmp_path):
    from mlvc.fs import replace_file

    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep").write_bytes(b"k")
    (tmp_path / "new").write_bytes(b"new")
    with pytest.raises(OSError):
        replace_file(str(tmp_path / "new"), str(tmp_path / "dest"))
    assert (tmp_path / "dest" / "keep").read_bytes() == b"k"


def test_replace_file_replaces_a_symlink_not_its_target(tmp_path):
    from mlvc.fs import replace_file

    (tmp_path / "target").write_bytes(b"t")
    os.symlink(tmp_path / "target", tmp_path / "dest")
    (tmp_path / "new").write_bytes(b"new")
    replace_file(str(tmp_path / "new"), str(tmp_path / "dest"))
    assert not os.path.islink(tmp_path / "dest") and (tmp_path / "dest").read_bytes() == b"new"
    assert (tmp_path / "target").read_bytes() == b"t"


def test_safedirs_creates_a_deep_folder_without_recursion(tmp_path):
    deep = tmp_path / "/".join(["d"] * 1100)  # deeper than Python's recursion limit
    try:
        SafeDirs(str(tmp_path)).makedirs(str(deep))
        assert deep.is_dir()
    finally:  # removed here, bottom up: pytest's own clean-up (shutil.rmtree) recurses
        folder = str(deep)
        while folder != str(tmp_path):
            if os.path.isdir(folder):
                os.rmdir(folder)
            folder = os.path.dirname(folder)


def test_safedirs_creates_a_folder_it_checked_while_it_was_missing(tmp_path):
    # check() of a missing folder (checkout checks every artifact's parent) must not make
    # makedirs() believe it exists: `rm -rf models; mlvc checkout` failed that way.
    safe = SafeDirs(str(tmp_path))
    safe.check(str(tmp_path / "models"))
    safe.makedirs(str(tmp_path / "models"))
    assert (tmp_path / "models").is_dir()


def test_atomic_write_all_replaces_every_file_or_none(tmp_path):
    from mlvc.fs.atomic import atomic_write_all

    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "b").write_bytes(b"old b")
    # The second file cannot be written (its folder is missing, as a full disk would fail it):
    # the first must not have been replaced, and no temp file is left.
    with pytest.raises(OSError):
        atomic_write_all([(str(tmp_path / "a"), b"new a"), (str(tmp_path / "missing" / "b"), b"new b")])
    assert (tmp_path / "a").read_bytes() == b"old a"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
    atomic_write_all([(str(tmp_path / "a"), b"new a"), (str(tmp_path / "b"), b"new b")])
    assert (tmp_path / "a").read_bytes() == b"new a" and (tmp_path / "b").read_bytes() == b"new b"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_add_writes_both_of_its_files_or_neither(tmp_path, monkeypatch):
    # ENOSPC while writing mlvc.lock used to leave the new mlvc.yaml beside the old mlvc.lock.
    import errno
    import subprocess
    import sys

    from mlvc.fs import atomic

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "mlvc", "init"], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "a.bin").write_bytes(b"a")
    from mlvc import api

    api.add(["a.bin"], cwd=str(tmp_path))
    before = {n: (tmp_path / n).read_bytes() for n in ("mlvc.yaml", "mlvc.lock")}
    (tmp_path / "b.bin").write_bytes(b"b")
    real = atomic.write_all
    calls = []

    def full_disk(fd, data):
        if bytes(data).startswith(b"schema: 2\nartifacts:\n  a.bin:"):  # mlvc.lock, the second file
            calls.append("lock")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(atomic, "write_all", full_disk)
    with pytest.raises(OSError):
        api.add(["b.bin"], cwd=str(tmp_path))
    assert calls == ["lock"]  # mlvc.yaml was written out first, then the disk was full
    assert {n: (tmp_path / n).read_bytes() for n in before} == before
