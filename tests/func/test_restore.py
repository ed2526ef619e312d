"""`mlvc restore PATH --rev REV` end to end, in real git repositories across several commits."""

import json
import os
import shutil
import subprocess
import sys

from funcutil import cache_dir, one_line_error, read_lock, snapshot, workspace_files


def _history(repo, mlvc):
    """c1: data/{a,b,sub/c} and model.pkl; c2: data/a changed, data/b deleted, data/d added,
    model.pkl changed; c3: only other.txt added."""
    repo.root.gen({"data": {"a": "a1", "b": "b1", "sub": {"c": "c1"}}, "model.pkl": "m1" * 100})
    assert mlvc("add", "data", "model.pkl").exit_code == 0
    c = [repo.commit("c1")]
    repo.root.gen({"data/a": "a2", "data/d": "d2", "model.pkl": "m2"})
    os.unlink(repo.root / "data/b")
    assert mlvc("commit").exit_code == 0
    c.append(repo.commit("c2"))
    repo.root.gen("other.txt", "o")
    assert mlvc("add", "other.txt").exit_code == 0
    c.append(repo.commit("c3"))
    return c


def _lock_bytes(repo):
    return (repo.root / "mlvc.lock").read_bytes()


def test_restore_a_file_artifact_leaves_the_lock_then_commit_records_it(repo, mlvc):
    c = _history(repo, mlvc)
    before = _lock_bytes(repo)
    r = mlvc("restore", "model.pkl", "--rev", c[0])
    assert r.exit_code == 0, r.output
    assert (repo.root / "model.pkl").read_text() == "m1" * 100
    assert _lock_bytes(repo) == before
    st = json.loads(mlvc("status", "--json").stdout)
    assert {a["path"]: a["status"] for a in st["artifacts"]}["model.pkl"] == "modified"
    assert mlvc("commit", "model.pkl").exit_code == 0
    assert read_lock(repo.root)["artifacts"]["model.pkl"]["size"] == 200
    assert mlvc("status", "--check").exit_code == 0


def test_restore_a_folder_at_an_older_revision(repo, mlvc):
    c = _history(repo, mlvc)
    before = _lock_bytes(repo)
    r = mlvc("restore", "data", "--rev", "HEAD~2", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["commit"] == c[0] and out["paths"] == ["data"]
    assert sorted(out["added"]) == ["data/b"] and out["modified"] == ["data/a"] and out["deleted"] == ["data/d"]
    assert workspace_files(repo.root / "data") == {"a": b"a1", "b": b"b1", "sub/c": b"c1"}
    assert _lock_bytes(repo) == before
    st = json.loads(mlvc("status", "--json", "data").stdout)
    assert st["artifacts"][0]["status"] == "modified"
    assert mlvc("commit", "data").exit_code == 0
    assert mlvc("diff", c[0], "--json", "data").exit_code == 0
    assert json.loads(mlvc("diff", c[0], "--json", "data").stdout)["changes"] == []


def test_restore_a_file_inside_a_folder_touches_only_it(repo, mlvc):
    c = _history(repo, mlvc)
    before = _lock_bytes(repo)
    r = mlvc("restore", "data/b", "--rev", c[0])
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == {"a": b"a2", "b": b"b1", "d": b"d2", "sub/c": b"c1"}
    assert _lock_bytes(repo) == before
    st = json.loads(mlvc("status", "--json", "data").stdout)["artifacts"][0]
    assert st["status"] == "modified" and [(x["path"], x["change"]) for x in st["changes"]] == [("data/b", "added")]
    assert mlvc("checkout", "data").exit_code == 0  # back to what mlvc.lock records
    assert not (repo.root / "data/b").exists() and mlvc("status", "--check").exit_code == 0


def test_restore_from_a_sub_folder_with_a_relative_path(repo, mlvc, monkeypatch):
    c = _history(repo, mlvc)
    repo.root.gen("data/sub/c", "local")
    assert mlvc("commit").exit_code == 0  # the local version is in the cache: no --force needed
    monkeypatch.chdir(repo.root / "data")
    assert mlvc("restore", "sub", "--rev", c[0]).exit_code == 0
    assert (repo.root / "data/sub/c").read_text() == "c1"


def test_local_changes_not_in_the_cache_are_refused_without_force(repo, mlvc):
    c = _history(repo, mlvc)
    repo.root.gen("model.pkl", "unsaved work")
    before = snapshot(repo.root)
    r = mlvc("restore", "model.pkl", "--rev", c[0])
    assert r.exit_code == 3
    assert "local changes that are not in the cache: model.pkl" in one_line_error(r)
    assert snapshot(repo.root) == before
    assert mlvc("restore", "model.pkl", "--rev", c[0], "--force").exit_code == 0
    assert (repo.root / "model.pkl").read_text() == "m1" * 100


def test_a_path_not_recorded_at_the_revision_is_one_line(repo, mlvc):
    c = _history(repo, mlvc)
    before = snapshot(repo.root)
    r = mlvc("restore", "other.txt", "--rev", c[0])
    assert r.exit_code == 3
    assert one_line_error(r) == (f"error: other.txt is not recorded in mlvc.lock at {c[0]}; "
                                 f"see `mlvc ls --rev {c[0]}` or `mlvc log other.txt`")
    r = mlvc("restore", "data/zzz", "--rev", c[0])
    assert "data/zzz is not in the recorded version of data" in one_line_error(r)
    r = mlvc("restore", "data", "--rev", "no-such-rev")
    assert "unknown git revision 'no-such-rev'" in one_line_error(r)
    assert snapshot(repo.root) == before


def test_missing_objects_without_a_remote_change_nothing(repo, mlvc):
    c = _history(repo, mlvc)
    shutil.rmtree(cache_dir(repo.root))
    os.makedirs(cache_dir(repo.root))
    before = snapshot(repo.root)
    r = mlvc("restore", "model.pkl", "--rev", c[0])
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "object(s) of model.pkl at" in line and f"`mlvc fetch --rev {c[0]} model.pkl`" in line
    assert snapshot(repo.root) == before


def test_missing_objects_are_fetched_from_the_default_remote(repo, mlvc, tmp_path_factory):
    c = _history(repo, mlvc)
    store = tmp_path_factory.mktemp("store")
    assert mlvc("remote", "add", "--default", "store", str(store)).exit_code == 0
    assert mlvc("push", "--rev", c[0]).exit_code == 0
    shutil.rmtree(cache_dir(repo.root))
    os.makedirs(cache_dir(repo.root))
    before = _lock_bytes(repo)
    r = mlvc("restore", "data/sub", "--rev", c[0])
    assert r.exit_code == 0, r.output
    assert "Fetched" in r.stdout and "from store" in r.stdout
    assert (repo.root / "data/sub/c").read_text() == "c1"
    assert _lock_bytes(repo) == before


def test_the_python_api_returns_what_was_restored(repo, mlvc):
    c = _history(repo, mlvc)
    code = ("import json, mlvc.api as a; r = a.restore('data/a', 'HEAD~2'); "
            "print(json.dumps([r.commit, r.paths, r.modified]))")
    p = subprocess.run([sys.executable, "-c", code], cwd=repo.root, capture_output=True, text=True, check=True)
    assert json.loads(p.stdout) == [c[0], ["data/a"], ["data/a"]]
