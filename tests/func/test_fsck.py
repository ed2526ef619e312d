import json
import os

from funcutil import cache_oids, object_path, oid_of, read_lock, tree_lines


def _setup(repo, mlvc):
    repo.root.gen({"data": {"a": "aaa", "b": "bbb"}, "m.bin": "model"})
    assert mlvc("add", "data", "m.bin").exit_code == 0
    return read_lock(repo.root)["artifacts"]


def _corrupt(path, data=b"XXXXX"):
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)


def test_fsck_clean(repo, mlvc):
    _setup(repo, mlvc)
    r = mlvc("fsck")
    assert r.exit_code == 0, r.output
    assert "Checked 4 objects: 0 corrupted, 0 missing." in r.stdout
    out = json.loads(mlvc("fsck", "--json").stdout)
    assert {k: out[k] for k in ("checked", "corrupted", "missing", "ok")} == {
        "checked": 4, "corrupted": [], "missing": [], "ok": True}


def test_fsck_empty_cache(repo, mlvc):
    r = mlvc("fsck")
    assert r.exit_code == 0
    assert "Checked 0 objects" in r.stdout


def test_fsck_reports_corrupted_object(repo, mlvc):
    lock = _setup(repo, mlvc)
    _corrupt(object_path(repo.root, lock["m.bin"]["oid"]))  # same size, different bytes
    r = mlvc("fsck")
    assert r.exit_code == 1
    assert f"corrupted  {lock['m.bin']['oid']}" in r.stdout
    out = json.loads(mlvc("fsck", "--json").stdout)
    assert out["corrupted"] == [lock["m.bin"]["oid"]] and out["ok"] is False


def test_fsck_reports_corrupted_tree(repo, mlvc):
    lock = _setup(repo, mlvc)
    tree = lock["data"]["oid"]
    _corrupt(object_path(repo.root, tree), b"mlvc-tree 1\n")
    r = mlvc("fsck", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["corrupted"] == [tree]


def test_fsck_reports_missing_file_object(repo, mlvc):
    lock = _setup(repo, mlvc)
    os.unlink(object_path(repo.root, lock["m.bin"]["oid"]))
    r = mlvc("fsck")
    assert r.exit_code == 1
    assert f"missing    {lock['m.bin']['oid']}" in r.stdout
    assert "Checked 3 objects: 0 corrupted, 1 missing." in r.stdout


def test_fsck_reports_missing_file_inside_tree(repo, mlvc):
    lock = _setup(repo, mlvc)
    inner = tree_lines(repo.root, lock["data"]["oid"])["b"]
    assert inner == oid_of(b"bbb")
    os.unlink(object_path(repo.root, inner))
    r = mlvc("fsck", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["missing"] == [inner] and out["corrupted"] == []


def test_fsck_reports_missing_tree(repo, mlvc):
    lock = _setup(repo, mlvc)
    os.unlink(object_path(repo.root, lock["data"]["oid"]))
    out = json.loads(mlvc("fsck", "--json").stdout)
    assert out["missing"] == [lock["data"]["oid"]]


def test_fsck_ignores_unreferenced_objects_and_stray_files(repo, mlvc):
    _setup(repo, mlvc)
    repo.root.gen(".mlvc/cache/files/xxh3/zz-not-an-object", "junk")
    n = len(cache_oids(repo.root))
    (repo.root / "m.bin").write_text("model v2")
    assert mlvc("commit").exit_code == 0  # the old model object is now unreferenced
    r = mlvc("fsck", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["checked"] == n + 1


def test_one_object_is_said_in_the_singular(repo, mlvc):
    repo.root.gen("one.txt", "1\n")
    assert mlvc("add", "one.txt").exit_code == 0
    r = mlvc("fsck")
    assert r.exit_code == 0
    assert "Checked 1 object: 0 corrupted, 0 missing." in r.stdout
