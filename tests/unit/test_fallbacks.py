"""What the docs promise where the machine offers less: the stat cache turned off
(``MLVC_NO_STATE``), no ``O_TMPFILE``, a temp folder on another file system
(EXDEV) and no ``copy_file_range``. Each fallback is forced by monkeypatching the
OS call it stands in for, and each test checks that the fallback was reached."""

from __future__ import annotations

import errno
import os
import random
import shutil
import sys

import pytest

FUNC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "func")
if FUNC not in sys.path:  # the functional tests' helpers (snapshots, cache checks)
    sys.path.insert(0, FUNC)
from funcutil import bad_objects, oid_of, read_lock, tree_lines, workspace_files  # noqa: E402

from mlvc import fs  # noqa: E402
from mlvc.fs import atomic, links  # noqa: E402

MiB = 1024 * 1024
RNG = random.Random(7)
BIG_V1 = RNG.randbytes(5 * MiB + 123)  # above the 4 MiB limits: the large-copy and large-replace paths
BIG_V2 = RNG.randbytes(5 * MiB + 456)


def _temps(root) -> list[str]:
    """Temp files left anywhere in the repository (workspace, cache, .mlvc/tmp), and anything
    left in checkout's staging folder."""
    left = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        left += [os.path.join(dirpath, n) for n in filenames + dirnames if n.startswith(fs.TMP_PREFIX)]
    staging = os.path.join(root, ".mlvc", "tmp", "checkout")
    if os.path.isdir(staging):
        left += [os.path.join(staging, n) for n in os.listdir(staging)]
    return left


def _v1(root) -> dict[str, bytes]:
    files = {f"f{i}.txt": f"v1 {i}\n".encode() * (i + 1) for i in range(6)}
    files["sub/big.bin"] = BIG_V1
    files["run.sh"] = b"#!/bin/sh\necho v1\n"
    _write(root / "data", files)
    os.chmod(root / "data" / "run.sh", 0o755)
    return files


def _v2(root, v1) -> dict[str, bytes]:
    """Some files changed (the big one too), one deleted, one new."""
    v2 = dict(v1)
    v2["f0.txt"] = b"v2 changed\n"
    v2["f1.txt"] = b"v2 changed too\n"
    del v2["f2.txt"]
    v2["new/g.txt"] = b"v2 new\n"
    v2["sub/big.bin"] = BIG_V2
    shutil.rmtree(root / "data")
    _write(root / "data", v2)
    os.chmod(root / "data" / "run.sh", 0o755)
    return v2


def _write(folder, files):
    for rel, data in files.items():
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def _two_versions(repo, mlvc, kind="copy"):
    """data at v1 and v2, both recorded with git; the workspace at v2. Returns (v1, v2, sha1, sha2)."""
    root = repo.root
    assert mlvc("config", "cache.type", kind).exit_code == 0
    v1 = _v1(root)
    r = mlvc("add", "data")
    assert r.exit_code == 0, r.output
    sha1 = repo.commit("v1")
    v2 = _v2(root, v1)
    r = mlvc("commit")
    assert r.exit_code == 0, r.output
    sha2 = repo.commit("v2")
    return v1, v2, sha1, sha2


def _check_recorded(root, files):
    """mlvc.lock's tree for data names exactly the ids of ``files``, and every object is sound."""
    entry = read_lock(root)["artifacts"]["data"]
    assert tree_lines(root, entry["oid"]) == {p: oid_of(d) for p, d in files.items()}
    assert bad_objects(root) == []


def _back_and_forth(repo, mlvc, v1, v2, sha1, sha2, exec_bit=True):
    """Checkout v1 (files replaced, one recreated, one removed), then v2, then from nothing.
    (``exec_bit=False`` for hardlinks, which have the object's mode: a documented limitation.)"""
    root = repo.root
    for sha, want in ((sha1, v1), (sha2, v2)):
        repo.git("checkout", "-q", sha)
        r = mlvc("checkout")
        assert r.exit_code == 0, r.output
        assert workspace_files(root / "data") == want
        assert os.stat(root / "data" / "run.sh").st_mode & 0o100 or not exec_bit
        assert _temps(root) == []
    shutil.rmtree(root / "data")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert workspace_files(root / "data") == v2
    assert _temps(root) == []


# ------------------------------------------------------------- MLVC_NO_STATE


def _state_files(root) -> list[str]:
    tmp = root / ".mlvc" / "tmp"
    return sorted(n for n in os.listdir(tmp) if n.startswith("state.db")) if tmp.is_dir() else []


