import json
import os
import shutil
import stat

import pytest
from funcutil import object_path, oid_of, one_line_error, read_lock, snapshot, tree_lines, workspace_files

V1 = {"a.csv": b"a1", "b.csv": b"b1", "sub/c.csv": b"c1", "sub/deep/d.csv": b"d1"}
V2 = {"a.csv": b"a2 changed", "sub/c.csv": b"c1", "e.csv": b"e new", "sub/new/f.csv": b"f new"}


def _write(folder, files):
    for rel, data in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(p):
            os.unlink(p)  # a link into the cache in link modes: never write through it
        p.write_bytes(data)


def _two_versions(repo, mlvc):
    """data/ and model.pkl in two git commits; the workspace is at v2. Returns (sha1, sha2)."""
    _write(repo.root / "data", V1)
    repo.root.gen("model.pkl", b"model-1")
    assert mlvc("add", "data", "model.pkl").exit_code == 0
    sha1 = repo.commit("data v1")
    shutil.rmtree(repo.root / "data")
    _write(repo.root / "data", V2)
    os.unlink(repo.root / "model.pkl")
    (repo.root / "model.pkl").write_bytes(b"model-2, longer")
    r = mlvc("commit")
    assert r.exit_code == 0, r.output
    sha2 = repo.commit("data v2")
    assert workspace_files(repo.root / "data") == V2
    return sha1, sha2


