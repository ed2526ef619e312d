import os
import stat

import pytest
from funcutil import bad_objects, one_line_error, read_lock, read_project, snapshot


@pytest.mark.parametrize("kind", ["copy", "hardlink", "symlink"])
def test_remove_keeps_files_as_writable_regular_files(repo, mlvc, kind):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"data": {"a.csv": "a", "sub": {"b.csv": "b"}}, "model.pkl": "m"})
    assert mlvc("add", "data", "model.pkl").exit_code == 0
    r = mlvc("remove", "data")
    assert r.exit_code == 0, r.output
    assert "Stopped tracking data" in r.stdout
    assert "git add .gitignore mlvc.yaml mlvc.lock" in r.stdout
    for rel, content in (("data/a.csv", b"a"), ("data/sub/b.csv", b"b")):
        p = repo.root / rel
        st = os.lstat(p)
        assert stat.S_ISREG(st.st_mode), rel
        assert st.st_nlink == 1, rel
        assert st.st_mode & 0o200, rel
        assert p.read_bytes() == content
    assert read_project(repo.root)["artifacts"] == ["model.pkl"]
    assert list(read_lock(repo.root)["artifacts"]) == ["model.pkl"]
    assert (repo.root / ".gitignore").read_text().splitlines() == ["/model.pkl"]
    # git now offers the folder to the user
    assert "?? data/" in repo.git("status", "--porcelain").splitlines()
    # editing the freed file never touches the cache
    with open(repo.root / "data" / "a.csv", "ab") as f:
        f.write(b" more")
    assert bad_objects(repo.root) == []


def test_remove_last_artifact_deletes_empty_gitignore(repo, mlvc):
    repo.root.gen({"data/sets/x.bin": "x"})
    (repo.root / "data" / ".gitignore").write_text("*.tmp\n")
    assert mlvc("add", "data/sets/x.bin").exit_code == 0
    assert (repo.root / "data" / "sets" / ".gitignore").read_text() == "/x.bin\n"
    r = mlvc("remove", "data/sets/x.bin")
    assert r.exit_code == 0, r.output
    assert "git add data/sets/.gitignore mlvc.yaml mlvc.lock" in r.stdout
    assert not (repo.root / "data" / "sets" / ".gitignore").exists()
    assert (repo.root / "data" / ".gitignore").read_text() == "*.tmp\n"  # the user's own file is kept
    assert (repo.root / "data" / "sets" / "x.bin").read_text() == "x"
    assert read_project(repo.root)["artifacts"] == []
    assert read_lock(repo.root)["artifacts"] == {}


def test_remove_keeps_other_gitignore_lines(repo, mlvc):
    (repo.root / ".gitignore").write_text("# mine\n*.log\n")
    repo.root.gen({"a.bin": "a"})
    assert mlvc("add", "a.bin").exit_code == 0
    assert mlvc("remove", "a.bin").exit_code == 0
    assert (repo.root / ".gitignore").read_text() == "# mine\n*.log\n"


def test_remove_untracked_path_fails_and_changes_nothing(repo, mlvc):
    repo.root.gen({"a.bin": "a", "b.bin": "b"})
    assert mlvc("add", "a.bin").exit_code == 0
    before = snapshot(repo.root)
    r = mlvc("remove", "a.bin", "b.bin")
    assert r.exit_code == 3
    assert "b.bin is not tracked" in one_line_error(r)
    assert snapshot(repo.root) == before


def test_remove_artifact_missing_from_workspace(repo, mlvc):
    repo.root.gen({"a.bin": "a"})
    assert mlvc("add", "a.bin").exit_code == 0
    os.unlink(repo.root / "a.bin")
    r = mlvc("remove", "a.bin")
    assert r.exit_code == 0, r.output
    assert read_lock(repo.root)["artifacts"] == {}


def test_remove_of_a_file_inside_a_tracked_folder_says_the_folder_is_tracked_whole(repo, mlvc):
    repo.root.gen({"data": {"a.txt": "a", "b.txt": "b"}})
    assert mlvc("add", "data").exit_code == 0
    lock = (repo.root / "mlvc.lock").read_text()
    r = mlvc("remove", "data/a.txt")
    assert r.exit_code == 3
    assert "inside the tracked folder data, which is tracked as a whole" in r.stderr  # it said: not tracked
    assert "`mlvc remove data`" in r.stderr
    assert (repo.root / "mlvc.lock").read_text() == lock
