"""Scanning the workspace: compact per-file integers, folders opened one at a time and
never through a symlink, the fingerprint."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mlvc.errors import InvalidPathError
from mlvc.workspace.scan import fingerprint, scan, signed_ino


def _gen(root, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_scan_lists_every_file_with_its_stat(tmp_path):
    _gen(tmp_path, {"d/a.txt": b"a", "d/sub/b.bin": b"bb", "d/sub/deeper/c": b"ccc"})
    os.chmod(tmp_path / "d/sub/b.bin", 0o755)
    found = scan(str(tmp_path), "d")
    assert found.kind == "dir" and len(found) == 3
    stats = {p: (ino, mt, ct, size, mode) for p, ino, mt, ct, size, mode in found.stats()}
    assert sorted(stats) == ["a.txt", "sub/b.bin", "sub/deeper/c"]
    for path, (ino, mtime, ctime, size, mode) in stats.items():
        st = os.lstat(tmp_path / "d" / path)
        assert (ino, mtime, ctime, size, mode) == (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_mode)
    assert found.abspath("sub/b.bin") == str(tmp_path / "d/sub/b.bin")


def test_scan_of_a_file_and_of_nothing(tmp_path):
    _gen(tmp_path, {"f": b"x"})
    found = scan(str(tmp_path), "f")
    assert found.kind == "file" and found.paths == [""] and found.abspath("") == str(tmp_path / "f")
    assert scan(str(tmp_path), "missing").kind == "missing"
    assert scan(str(tmp_path), "f/below").kind == "missing"


def test_a_symlinked_folder_inside_is_refused(tmp_path):
    _gen(tmp_path, {"d/a": b"a", "elsewhere/secret": b"s"})
    os.symlink(tmp_path / "elsewhere", tmp_path / "d" / "link")
    with pytest.raises(InvalidPathError, match="symlink to a folder"):
        scan(str(tmp_path), "d")


def test_a_tree_wider_than_the_open_file_limit_scans(tmp_path):
    # Folders are opened one at a time: a folder with more sub-folders than the
    # process may hold open descriptors scans fine.
    for i in range(300):
        _gen(tmp_path, {f"d/s{i:03d}/f": b"x"})
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)); "
            "from mlvc.workspace.scan import scan; print(len(scan(sys.argv[1], 'd')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "300"


def _settled(tmp_path) -> str:
    """The folder's fingerprint once its files are out of the racy window (20 ms)."""
    time.sleep(0.03)
    fp = fingerprint(scan(str(tmp_path), "d"))
    assert fp is not None
    return fp


