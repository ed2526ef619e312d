import json
import os

from funcutil import oid_of, one_line_error, read_lock, tree_lines


def test_commit_records_workspace_changes(repo, mlvc):
    repo.root.gen({"data": {"a": "1", "b": "2"}, "m.bin": "m"})
    assert mlvc("add", "data", "m.bin").exit_code == 0
    old = read_lock(repo.root)["artifacts"]
    (repo.root / "data" / "a").write_text("1 changed")
    os.unlink(repo.root / "data" / "b")
    repo.root.gen("data/c", "3")
    r = mlvc("commit")
    assert r.exit_code == 0, r.output
    assert "Recorded data" in r.stdout and "Unchanged m.bin" in r.stdout
    assert "git add mlvc.lock" in r.stdout
    new = read_lock(repo.root)["artifacts"]
    assert new["m.bin"] == old["m.bin"]
    assert new["data"]["nfiles"] == 2 and new["data"]["size"] == len("1 changed") + 1
    assert tree_lines(repo.root, new["data"]["oid"]) == {"a": oid_of(b"1 changed"), "c": oid_of(b"3")}
    assert mlvc("status", "--check").exit_code == 0


def test_commit_unchanged_leaves_lock_untouched(repo, mlvc):
    repo.root.gen({"data": {"a": "1"}, "m.bin": "m"})
    assert mlvc("add", "data", "m.bin").exit_code == 0
    lock = repo.root / "mlvc.lock"
    project = repo.root / "mlvc.yaml"
    os.utime(lock, ns=(1_000_000_000, 1_000_000_000))
    os.utime(project, ns=(1_000_000_000, 1_000_000_000))
    before = (lock.read_bytes(), os.stat(lock).st_ino, project.read_bytes(), os.stat(project).st_ino)
    r = mlvc("commit", "--json")
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(r.stdout)["unchanged"]) == ["data", "m.bin"]
    after = (lock.read_bytes(), os.stat(lock).st_ino, project.read_bytes(), os.stat(project).st_ino)
    assert after == before
    assert os.stat(lock).st_mtime_ns == 1_000_000_000
    assert os.stat(project).st_mtime_ns == 1_000_000_000


def test_commit_only_named_paths(repo, mlvc):
    repo.root.gen({"x.bin": "x", "y.bin": "y"})
    assert mlvc("add", "x.bin", "y.bin").exit_code == 0
    (repo.root / "x.bin").write_text("x2")
    (repo.root / "y.bin").write_text("y2")
    assert mlvc("commit", "x.bin").exit_code == 0
    lock = read_lock(repo.root)["artifacts"]
    assert lock["x.bin"]["oid"] == oid_of(b"x2")
    assert lock["y.bin"]["oid"] == oid_of(b"y")
    assert mlvc("status", "--check", "y.bin").exit_code == 1


def test_commit_with_nothing_tracked(repo, mlvc):
    r = mlvc("commit")
    assert r.exit_code == 3
    assert "mlvc add" in one_line_error(r)


def test_commit_of_missing_artifact_fails_and_keeps_lock(repo, mlvc):
    repo.root.gen({"x.bin": "x", "y.bin": "y"})
    assert mlvc("add", "x.bin", "y.bin").exit_code == 0
    before = (repo.root / "mlvc.lock").read_bytes()
    os.unlink(repo.root / "x.bin")
    (repo.root / "y.bin").write_text("y2")
    r = mlvc("commit")
    assert r.exit_code == 3
    assert "x.bin does not exist" in one_line_error(r)
    assert (repo.root / "mlvc.lock").read_bytes() == before


def test_commit_then_git_commit_round_trip(repo, mlvc):
    repo.root.gen("m.bin", "v1")
    assert mlvc("add", "m.bin").exit_code == 0
    sha1 = repo.commit("v1")
    (repo.root / "m.bin").write_text("v2")
    assert mlvc("commit").exit_code == 0
    assert repo.git("status", "--porcelain").strip() == "M mlvc.lock"
    repo.commit("v2")
    repo.git("checkout", "-q", sha1)
    assert mlvc("checkout").exit_code == 0
    assert (repo.root / "m.bin").read_text() == "v1"
