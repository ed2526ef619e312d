"""`mlvc diff` end to end, in real git repositories across several commits."""

import json
import os
import shutil

from funcutil import cache_dir, one_line_error, snapshot


def _history(repo, mlvc):
    """v1: data/ (a, b, sub/c, sub/d) and model.pkl; v2: a modified, b deleted, sub/e added,
    model.pkl deleted, extra.bin added."""
    repo.root.gen({"data": {"a": "1" * 100, "b": "2" * 50, "sub": {"c": "c" * 10, "d": "d" * 20}},
                   "model.pkl": "m" * 2048})
    assert mlvc("add", "data", "model.pkl").exit_code == 0
    v1 = repo.commit("v1")
    repo.root.gen({"data/a": "A" * 120, "data/sub/e": "e" * 5, "extra.bin": "x"})
    os.unlink(repo.root / "data" / "b")
    os.unlink(repo.root / "model.pkl")
    assert mlvc("remove", "model.pkl").exit_code == 0
    assert mlvc("commit").exit_code == 0
    assert mlvc("add", "extra.bin").exit_code == 0
    v2 = repo.commit("v2")
    return v1, v2


def _json(mlvc, *args):
    r = mlvc("diff", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_diff_two_revisions_artifacts_and_files(repo, mlvc):
    v1, v2 = _history(repo, mlvc)
    out = _json(mlvc, v1, v2)
    assert out["a"] == {"rev": v1, "commit": v1} and out["b"] == {"rev": v2, "commit": v2}
    by = {c["path"]: c for c in out["changes"]}
    assert {p: c["change"] for p, c in by.items()} == {"data": "modified", "extra.bin": "added",
                                                     "model.pkl": "deleted"}
    assert by["model.pkl"]["old"]["size"] == 2048 and by["model.pkl"]["new"] is None
    assert by["extra.bin"]["old"] is None and by["extra.bin"]["new"]["size"] == 1
    data = by["data"]
    assert data["old"]["nfiles"] == 4 and data["new"]["nfiles"] == 4
    assert data["old"]["size"] == 180 and data["new"]["size"] == 155
    files = {f["path"]: (f["change"], (f["old"] or {}).get("size"), (f["new"] or {}).get("size"))
             for f in data["files"]}
    assert files == {"data/a": ("modified", 100, 120), "data/b": ("deleted", 50, None),
                     "data/sub/e": ("added", None, 5)}


def test_diff_text_output(repo, mlvc):
    v1, v2 = _history(repo, mlvc)
    r = mlvc("diff", v1, v2)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"{v1} ({v1[:12]}) -> {v2} ({v2[:12]})"
    assert lines[1].split()[:2] == ["modified", "data"]
    assert [x.split()[:2] for x in lines[2:5]] == [["modified", "data/a"], ["deleted", "data/b"],
                                                   ["added", "data/sub/e"]]
    assert lines[-1] == "1 added, 1 deleted, 1 modified"


def test_diff_default_is_head_against_the_workspace(repo, mlvc):
    _history(repo, mlvc)
    assert _json(mlvc)["changes"] == []
    assert "No changes between HEAD" in mlvc("diff").stdout
    repo.root.gen({"data/sub/c": "changed", "data/new": "n"})
    os.unlink(repo.root / "extra.bin")
    before = snapshot(repo.root)
    out = _json(mlvc)
    assert out["b"] == {"rev": "workspace", "commit": None}
    by = {c["path"]: c for c in out["changes"]}
    assert by["extra.bin"]["change"] == "deleted"
    assert [(f["path"], f["change"]) for f in by["data"]["files"]] == [("data/new", "added"),
                                                                       ("data/sub/c", "modified")]
    assert by["data"]["new"]["size"] == 155 - 10 + 7 + 1
    assert snapshot(repo.root) == before  # diff writes nothing: not the lock, not the cache


def test_diff_one_revision_against_the_workspace(repo, mlvc):
    v1, _ = _history(repo, mlvc)
    by = {c["path"]: c["change"] for c in _json(mlvc, v1)["changes"]}
    assert by == {"data": "modified", "extra.bin": "added", "model.pkl": "deleted"}


def test_diff_path_inside_a_tracked_folder(repo, mlvc):
    v1, v2 = _history(repo, mlvc)
    out = _json(mlvc, v1, v2, "data/sub")
    assert [(c["path"], c["artifact"], c["change"]) for c in out["changes"]] == [("data/sub", "data", "modified")]
    assert [(f["path"], f["change"]) for f in out["changes"][0]["files"]] == [("data/sub/e", "added")]
    out = _json(mlvc, v1, v2, "data/a")
    assert [(c["path"], c["change"], c["old"]["size"], c["new"]["size"]) for c in out["changes"]] == [
        ("data/a", "modified", 100, 120)]
    assert _json(mlvc, v1, v2, "data/sub/c")["changes"] == []
    out = _json(mlvc, v1, v2, "data/b")
    assert [(c["path"], c["change"]) for c in out["changes"]] == [("data/b", "deleted")]


def test_diff_paths_select_artifacts(repo, mlvc):
    v1, v2 = _history(repo, mlvc)
    out = _json(mlvc, v1, v2, "model.pkl", "extra.bin")
    assert [c["path"] for c in out["changes"]] == ["extra.bin", "model.pkl"]
    os.chdir(repo.root / "data")
    out = _json(mlvc, v1, v2, "sub")  # relative to where the user stands
    assert [c["path"] for c in out["changes"]] == ["data/sub"]


def test_diff_untracked_path_is_one_line(repo, mlvc):
    v1, v2 = _history(repo, mlvc)
    r = mlvc("diff", v1, v2, "nothing.txt")
    assert r.exit_code == 3
    assert "nothing.txt is not tracked at" in one_line_error(r)


def test_diff_stage_outs_are_artifacts(repo, mlvc):
    repo.root.gen("in.txt", "1")
    assert mlvc("stage", "add", "double", "-d", "in.txt", "-o", "out.txt", "cat in.txt in.txt > out.txt").exit_code == 0
    assert mlvc("repro").exit_code == 0
    v1 = repo.commit("v1")
    repo.root.gen("in.txt", "22")
    assert mlvc("repro").exit_code == 0
    v2 = repo.commit("v2")
    out = _json(mlvc, v1, v2)
    assert [(c["path"], c["change"], c["stage"], c["new"]["size"]) for c in out["changes"]] == [
        ("out.txt", "modified", "double", 4)]


def test_diff_missing_tree_names_it_and_exits_3(repo, mlvc):
    v1, v2 = _history(repo, mlvc)
    from mlvc.formats.lock import read_lock
    old_tree = read_lock(str(repo.root)).artifacts["data"].oid
    os.chdir(repo.root)
    repo.git("checkout", "-q", v1)
    v1_tree = read_lock(str(repo.root)).artifacts["data"].oid
    repo.git("checkout", "-q", "main")
    assert old_tree != v1_tree
    shutil.rmtree(cache_dir(repo.root))
    r = mlvc("diff", v1, v2)
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "of data" in line and "is not in the cache" in line and "mlvc fetch" in line
    assert (v1_tree in line) or (old_tree in line)
    # Without a folder to compare, the artifacts' ids alone answer.
    assert [c["path"] for c in _json(mlvc, v1, v2, "model.pkl", "extra.bin")["changes"]] == ["extra.bin",
                                                                                            "model.pkl"]


def test_diff_help_has_example(mlvc):
    r = mlvc("diff", "--help")
    assert "Example: mlvc diff" in r.stdout


def test_diff_hardlinked_executables_are_not_mode_changes(repo, mlvc):
    """In hardlink mode a workspace file is the cache object, with its mode: the recorded bit holds."""
    assert mlvc("config", "cache.type", "hardlink,copy").exit_code == 0
    repo.root.gen({"tools": {"run.sh": "#!/bin/sh\n", "lib.txt": "l"}, "go.sh": "#!/bin/sh\necho\n"})
    os.chmod(repo.root / "tools" / "run.sh", 0o755)
    os.chmod(repo.root / "go.sh", 0o755)
    assert mlvc("add", "tools", "go.sh").exit_code == 0
    repo.commit("tools")
    assert not os.access(repo.root / "go.sh", os.X_OK)  # the link has the object's mode
    assert _json(mlvc)["changes"] == []
    assert mlvc("checkout").exit_code == 0
    assert _json(mlvc)["changes"] == []