def test_no_state_keeps_no_stat_cache_and_results_stay_right(repo, mlvc, monkeypatch):
    root = repo.root
    monkeypatch.setenv("MLVC_NO_STATE", "1")
    assert _state_files(root) == []
    v1, v2, sha1, sha2 = _two_versions(repo, mlvc)
    _check_recorded(root, v2)
    assert mlvc("status", "--check").exit_code == 0
    (root / "data" / "f3.txt").write_bytes(b"edited\n")
    r = mlvc("status", "--check")
    assert r.exit_code == 1 and "f3.txt" in r.stdout, r.output
    assert mlvc("checkout", "--force").exit_code == 0
    assert workspace_files(root / "data") == v2
    _back_and_forth(repo, mlvc, v1, v2, sha1, sha2)
    assert _state_files(root) == []  # never created
    monkeypatch.delenv("MLVC_NO_STATE")
    assert mlvc("status", "--check").exit_code == 0
    assert "state.db" in _state_files(root)  # where it would have been


# ----------------------------------------------------------- no O_TMPFILE


@pytest.fixture(params=["absent", "refused"])
def no_tmpfile(request, monkeypatch):
    """O_TMPFILE missing from os (another OS): None; or refused by the file system
    (EOPNOTSUPP): the list of folders refused, one entry for each refusal."""
    monkeypatch.setattr(atomic, "_NO_TMPFILE", set())
    if request.param == "absent":
        monkeypatch.delattr(os, "O_TMPFILE")
        return None
    refused = []
    real_open = os.open
    flag = os.O_TMPFILE

    def open_(path, flags, *args, **kw):
        if flags & flag == flag:
            refused.append(path)
            raise OSError(errno.EOPNOTSUPP, "Operation not supported", path)
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", open_)
    return refused


def test_open_tmpfile_without_o_tmpfile_is_none(tmp_path, no_tmpfile):
    assert fs.open_tmpfile(str(tmp_path)) is None
    assert fs.open_tmpfile(str(tmp_path)) is None  # a refusal is remembered: asked once per folder
    assert no_tmpfile is None or no_tmpfile == [str(tmp_path)]  # refused: asked once
    assert os.listdir(tmp_path) == []


def test_add_commit_and_checkout_without_o_tmpfile(repo, mlvc, no_tmpfile):
    v1, v2, sha1, sha2 = _two_versions(repo, mlvc)
    _check_recorded(repo.root, v2)
    assert _temps(repo.root) == []
    _back_and_forth(repo, mlvc, v1, v2, sha1, sha2)
    assert no_tmpfile is None or no_tmpfile  # 'refused' was reached


# --------------------------------------------------- EXDEV from .mlvc/tmp


@pytest.fixture
def tmp_elsewhere(repo, monkeypatch):
    """.mlvc/tmp as if on another file system: every rename or link between it and the
    workspace fails with EXDEV. Returns the list of moves refused."""
    tmp = str(repo.root / ".mlvc" / "tmp") + os.sep
    refused = []
    real_replace, real_publish = atomic.replace_file, atomic.publish_tmpfile

    def crosses(a: str, b: str) -> bool:
        return os.path.abspath(a).startswith(tmp) != os.path.abspath(b).startswith(tmp)

    def replace_file(src, dest):
        if crosses(src, dest):
            refused.append(("rename", dest))
            raise OSError(errno.EXDEV, "Invalid cross-device link", src)
        return real_replace(src, dest)

    def publish_tmpfile(fd, dest):
        if crosses(os.readlink(f"/proc/self/fd/{fd}").removesuffix(" (deleted)"), dest):
            refused.append(("link", dest))
            raise OSError(errno.EXDEV, "Invalid cross-device link", dest)
        return real_publish(fd, dest)

    for module in (fs, atomic):  # as the callers see them, and as atomic's own helpers do
        monkeypatch.setattr(module, "replace_file", replace_file)
        monkeypatch.setattr(module, "publish_tmpfile", publish_tmpfile)
    return refused


@pytest.mark.parametrize("kind, tmpfile, move", [
    ("copy", True, "link"),  # an unnamed file in the workspace cannot be named in .mlvc/tmp
    ("copy", False, "rename"),  # a temp file made in .mlvc/tmp cannot be renamed into the workspace
    ("hardlink", True, "rename"),  # a link prepared in .mlvc/tmp/checkout, likewise
])
def test_checkout_when_its_temp_folder_is_on_another_file_system(repo, mlvc, monkeypatch, tmp_elsewhere,
                                                                  kind, tmpfile, move):
    if not tmpfile:
        monkeypatch.setattr(atomic, "_NO_TMPFILE", set())
        monkeypatch.delattr(os, "O_TMPFILE")
    v1, v2, sha1, sha2 = _two_versions(repo, mlvc, kind)
    _back_and_forth(repo, mlvc, v1, v2, sha1, sha2, exec_bit=kind != "hardlink")
    assert {m for m, _ in tmp_elsewhere} == {move}, tmp_elsewhere  # the fallback was reached
    if kind == "hardlink":
        st = os.stat(repo.root / "data" / "f0.txt")
        assert st.st_nlink == 2  # the cache object itself, linked beside the file instead
    assert bad_objects(repo.root) == []


# ------------------------------------------ no renameat2 RENAME_EXCHANGE