def test_git_checkout_old_commit_then_mlvc_checkout(repo, mlvc):
    sha1, sha2 = _two_versions(repo, mlvc)
    repo.git("checkout", "-q", sha1)
    assert mlvc("status", "--check").exit_code == 1
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == V1  # b, d back; e, f gone
    assert (repo.root / "model.pkl").read_bytes() == b"model-1"
    assert not (repo.root / "data" / "sub" / "new").exists()  # emptied folders are pruned
    assert mlvc("status", "--check").exit_code == 0
    # and forward again
    repo.git("checkout", "-q", "main")
    r = mlvc("checkout", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert sorted(out["added"]) == ["data/e.csv", "data/sub/new/f.csv"]
    assert sorted(out["modified"]) == ["data/a.csv", "model.pkl"]
    assert sorted(out["deleted"]) == ["data/b.csv", "data/sub/deep/d.csv"]
    assert out["unchanged"] == 1
    assert workspace_files(repo.root / "data") == V2
    assert (repo.root / "model.pkl").read_bytes() == b"model-2, longer"
    assert not (repo.root / "data" / "sub" / "deep").exists()
    # git itself sees no change: the data is ignored and mlvc.lock matches HEAD
    assert repo.git("status", "--porcelain") == ""


def test_checkout_when_up_to_date(repo, mlvc):
    _two_versions(repo, mlvc)
    before = snapshot(repo.root)
    r = mlvc("checkout")
    assert r.exit_code == 0
    assert "already matches" in r.stdout
    assert snapshot(repo.root) == before


def test_checkout_removes_files_the_record_does_not_have_when_cached(repo, mlvc):
    sha1, _ = _two_versions(repo, mlvc)
    # a file that happens to be in the cache (same content as a recorded one) may be deleted safely
    repo.root.gen("data/copy-of-a.csv", "a2 changed")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == V2


def test_checkout_into_empty_workspace(repo, mlvc):
    _two_versions(repo, mlvc)
    shutil.rmtree(repo.root / "data")
    os.unlink(repo.root / "model.pkl")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == V2
    assert (repo.root / "model.pkl").read_bytes() == b"model-2, longer"


def test_checkout_one_path(repo, mlvc):
    _two_versions(repo, mlvc)
    shutil.rmtree(repo.root / "data")
    os.unlink(repo.root / "model.pkl")
    assert mlvc("checkout", "model.pkl").exit_code == 0
    assert (repo.root / "model.pkl").exists() and not (repo.root / "data").exists()
    r = mlvc("checkout", "untracked")
    assert r.exit_code == 3 and "not tracked" in one_line_error(r)


@pytest.mark.parametrize("change", ["modify", "add", "replace-dir-by-file", "modify-file-artifact"])
def test_checkout_refuses_to_lose_uncached_changes(repo, mlvc, change):
    sha1, _ = _two_versions(repo, mlvc)
    repo.git("checkout", "-q", sha1)
    if change == "modify":
        (repo.root / "data" / "a.csv").write_bytes(b"precious local edit")
        lost = "data/a.csv"
    elif change == "add":
        repo.root.gen("data/sub/precious.csv", "only copy")
        lost = "data/sub/precious.csv"
    elif change == "replace-dir-by-file":
        shutil.rmtree(repo.root / "data")
        repo.root.gen("data", "a file where the folder was")
        lost = "data"
    else:
        (repo.root / "model.pkl").write_bytes(b"precious model")
        lost = "model.pkl"
    before = snapshot(repo.root)
    r = mlvc("checkout")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "local changes" in line and lost in line and "--force" in line
    assert snapshot(repo.root) == before  # nothing at all changed, not even the other artifacts
    r = mlvc("checkout", "--force")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == V1
    assert (repo.root / "model.pkl").read_bytes() == b"model-1"


def test_checkout_missing_object_changes_nothing(repo, mlvc):
    sha1, _ = _two_versions(repo, mlvc)
    tree = tree_lines(repo.root, read_lock(repo.root)["artifacts"]["data"]["oid"])
    repo.git("checkout", "-q", sha1)
    # b.csv exists only in v1: drop it from the cache
    os.unlink(object_path(repo.root, oid_of(b"b1")))
    assert oid_of(b"b1") not in tree.values()
    before = snapshot(repo.root)
    for args in (["checkout"], ["checkout", "--force"]):
        r = mlvc(*args)
        assert r.exit_code == 3
        line = one_line_error(r)
        assert "not in the cache" in line and oid_of(b"b1") in line
        assert snapshot(repo.root) == before


def test_checkout_missing_tree_object(repo, mlvc):
    sha1, _ = _two_versions(repo, mlvc)
    repo.git("checkout", "-q", sha1)
    os.unlink(object_path(repo.root, read_lock(repo.root)["artifacts"]["data"]["oid"]))
    before = snapshot(repo.root)
    r = mlvc("checkout")
    assert r.exit_code == 3
    assert "not in the cache" in one_line_error(r)
    assert snapshot(repo.root) == before


def _is_read_only(path) -> bool:
    # Tests may run as root, for whom permission bits do not stop writes: check the bits.
    return stat.S_IMODE(os.stat(path).st_mode) & 0o222 == 0


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_link_modes_give_read_only_links_into_the_cache(repo, mlvc, kind):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    sha1, sha2 = _two_versions(repo, mlvc)
    repo.git("checkout", "-q", sha1)
    assert mlvc("checkout").exit_code == 0
    for paths, files in (("data", V1),):
        for rel, data in files.items():
            p = repo.root / paths / rel
            obj = object_path(repo.root, oid_of(data))
            if kind == "hardlink":
                assert not os.path.islink(p)
                assert os.stat(p).st_nlink >= 2
                assert os.path.samefile(p, obj)
            else:
                assert os.path.islink(p)
                assert os.path.realpath(p) == os.path.realpath(obj)
            assert p.read_bytes() == data
            assert _is_read_only(p)
            assert _is_read_only(obj)
    # also straight after `mlvc add` (not only after a checkout)
    repo.root.gen("fresh.bin", "fresh")
    assert mlvc("add", "fresh.bin").exit_code == 0
    fresh = repo.root / "fresh.bin"
    assert (os.path.islink(fresh) if kind == "symlink" else os.stat(fresh).st_nlink >= 2)
    assert _is_read_only(fresh)
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("fsck").exit_code == 0


def test_copy_mode_refuses_corrupted_object(repo, mlvc):
    assert mlvc("config", "cache.type", "copy").exit_code == 0
    sha1, _ = _two_versions(repo, mlvc)
    repo.git("checkout", "-q", sha1)
    obj = object_path(repo.root, oid_of(b"b1"))  # b.csv: only in v1, so checkout must write it
    os.chmod(obj, 0o644)
    with open(obj, "wb") as f:
        f.write(b"EVIL")
    r = mlvc("checkout")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "corrupt" in line and oid_of(b"b1") in line
    assert not (repo.root / "data" / "b.csv").exists()
    for p, data in workspace_files(repo.root).items():
        assert p.startswith(".mlvc/cache") or b"EVIL" not in data, p
    # no stray temp files were left in the workspace either
    assert not [p for p in workspace_files(repo.root / "data") if ".mlvc-tmp" in p]


def test_copy_mode_refuses_corrupted_object_when_replacing_a_file(repo, mlvc):
    assert mlvc("config", "cache.type", "copy").exit_code == 0
    _two_versions(repo, mlvc)
    os.unlink(repo.root / "model.pkl")
    obj = object_path(repo.root, oid_of(b"model-2, longer"))
    os.chmod(obj, 0o644)
    with open(obj, "wb") as f:
        f.write(b"EVIL model, same len")
    r = mlvc("checkout", "model.pkl")
    assert r.exit_code == 3
    assert "corrupt" in one_line_error(r)
    assert not (repo.root / "model.pkl").exists()


def test_checkout_file_in_place_of_folder_artifact_with_force(repo, mlvc):
    _two_versions(repo, mlvc)
    os.unlink(repo.root / "model.pkl")
    repo.root.gen({"model.pkl": {"inner.txt": "x"}})
    r = mlvc("checkout")
    assert r.exit_code == 3  # inner.txt is not in the cache
    assert (repo.root / "model.pkl" / "inner.txt").exists()
    assert mlvc("checkout", "--force").exit_code == 0
    assert (repo.root / "model.pkl").read_bytes() == b"model-2, longer"


def test_checkout_when_a_file_sits_where_the_parent_folder_was(repo, mlvc):
    """data/images is tracked; the user made `data` a file. An OS error is a plain error (3), never 'internal'."""
    repo.root.gen({"data/images/a.png": "a"})
    assert mlvc("add", "data/images").exit_code == 0
    shutil.rmtree(repo.root / "data")
    repo.root.gen("data", "my notes")
    r = mlvc("checkout")
    assert r.exit_code == 3, r.output
    assert "internal error" not in one_line_error(r)
    assert (repo.root / "data").read_text() == "my notes"


def test_status_when_a_file_sits_where_the_parent_folder_was(repo, mlvc):
    repo.root.gen({"data/images/a.png": "a"})
    assert mlvc("add", "data/images").exit_code == 0
    shutil.rmtree(repo.root / "data")
    repo.root.gen("data", "my notes")
    r = mlvc("status", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["artifacts"][0]["status"] == "missing"


@pytest.mark.parametrize("kind", ["copy", "reflink,copy"])  # linked files have the object's mode (documented)
def test_checkout_keeps_the_executable_bit(repo, mlvc, kind):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"tools/run.sh": "#!/bin/sh\n", "tools/data.txt": "d"})
    os.chmod(repo.root / "tools" / "run.sh", 0o755)
    assert mlvc("add", "tools").exit_code == 0
    shutil.rmtree(repo.root / "tools")
    assert mlvc("checkout").exit_code == 0
    assert os.stat(repo.root / "tools" / "run.sh").st_mode & 0o100
    assert not os.stat(repo.root / "tools" / "data.txt").st_mode & 0o100
    assert mlvc("status", "--check").exit_code == 0


