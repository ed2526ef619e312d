import json
import os
import re


from funcutil import object_path, oid_of, read_lock, tree_lines


def _setup(repo, mlvc):
    repo.root.gen({"model.pkl": "m1", "data": {"a.csv": "a", "b.csv": "b", "sub": {"c.csv": "c"}}})
    r = mlvc("add", "model.pkl", "data")
    assert r.exit_code == 0, r.output


def _statuses(mlvc, *args):
    r = mlvc("status", "--json", *args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    return out, {a["path"]: a for a in out["artifacts"]}


def test_status_clean(repo, mlvc):
    _setup(repo, mlvc)
    r = mlvc("status")
    assert r.exit_code == 0
    assert "Up to date: 2 artifacts match mlvc.lock." in r.stdout
    assert mlvc("status", "--check").exit_code == 0
    out, by_path = _statuses(mlvc)
    assert out["clean"] is True
    assert by_path == {
        "data": {"path": "data", "status": "ok", "type": "dir", "changes": []},
        "model.pkl": {"path": "model.pkl", "status": "ok", "type": "file", "changes": []},
    }


def test_status_nothing_tracked(repo, mlvc):
    r = mlvc("status", "--check")
    assert r.exit_code == 0
    assert "Nothing is tracked yet" in r.stdout


def test_status_modified_file(repo, mlvc):
    _setup(repo, mlvc)
    (repo.root / "model.pkl").write_text("m2")
    r = mlvc("status")
    assert r.exit_code == 0  # without --check, status itself succeeds
    assert "model.pkl  modified" in r.stdout
    assert "mlvc commit" in r.stdout
    assert mlvc("status", "--check").exit_code == 1
    out, by_path = _statuses(mlvc)
    assert out["clean"] is False
    assert by_path["model.pkl"]["status"] == "modified"
    assert by_path["data"]["status"] == "ok"


def test_status_folder_changes(repo, mlvc):
    _setup(repo, mlvc)
    (repo.root / "data" / "a.csv").write_text("a changed")
    os.unlink(repo.root / "data" / "sub" / "c.csv")
    repo.root.gen("data/new/d.csv", "d")
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "data       modified" in r.stdout
    assert "    added     data/new/d.csv" in r.stdout
    assert "    modified  data/a.csv" in r.stdout
    assert "    deleted   data/sub/c.csv" in r.stdout
    _, by_path = _statuses(mlvc)
    assert by_path["data"]["status"] == "modified"
    assert by_path["data"]["changes"] == [
        {"path": "data/a.csv", "change": "modified", "old_oid": oid_of(b"a"), "new_oid": oid_of(b"a changed"),
         "mode_changed": False},
        {"path": "data/new/d.csv", "change": "added", "old_oid": None, "new_oid": oid_of(b"d"),
         "mode_changed": False},
        {"path": "data/sub/c.csv", "change": "deleted", "old_oid": oid_of(b"c"), "new_oid": None,
         "mode_changed": False},
    ]


def test_status_missing(repo, mlvc):
    _setup(repo, mlvc)
    os.unlink(repo.root / "model.pkl")
    import shutil

    shutil.rmtree(repo.root / "data")
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "model.pkl  missing" in r.stdout and "data       missing" in r.stdout
    assert "mlvc checkout" in r.stdout
    _, by_path = _statuses(mlvc)
    assert {p: a["status"] for p, a in by_path.items()} == {"data": "missing", "model.pkl": "missing"}


def test_status_not_in_cache(repo, mlvc):
    _setup(repo, mlvc)
    lock = read_lock(repo.root)["artifacts"]
    os.unlink(object_path(repo.root, lock["model.pkl"]["oid"]))
    os.unlink(object_path(repo.root, tree_lines(repo.root, lock["data"]["oid"])["sub/c.csv"]))
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "model.pkl  not in cache" in r.stdout
    assert "data       not in cache" in r.stdout
    assert "1 object(s) missing from the cache" in r.stdout
    out, by_path = _statuses(mlvc)
    assert out["clean"] is False
    assert by_path["model.pkl"]["status"] == "not in cache"
    assert by_path["model.pkl"]["missing_objects"] == 1
    assert by_path["data"]["status"] == "not in cache"
    assert by_path["data"]["missing_objects"] == 1


def test_status_tree_object_not_in_cache(repo, mlvc):
    _setup(repo, mlvc)
    os.unlink(object_path(repo.root, read_lock(repo.root)["artifacts"]["data"]["oid"]))
    _, by_path = _statuses(mlvc, "data")
    assert by_path["data"]["status"] == "not in cache"
    assert mlvc("status", "--check", "data").exit_code == 1
    # and a change is still seen without the tree
    (repo.root / "data" / "a.csv").write_text("changed")
    _, by_path = _statuses(mlvc, "data")
    assert by_path["data"]["status"] == "modified"


def test_status_not_recorded(repo, mlvc):
    _setup(repo, mlvc)
    repo.root.gen({"extra.bin": "x", "later/y": "y"})
    with open(repo.root / "mlvc.yaml", "a") as f:
        f.write("- extra.bin\n- never-made\n")
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert re.search(r"^extra\.bin +not recorded$", r.stdout, re.M)
    out, by_path = _statuses(mlvc)
    assert by_path["extra.bin"]["status"] == "not recorded"
    assert by_path["never-made"]["status"] == "missing"
    # commit records it; then everything is clean
    assert mlvc("commit", "extra.bin").exit_code == 0
    assert read_lock(repo.root)["artifacts"]["extra.bin"]["oid"] == oid_of(b"x")


def test_status_paths_select_artifacts(repo, mlvc):
    _setup(repo, mlvc)
    (repo.root / "model.pkl").write_text("m2")
    assert mlvc("status", "--check", "data").exit_code == 0
    assert mlvc("status", "--check", "model.pkl").exit_code == 1
    out, by_path = _statuses(mlvc, "data")
    assert list(by_path) == ["data"]
    # a path inside an artifact names that part of it
    out, by_path = _statuses(mlvc, "data/a.csv")
    assert by_path == {"data/a.csv": {"path": "data/a.csv", "status": "ok", "type": "file", "changes": []}}
    r = mlvc("status", "nope")
    assert r.exit_code == 3 and "nope is not tracked" in r.stderr


def test_status_json_documented_fields(repo, mlvc):
    _setup(repo, mlvc)
    (repo.root / "data" / "b.csv").write_text("bb")
    out, _ = _statuses(mlvc)
    assert set(out) == {"clean", "artifacts"}
    for a in out["artifacts"]:
        assert {"path", "status", "type", "changes"} <= set(a) <= {"path", "status", "type", "changes",
                                                                 "missing_objects"}
        assert a["type"] in ("file", "dir")
        assert a["status"] in ("ok", "modified", "missing", "not in cache", "not recorded", "not in mlvc.yaml")
        for c in a["changes"]:
            assert set(c) == {"path", "change", "old_oid", "new_oid", "mode_changed"}
            assert c["change"] in ("added", "modified", "deleted", "mode")


def test_status_sees_edit_after_stat_cache_was_filled(repo, mlvc):
    _setup(repo, mlvc)
    os.utime(repo.root / "model.pkl", ns=(1_000_000_000, 1_000_000_000))  # old enough to be cached
    assert mlvc("status", "--check").exit_code == 0  # fills the stat cache
    (repo.root / "model.pkl").write_text("m3")
    assert mlvc("status", "--check", "model.pkl").exit_code == 1


def test_status_sees_in_place_edit_with_restored_mtime(repo, mlvc):
    _setup(repo, mlvc)
    path = repo.root / "model.pkl"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert mlvc("status", "--check").exit_code == 0  # fills the stat cache
    with open(path, "r+b") as f:  # same inode, same size
        f.write(b"m9")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert mlvc("status", "--check", "model.pkl").exit_code == 1