@pytest.fixture(params=["absent", "EINVAL", "ENOSYS", "EOPNOTSUPP"])
def no_exchange(request, monkeypatch):
    """renameat2 missing from libc (another OS, an old libc), or refusing RENAME_EXCHANGE
    (a file system without it). Returns the list of exchanges refused."""
    import ctypes

    refused = []
    if request.param == "absent":
        monkeypatch.setattr(atomic, "_RENAMEAT2", False)
        return None
    code = getattr(errno, request.param)

    def renameat2(*args):
        refused.append(args)
        ctypes.set_errno(code)
        return -1

    monkeypatch.setattr(atomic, "_RENAMEAT2", renameat2)
    return refused


def test_replace_file_without_exchange_renames(tmp_path, no_exchange):
    dest, new = tmp_path / "dest", tmp_path / "new"
    dest.write_bytes(b"old")
    new.write_bytes(b"new")
    fs.replace_file(str(new), str(dest))
    assert dest.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["dest"]
    assert no_exchange is None or len(no_exchange) == 1  # refused once, then renamed


def test_replace_file_with_another_error_from_exchange_raises(tmp_path, monkeypatch):
    """EACCES is not a missing feature: raised, naming the user's file, and nothing moved."""
    import ctypes

    def renameat2(*args):
        ctypes.set_errno(errno.EACCES)
        return -1

    monkeypatch.setattr(atomic, "_RENAMEAT2", renameat2)
    (tmp_path / "dest").write_bytes(b"old")
    (tmp_path / "new").write_bytes(b"new")
    with pytest.raises(PermissionError) as exc:
        fs.replace_file(str(tmp_path / "new"), str(tmp_path / "dest"))
    assert exc.value.filename == str(tmp_path / "dest")
    assert (tmp_path / "dest").read_bytes() == b"old" and (tmp_path / "new").read_bytes() == b"new"


def test_checkout_without_exchange(repo, mlvc, no_exchange):
    v1, v2, sha1, sha2 = _two_versions(repo, mlvc)
    _back_and_forth(repo, mlvc, v1, v2, sha1, sha2)
    assert no_exchange is None or no_exchange  # reached: files were replaced by a rename


# ------------------------------------------------------ no copy_file_range


@pytest.fixture(params=[errno.ENOSYS, errno.EXDEV, errno.EOPNOTSUPP, errno.EINVAL], ids=errno.errorcode.get)
def no_copy_file_range(request, monkeypatch):
    calls = []

    def refuse(src, dst, count, *args):
        calls.append(count)
        raise OSError(request.param, os.strerror(request.param))

    monkeypatch.setattr(os, "copy_file_range", refuse)
    return calls


def test_copy_file_without_copy_file_range(tmp_path, no_copy_file_range):
    data = RNG.randbytes(3 * links.COPY_CHUNK + 777)  # several chunks and a partial one
    (tmp_path / "src").write_bytes(data)
    assert fs.copy_file(str(tmp_path / "src"), str(tmp_path / "dst"), 0o444) == len(data)
    assert (tmp_path / "dst").read_bytes() == data
    assert os.stat(tmp_path / "dst").st_mode & 0o777 == 0o444 & ~_umask()
    assert no_copy_file_range  # reached


def test_copy_file_of_an_empty_file_without_copy_file_range(tmp_path, no_copy_file_range):
    (tmp_path / "src").write_bytes(b"")
    assert fs.copy_file(str(tmp_path / "src"), str(tmp_path / "dst")) == 0
    assert (tmp_path / "dst").read_bytes() == b""


def test_copy_file_failing_part_way_leaves_no_file(tmp_path, monkeypatch):
    """An error after some bytes were copied is not a missing feature: it is raised, and the
    half-written file removed."""
    real = os.copy_file_range

    def then_fail(src, dst, count, *args):
        if os.fstat(dst).st_size:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst, min(count, links.COPY_CHUNK), *args)

    monkeypatch.setattr(os, "copy_file_range", then_fail)
    (tmp_path / "src").write_bytes(RNG.randbytes(3 * links.COPY_CHUNK))
    with pytest.raises(OSError) as exc:
        fs.copy_file(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert exc.value.errno == errno.EXDEV
    assert os.listdir(tmp_path) == ["src"]


def test_copy_file_with_a_real_error_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "copy_file_range", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    (tmp_path / "src").write_bytes(b"x" * 100)
    with pytest.raises(OSError) as exc:
        fs.copy_file(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert exc.value.errno == errno.EIO
    assert os.listdir(tmp_path) == ["src"]


def test_add_of_a_large_file_without_copy_file_range(repo, mlvc, no_copy_file_range):
    repo.root.gen({"big.bin": BIG_V1})
    r = mlvc("add", "big.bin")
    assert r.exit_code == 0, r.output
    assert read_lock(repo.root)["artifacts"]["big.bin"]["oid"] == oid_of(BIG_V1)
    assert bad_objects(repo.root) == []
    assert no_copy_file_range  # the large copy into the cache went through it
    assert _temps(repo.root) == []
    os.unlink(repo.root / "big.bin")
    assert mlvc("checkout").exit_code == 0
    assert (repo.root / "big.bin").read_bytes() == BIG_V1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
