import json
import os
import stat

import pytest
from funcutil import bad_objects, object_path, oid_of, one_line_error, read_lock


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_unprotect_makes_private_writable_copies(repo, mlvc, kind):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"data": {"a.csv": "a", "sub": {"b.csv": "b"}}, "labels.csv": "x,0\n"})
    assert mlvc("add", "data", "labels.csv").exit_code == 0
    r = mlvc("unprotect", "data", "labels.csv")
    assert r.exit_code == 0, r.output
    assert "Unprotected 3 files." in r.stdout
    for rel in ("data/a.csv", "data/sub/b.csv", "labels.csv"):
        st = os.lstat(repo.root / rel)
        assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1, rel
        assert st.st_mode & 0o200, rel
    assert mlvc("status", "--check").exit_code == 0  # same content, still recorded
    # edit in place: the cache keeps the recorded bytes
    with open(repo.root / "labels.csv", "a") as f:
        f.write("y,1\n")
    (repo.root / "data" / "a.csv").write_text("a edited")
    r = mlvc("fsck")
    assert r.exit_code == 0, r.output
    assert bad_objects(repo.root) == []
    with open(object_path(repo.root, oid_of(b"x,0\n")), "rb") as f:
        assert f.read() == b"x,0\n"
    assert mlvc("status", "--check").exit_code == 1
    assert mlvc("commit").exit_code == 0
    assert read_lock(repo.root)["artifacts"]["labels.csv"]["oid"] == oid_of(b"x,0\ny,1\n")


def test_unprotect_one_file_inside_a_folder(repo, mlvc):
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen({"data": {"a.csv": "a", "b.csv": "b"}})
    assert mlvc("add", "data").exit_code == 0
    r = mlvc("unprotect", "data/a.csv")
    assert r.exit_code == 0, r.output
    assert os.stat(repo.root / "data" / "a.csv").st_nlink == 1
    assert os.stat(repo.root / "data" / "b.csv").st_nlink >= 2


def test_unprotect_in_copy_mode_is_a_no_op(repo, mlvc):
    assert mlvc("config", "cache.type", "copy").exit_code == 0
    repo.root.gen({"a.bin": "a"})
    assert mlvc("add", "a.bin").exit_code == 0
    ino = os.stat(repo.root / "a.bin").st_ino
    r = mlvc("unprotect", "a.bin")
    assert r.exit_code == 0 and "Unprotected 0 files." in r.stdout
    assert os.stat(repo.root / "a.bin").st_ino == ino


def test_unprotect_errors(repo, mlvc):
    repo.root.gen({"a.bin": "a", "free.bin": "f"})
    assert mlvc("add", "a.bin").exit_code == 0
    r = mlvc("unprotect", "free.bin")
    assert r.exit_code == 3 and "not tracked" in one_line_error(r)
    os.unlink(repo.root / "a.bin")
    r = mlvc("unprotect", "a.bin")
    assert r.exit_code == 3 and "mlvc checkout a.bin" in one_line_error(r)


def test_unprotect_a_folder_above_artifacts_leaves_untracked_files_alone(repo, mlvc):
    # Two hard links prove nothing: only a file that is the cache object itself is linked.
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen({"data/images/a.png": "a", "data/notes.txt": "mine", "data/labels.csv": "l"})
    os.link(repo.root / "data" / "notes.txt", repo.root / "notes-link.txt")  # the user's own hard link
    assert mlvc("add", "data/images").exit_code == 0
    assert mlvc("config", "cache.type", "copy").exit_code == 0
    assert mlvc("add", "data/labels.csv").exit_code == 0
    os.link(repo.root / "data" / "labels.csv", repo.root / "labels-link.csv")  # tracked, but not the object
    untracked = os.stat(repo.root / "data" / "notes.txt").st_ino
    labels = os.stat(repo.root / "data" / "labels.csv").st_ino
    r = mlvc("unprotect", "--json", "data")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"unprotected": ["data/images/a.png"]}
    assert os.stat(repo.root / "data" / "notes.txt").st_ino == untracked
    assert os.stat(repo.root / "data" / "labels.csv").st_ino == labels
    assert os.stat(repo.root / "data" / "images" / "a.png").st_nlink == 1