def test_checkout_of_an_older_large_file_replaces_it_whole(repo, mlvc):
    # Over 4 MiB: the old file is removed first (its content is in the cache), the new one
    # written unnamed in its folder and given its name whole; nothing is left beside it.
    big_v1 = os.urandom(5 * 1024 * 1024)
    repo.root.gen({"data": {"big.bin": big_v1, "small.txt": "s1"}})
    assert mlvc("add", "data").exit_code == 0
    repo.commit("v1")
    big_v2 = big_v1[:1000] + b"changed" + big_v1[1007:]
    (repo.root / "data" / "big.bin").write_bytes(big_v2)
    (repo.root / "data" / "small.txt").write_text("s2")
    assert mlvc("commit").exit_code == 0
    repo.commit("v2")
    repo.git("checkout", "-q", "HEAD~1")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert (repo.root / "data" / "big.bin").read_bytes() == big_v1
    assert (repo.root / "data" / "small.txt").read_text() == "s1"
    assert sorted(os.listdir(repo.root / "data")) == ["big.bin", "small.txt"]
    assert mlvc("status", "--check").exit_code == 0


def test_checkout_of_an_artifact_never_recorded_says_so(repo, mlvc):
    repo.root.gen({"a.bin": "a", "later": {"x": "x"}})
    assert mlvc("add", "a.bin").exit_code == 0
    (repo.root / "mlvc.yaml").write_text("schema: 2\nartifacts:\n- a.bin\n- later\n")  # listed by hand
    r = mlvc("checkout", "later")
    assert r.exit_code == 3
    assert "later has no recorded version in mlvc.lock" in r.stderr and "mlvc commit later" in r.stderr
    assert mlvc("checkout").exit_code == 0  # with no path: what is recorded
