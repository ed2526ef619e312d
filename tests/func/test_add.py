import os
import re

import pytest
from funcutil import cache_oids, object_path, oid_of, one_line_error, read_lock, read_project, snapshot, tree_lines


def test_add_file(repo, mlvc):
    repo.root.gen("model.pkl", b"weights-v1")
    r = mlvc("add", "model.pkl")
    assert r.exit_code == 0, r.output
    assert "git add .gitignore mlvc.yaml mlvc.lock" in r.stdout
    lock = read_lock(repo.root)
    assert lock == {"schema": 2, "artifacts": {"model.pkl": {"oid": oid_of(b"weights-v1"), "size": 10}}}
    assert read_project(repo.root) == {"schema": 2, "artifacts": ["model.pkl"]}
    assert "/model.pkl" in (repo.root / ".gitignore").read_text().splitlines()
    assert repo.git("check-ignore", "model.pkl").strip() == "model.pkl"
    with open(object_path(repo.root, oid_of(b"weights-v1")), "rb") as f:
        assert f.read() == b"weights-v1"
    assert (repo.root / "model.pkl").read_bytes() == b"weights-v1"


def test_add_folder(repo, mlvc):
    repo.root.gen({"data/images": {"a.png": "aa", "b.png": "bbb", "sub": {"c.png": "c"}}})
    r = mlvc("add", "data/images")
    assert r.exit_code == 0, r.output
    assert "git add data/.gitignore mlvc.yaml mlvc.lock" in r.stdout
    entry = read_lock(repo.root)["artifacts"]["data/images"]
    assert set(entry) == {"oid", "size", "nfiles"}
    assert re.fullmatch(r"[0-9a-f]{32}\.tree", entry["oid"])
    assert entry["size"] == 6 and entry["nfiles"] == 3
    assert tree_lines(repo.root, entry["oid"]) == {
        "a.png": oid_of(b"aa"), "b.png": oid_of(b"bbb"), "sub/c.png": oid_of(b"c")}
    for content in (b"aa", b"bbb", b"c"):
        assert oid_of(content) in cache_oids(repo.root)
    assert (repo.root / "data" / ".gitignore").read_text().splitlines() == ["/images"]
    assert not (repo.root / ".gitignore").exists()
    assert repo.git("check-ignore", "data/images/sub/c.png").strip() == "data/images/sub/c.png"
    # git sees only what the user should commit.
    changed = {line[3:] for line in repo.git("status", "--porcelain", "--untracked-files=all").splitlines()}
    assert changed == {"data/.gitignore", "mlvc.yaml", "mlvc.lock"}


def test_add_several_paths_and_json(repo, mlvc):
    repo.root.gen({"a.txt": "a", "d": {"x": "x"}})
    r = mlvc("add", "a.txt", "d", "--json")
    assert r.exit_code == 0, r.output
    import json

    out = json.loads(r.stdout)
    assert [a["path"] for a in out["artifacts"]] == ["a.txt", "d"]
    assert out["artifacts"][1]["type"] == "dir" and out["artifacts"][1]["nfiles"] == 1
    assert out["git_add"] == [".gitignore", "mlvc.yaml", "mlvc.lock"]
    assert sorted(read_project(repo.root)["artifacts"]) == ["a.txt", "d"]
    assert (repo.root / ".gitignore").read_text().splitlines() == ["/a.txt", "/d"]


def test_add_from_a_subfolder(repo, mlvc, monkeypatch):
    repo.root.gen({"data/raw/a.csv": "1,2\n"})
    monkeypatch.chdir(repo.root / "data")
    r = mlvc("add", "raw")
    assert r.exit_code == 0, r.output
    assert "data/raw" in read_lock(repo.root)["artifacts"]


def test_add_again_after_change_updates_record(repo, mlvc):
    repo.root.gen({"data": {"a": "1", "b": "2"}})
    assert mlvc("add", "data").exit_code == 0
    v1 = read_lock(repo.root)["artifacts"]["data"]
    (repo.root / "data" / "a").write_text("one, changed")
    repo.root.gen("data/c", "3")
    r = mlvc("add", "data")
    assert r.exit_code == 0, r.output
    v2 = read_lock(repo.root)["artifacts"]["data"]
    assert v2["oid"] != v1["oid"]
    assert v2["nfiles"] == 3 and v2["size"] == len("one, changed") + 2
    assert tree_lines(repo.root, v2["oid"])["a"] == oid_of(b"one, changed")
    # the old version stays in the cache; nothing is listed twice
    assert v1["oid"] in cache_oids(repo.root)
    assert read_project(repo.root)["artifacts"] == ["data"]
    assert (repo.root / ".gitignore").read_text().splitlines() == ["/data"]
    # adding once more without a change says so and keeps the lock's bytes
    before = (repo.root / "mlvc.lock").read_bytes()
    r = mlvc("add", "data")
    assert r.exit_code == 0 and "Unchanged data" in r.stdout
    assert (repo.root / "mlvc.lock").read_bytes() == before


@pytest.fixture
def outside(tmp_path_factory):
    d = tmp_path_factory.mktemp("outside")
    (d / "secret.txt").write_text("not yours")
    return d


def _refusal_setup(repo, mlvc):
    repo.root.gen({"tracked": {"in.txt": "in"}, "gitfile.txt": "in git", "free.txt": "free",
                   "outer": {"x.txt": "x"}})
    repo.commit("git file", "gitfile.txt")
    assert mlvc("add", "tracked").exit_code == 0
    assert mlvc("add", "outer/x.txt").exit_code == 0