def test_fingerprint_changes_with_any_file(tmp_path):
    _gen(tmp_path, {"d/a": b"a", "d/b": b"b"})
    fp = _settled(tmp_path)
    assert _settled(tmp_path) == fp  # stable
    os.chmod(tmp_path / "d/a", 0o755)  # the mode (and the ctime)
    assert fingerprint(scan(str(tmp_path), "d")) is None  # just changed: racy, not trusted
    fp2 = _settled(tmp_path)
    assert fp2 != fp
    st = os.stat(tmp_path / "d/b")
    (tmp_path / "d/b").write_bytes(b"B")  # same size, mtime put back: the ctime still tells
    os.utime(tmp_path / "d/b", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _settled(tmp_path) != fp2
    os.rename(tmp_path / "d/b", tmp_path / "d/c")
    assert _settled(tmp_path) not in (fp, fp2)


def test_signed_ino_is_one_to_one():
    for ino in (0, 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1):
        s = signed_ino(ino)
        assert -(2**63) <= s < 2**63
        assert s % 2**64 == ino


def test_paths_come_out_sorted_as_trees_sort_them(tmp_path):
    # 'a.b' < 'a/x' < 'a0' in code point order: a folder sorts as 'name/'.
    names = ["a.b", "a/x", "a/y/z", "a0", "a-b/c", "b", "é", "z/a", "Z"]
    _gen(tmp_path, {f"d/{n}": n.encode() for n in names})
    found = scan(str(tmp_path), "d")
    assert found.paths == sorted(names)


def test_hash_files_merges_the_stat_cache_in_order(tmp_path):
    # Stale rows (deleted files, names that sort between) must not be taken for a file's.
    from mlvc.objects.hashing import hash_bytes
    from mlvc.workspace.build import hash_files
    from mlvc.workspace.state import State

    files = {"a.b": b"1", "a/x": b"2", "a0": b"3", "c": b"4"}
    _gen(tmp_path, {f"d/{n}": data for n, data in files.items()})
    time.sleep(0.03)  # out of the racy window, so rows are kept
    state = State(str(tmp_path / "state.db"))
    calls = []

    def hasher(path, size, known):
        calls.append(os.path.relpath(path, tmp_path / "d"))
        return hash_bytes(open(path, "rb").read()), size

    found = scan(str(tmp_path), "d")
    oids, sizes = hash_files("d", found, state, hasher)
    assert oids == [hash_bytes(files[p]) for p in found.paths] and list(sizes) == [1, 1, 1, 1]
    assert sorted(calls) == sorted(files)
    # Rows of files that are gone, and of another artifact, sort around ours.
    state.save([("d/a", 1, 1, 1, 1, "0" * 32), ("d/a/w", 1, 1, 1, 1, "0" * 32), ("d.x/a", 1, 1, 1, 1, "0" * 32),
                ("d/b", 1, 1, 1, 1, "0" * 32)])
    calls.clear()
    assert hash_files("d", found, state, hasher)[0] == oids
    assert calls == []  # every file vouched for by its own row
    (tmp_path / "d" / "a0").write_bytes(b"33")
    time.sleep(0.03)
    found = scan(str(tmp_path), "d")
    oids2, _ = hash_files("d", found, state, hasher)
    assert calls == ["a0"] and oids2[2] == hash_bytes(b"33")
    state.close()


# ------------------------------------------------------------------ what a scan records


def test_mlvc_tmp_names_are_a_users_files(tmp_path):
    _gen(tmp_path, {"d/.mlvc-tmp-notes.txt": b"n", "d/sub/.mlvc-tmp-123-abcd-0": b"x", "d/a": b"a"})
    found = scan(str(tmp_path), "d")
    assert found.paths == [".mlvc-tmp-notes.txt", "a", "sub/.mlvc-tmp-123-abcd-0"]


def test_git_and_mlvc_entries_are_left_out(tmp_path):
    _gen(tmp_path, {"d/a": b"a", "d/clone/.git/HEAD": b"ref", "d/clone/f": b"f", "d/wt/.git": b"gitdir: x",
                    "d/.mlvc/config": b"", "d/x/.gitignore": b"", "d/.gitx/y": b"y"})
    found = scan(str(tmp_path), "d")
    assert found.paths == [".gitx/y", "a", "clone/f", "x/.gitignore"]
    assert sorted(found.skipped) == [".mlvc", "clone/.git", "wt/.git"]


@pytest.mark.parametrize("name,problem", [("new\nline", "contains a newline"), ("cr\rx", "contains a newline"),
                                          ("back\\slash", "contains a backslash"),
                                          (os.fsdecode(b"bad\xff"), "is not valid UTF-8")])
@pytest.mark.parametrize("folder", [False, True])
def test_a_bad_name_is_refused_with_its_repo_relative_path(tmp_path, name, problem, folder):
    _gen(tmp_path, {"art/d/ok": b"ok", f"art/d/{name}" + ("/f" if folder else ""): b"x"})
    with pytest.raises(InvalidPathError) as exc:
        scan(str(tmp_path), "art/d")
    assert str(exc.value).startswith(f"cannot track {'art/d/' + name!r}: its name {problem}; rename it")


def test_names_that_are_fine(tmp_path):
    names = ["tab\there", "é.txt", "日本語", "sp ace", "-x", "#y", "a" * 255]
    _gen(tmp_path, {f"d/{n}": b"x" for n in names})
    assert sorted(scan(str(tmp_path), "d").paths) == sorted(names)