@pytest.mark.parametrize("args, words", [
    (["OUTSIDE"], "outside the repository"),
    (["../OUTSIDE_NAME/secret.txt"], "outside the repository"),
    ([".git/config"], ".git"),
    ([".git"], ".git"),
    ([".mlvc/config"], ".mlvc"),
    ([".mlvc/cache"], ".mlvc"),
    (["gitfile.txt"], "tracked by git"),
    (["tracked/in.txt"], "inside the tracked artifact tracked"),
    (["outer"], "contains the tracked artifact outer/x.txt"),
    (["does-not-exist"], "does not exist"),
    (["free.txt", "does-not-exist"], "does not exist"),  # nothing is added when one path is bad
    (["mlvc.lock"], "mlvc's own file"),
    (["."], "repository root"),
])
def test_add_refusals_change_nothing(repo, mlvc, outside, args, words):
    _refusal_setup(repo, mlvc)
    args = [a.replace("OUTSIDE_NAME", outside.name).replace("OUTSIDE", str(outside / "secret.txt"))
            if "OUTSIDE" in a else a for a in args]
    if args[0].startswith("../"):
        # relative to a folder beside the outside one: make the path climb out of the repo
        args[0] = os.path.relpath(outside / "secret.txt", repo.root)
    before = snapshot(repo.root)
    outside_before = snapshot(outside)
    r = mlvc("add", *args)
    assert r.exit_code == 3, r.output
    assert words in one_line_error(r)
    assert snapshot(repo.root) == before
    assert snapshot(outside) == outside_before


def test_add_nothing_is_usage_error(repo, mlvc):
    r = mlvc("add")
    assert r.exit_code == 2


def test_add_symlink_into_outside_folder_refused(repo, mlvc, outside):
    os.symlink(outside, repo.root / "link")
    before = snapshot(repo.root)
    outside_before = snapshot(outside)
    r = mlvc("add", "link/secret.txt")
    assert r.exit_code == 3
    assert "outside the repository" in one_line_error(r)
    assert snapshot(repo.root) == before
    assert snapshot(outside) == outside_before  # no .gitignore written out there


@pytest.mark.parametrize("name", ["my data", "ünï cödé.csv", "[1] *star?.csv", "#hash", "!bang", "trailing ",
                                  "a\tb"])
def test_add_odd_names_are_ignored_by_git(repo, mlvc, name):
    """Every name gets a .gitignore line that matches exactly it (git check-ignore agrees)."""
    repo.root.gen({f"sub/{name}": "x", "sub/other.csv": "o", "sub/1 star.csv": "o"})
    r = mlvc("add", f"sub/{name}")
    assert r.exit_code == 0, r.output
    porcelain = repo.git("status", "--porcelain", "-z", "--untracked-files=all").split("\0")
    untracked = sorted(e[3:] for e in porcelain if e.startswith("??"))
    assert untracked == ["mlvc.lock", "mlvc.yaml", "sub/.gitignore", "sub/1 star.csv", "sub/other.csv"]
    assert mlvc("remove", f"sub/{name}").exit_code == 0
    assert not (repo.root / "sub" / ".gitignore").exists()


def _stage_repo(repo):
    repo.root.gen({"raw.txt": "abc", "mlvc.yaml": (
        "schema: 2\nstages:\n  make:\n    cmd: mkdir -p out && cp raw.txt out/a.txt && cp raw.txt m.json\n"
        "    deps: [raw.txt]\n    outs: [out]\n    metrics: [m.json]\n")})
    repo.commit("a stage")
    return repo.root


@pytest.mark.parametrize("ran", [False, True], ids=["before repro", "after repro"])
@pytest.mark.parametrize("path, words", [
    ("out", "out is an out of stage 'make'"),
    ("out/a.txt", "out/a.txt is inside out, an out of stage 'make'"),
    ("m.json", "m.json is an out of stage 'make'"),
])
def test_add_of_a_stage_out_is_refused_naming_the_stage(repo, mlvc, ran, path, words):
    root = _stage_repo(repo)
    if ran:
        assert mlvc("repro").exit_code == 0
    else:
        root.gen({"out/a.txt": "by hand", "m.json": "{}"})
    before = snapshot(root)
    r = mlvc("add", path)
    assert r.exit_code == 3
    assert one_line_error(r) == (f"error: {words}; `mlvc repro make` records it in mlvc.lock; after changing it "
                                 f"by hand, `mlvc commit {path.split('/')[0]}` records that version")
    assert snapshot(root) == before  # mlvc.yaml, mlvc.lock, .gitignore and cache untouched
    assert mlvc("status").exit_code == 0  # mlvc.yaml still reads


def test_add_of_a_folder_holding_a_stage_out_is_refused(repo, mlvc):
    root = _stage_repo(repo)
    root.gen("data/x.txt", "x")
    (root / "mlvc.yaml").write_text((root / "mlvc.yaml").read_text().replace("outs: [out]", "outs: [data/out]"))
    r = mlvc("add", "data")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: data holds data/out, an out of stage 'make'; ")
    assert mlvc("add", "raw.txt").exit_code == 3  # tracked by git: refused as before
    root.gen("other.bin", "o")
    assert mlvc("add", "other.bin").exit_code == 0  # beside stages, an artifact is added as ever
    assert "other.bin" in read_project(root)["artifacts"]


def test_adding_a_file_inside_a_tracked_folder_points_to_committing_that_part(repo, mlvc):
    repo.root.gen({"data": {"a.txt": "a"}})
    assert mlvc("add", "data").exit_code == 0
    repo.root.gen("data/b.txt", "b")
    r = mlvc("add", "data/b.txt")
    assert r.exit_code == 3
    assert "`mlvc commit data/b.txt` records it as part of data" in r.stderr  # it said: commit data as a whole
    assert mlvc("commit", "data/b.txt").exit_code == 0  # and the hint works
    assert mlvc("status", "--check").exit_code == 0
