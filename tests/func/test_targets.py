"""What is tracked (one rule for every verb), and paths inside a tracked folder."""

import json
import os
import shutil

import yaml
from funcutil import object_path, oid_of, one_line_error, read_lock, read_project, snapshot, tree_lines

IMAGES = {"cat.png": b"cat", "dog.png": b"dog", "sub/a.png": b"a", "sub/deep/b.png": b"b"}


def _images(repo, mlvc):
    for rel, data in IMAGES.items():
        repo.root.gen(f"data/images/{rel}", data)
    repo.root.gen("model.pkl", "m1")
    r = mlvc("add", "data/images", "model.pkl")
    assert r.exit_code == 0, r.output
    return repo.root / "data" / "images"


def _unlist(repo, path):
    """Take ``path`` out of mlvc.yaml by hand, as a user (or a merge) might."""
    project = read_project(repo.root)
    project["artifacts"].remove(path)
    (repo.root / "mlvc.yaml").write_text(yaml.safe_dump(project))


# ---------------------------------------------------------------- one rule


def test_a_lock_entry_not_in_mlvc_yaml_is_not_tracked(repo, mlvc):
    _images(repo, mlvc)
    _unlist(repo, "model.pkl")
    (repo.root / "model.pkl").write_text("edited, not recorded")

    r = mlvc("status")
    assert "model.pkl    not in mlvc.yaml" in r.stdout
    assert "`mlvc commit` drops it from mlvc.lock" in r.stdout
    assert mlvc("status", "--check").exit_code == 1
    by_path = {a["path"]: a for a in json.loads(mlvc("status", "--json").stdout)["artifacts"]}
    assert by_path["model.pkl"]["status"] == "not in mlvc.yaml"

    # checkout never touches it, even with --force
    r = mlvc("checkout", "--force")
    assert r.exit_code == 0, r.output
    assert (repo.root / "model.pkl").read_text() == "edited, not recorded"
    r = mlvc("checkout", "model.pkl")
    assert r.exit_code == 3 and "is in mlvc.lock but not in mlvc.yaml" in one_line_error(r)

    # commit drops it from mlvc.lock and its .gitignore line, and says so
    r = mlvc("commit")
    assert r.exit_code == 0, r.output
    assert "Dropped model.pkl from mlvc.lock" in r.stdout
    assert "git add .gitignore mlvc.lock" in r.stdout
    assert "model.pkl" not in read_lock(repo.root)["artifacts"]
    assert not (repo.root / ".gitignore").exists()  # its one line removed, then the empty file
    assert (repo.root / "model.pkl").read_text() == "edited, not recorded"
    assert mlvc("status", "--check").exit_code == 0


def test_commit_json_lists_what_it_dropped(repo, mlvc):
    _images(repo, mlvc)
    _unlist(repo, "model.pkl")
    out = json.loads(mlvc("commit", "--json").stdout)
    assert out["dropped"] == ["model.pkl"]
    assert out["git_add"] == [".gitignore", "mlvc.lock"]


def test_remove_of_a_lock_entry_not_in_mlvc_yaml(repo, mlvc):
    _images(repo, mlvc)
    _unlist(repo, "model.pkl")
    r = mlvc("remove", "model.pkl")
    assert r.exit_code == 0, r.output
    assert "model.pkl" not in read_lock(repo.root)["artifacts"]


# ---------------------------------------------------------------- inside a tracked folder


def test_checkout_one_file_inside_a_folder(repo, mlvc):
    images = _images(repo, mlvc)
    os.unlink(images / "cat.png")
    (images / "dog.png").write_bytes(b"dog edited")
    r = mlvc("checkout", "data/images/cat.png")
    assert r.exit_code == 0, r.output
    assert (images / "cat.png").read_bytes() == b"cat"
    assert (images / "dog.png").read_bytes() == b"dog edited"  # the rest is left as it is


def test_checkout_a_sub_folder_inside_a_folder(repo, mlvc, monkeypatch):
    images = _images(repo, mlvc)
    shutil.rmtree(images / "sub")
    (images / "cat.png").write_bytes(b"cat edited")
    monkeypatch.chdir(images)
    r = mlvc("checkout", "--json", "sub")
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(r.stdout)["added"]) == ["data/images/sub/a.png", "data/images/sub/deep/b.png"]
    assert (images / "sub" / "deep" / "b.png").read_bytes() == b"b"
    assert (images / "cat.png").read_bytes() == b"cat edited"
    # a file added there that the record lacks is deleted when its content is in the cache
    (images / "sub" / "extra.png").write_bytes(b"dog")
    assert mlvc("checkout", "sub").exit_code == 0
    assert not (images / "sub" / "extra.png").exists()


def test_checkout_inside_a_folder_keeps_uncached_changes_without_force(repo, mlvc):
    images = _images(repo, mlvc)
    (images / "sub" / "a.png").write_bytes(b"a edited")
    (images / "sub" / "new.png").write_bytes(b"new")
    before = snapshot(repo.root)
    r = mlvc("checkout", "data/images/sub")
    assert r.exit_code == 3
    assert "data/images/sub/a.png, data/images/sub/new.png" in one_line_error(r)
    assert snapshot(repo.root) == before
    r = mlvc("checkout", "--force", "data/images/sub")
    assert r.exit_code == 0, r.output
    assert (images / "sub" / "a.png").read_bytes() == b"a"
    assert not (images / "sub" / "new.png").exists()


def test_checkout_inside_a_folder_with_an_object_missing_changes_nothing(repo, mlvc):
    images = _images(repo, mlvc)
    shutil.rmtree(images / "sub")
    os.chmod(object_path(repo.root, oid_of(b"b")), 0o644)
    os.unlink(object_path(repo.root, oid_of(b"b")))
    before = snapshot(repo.root)
    r = mlvc("checkout", "data/images/sub")
    assert r.exit_code == 3 and "not in the cache" in one_line_error(r)
    assert snapshot(repo.root) == before


def test_checkout_of_a_path_the_record_does_not_have(repo, mlvc):
    images = _images(repo, mlvc)
    (images / "stray.png").write_bytes(b"stray")
    r = mlvc("checkout", "data/images/stray.png")
    assert r.exit_code == 3 and "is not in the recorded version of data/images" in one_line_error(r)
    assert (images / "stray.png").exists()


def test_status_of_a_part_of_a_folder(repo, mlvc):
    images = _images(repo, mlvc)
    (images / "cat.png").write_bytes(b"cat edited")
    (images / "sub" / "a.png").write_bytes(b"a edited")
    os.unlink(images / "sub" / "deep" / "b.png")
    r = mlvc("status", "--json", "data/images/sub")
    assert r.exit_code == 0, r.output
    (art,) = json.loads(r.stdout)["artifacts"]
    assert art["path"] == "data/images/sub" and art["status"] == "modified" and art["type"] == "dir"
    assert [(c["path"], c["change"]) for c in art["changes"]] == [
        ("data/images/sub/a.png", "modified"), ("data/images/sub/deep/b.png", "deleted")]
    assert mlvc("status", "--check", "data/images/dog.png").exit_code == 0
    r = mlvc("status", "data/images/cat.png")
    assert "data/images/cat.png  modified" in r.stdout


def test_commit_one_file_inside_a_folder_splices_it_into_the_tree(repo, mlvc):
    images = _images(repo, mlvc)
    old_tree = read_lock(repo.root)["artifacts"]["data/images"]["oid"]
    (images / "cat.png").write_bytes(b"cat edited")
    (images / "sub" / "a.png").write_bytes(b"a edited")  # not named: stays unrecorded
    r = mlvc("commit", "data/images/cat.png")
    assert r.exit_code == 0, r.output
    assert "Recorded data/images/cat.png in data/images (4 files," in r.stdout
    entry = read_lock(repo.root)["artifacts"]["data/images"]
    assert entry["oid"] != old_tree and entry["nfiles"] == 4
    assert tree_lines(repo.root, entry["oid"]) == {
        "cat.png": oid_of(b"cat edited"), "dog.png": oid_of(b"dog"), "sub/a.png": oid_of(b"a"),
        "sub/deep/b.png": oid_of(b"b")}
    assert os.path.exists(object_path(repo.root, oid_of(b"cat edited")))
    assert not os.path.exists(object_path(repo.root, oid_of(b"a edited")))
    by_path = {a["path"]: a for a in json.loads(mlvc("status", "--json").stdout)["artifacts"]}
    assert [(c["path"], c["change"]) for c in by_path["data/images"]["changes"]] == [
        ("data/images/sub/a.png", "modified")]
    # the recorded tree is whole: a checkout from it puts back the recorded sub/a.png
    assert mlvc("checkout", "--force").exit_code == 0
    assert (images / "sub" / "a.png").read_bytes() == b"a"
    assert (images / "cat.png").read_bytes() == b"cat edited"


def test_commit_a_sub_folder_with_files_added_and_deleted(repo, mlvc):
    images = _images(repo, mlvc)
    shutil.rmtree(images / "sub" / "deep")
    (images / "sub" / "c.png").write_bytes(b"c")
    (images / "new.png").write_bytes(b"new")  # outside the part: stays unrecorded
    r = mlvc("commit", "data/images/sub")
    assert r.exit_code == 0, r.output
    entry = read_lock(repo.root)["artifacts"]["data/images"]
    assert tree_lines(repo.root, entry["oid"]) == {
        "cat.png": oid_of(b"cat"), "dog.png": oid_of(b"dog"), "sub/a.png": oid_of(b"a"), "sub/c.png": oid_of(b"c")}
    assert entry["nfiles"] == 4 and entry["size"] == 3 + 3 + 1 + 1
    # the deleted file recorded as deleted: committing the same again changes nothing
    r = mlvc("commit", "data/images/sub")
    assert "Unchanged data/images" in r.stdout and "git add" not in r.stdout
    # a whole commit from there gives the same tree as the spliced one plus new.png
    assert mlvc("commit", "data/images").exit_code == 0
    assert tree_lines(repo.root, read_lock(repo.root)["artifacts"]["data/images"]["oid"])["new.png"] == oid_of(b"new")


def test_a_part_through_a_symlink_to_a_folder_is_refused(repo, mlvc):
    images = _images(repo, mlvc)
    shutil.rmtree(images / "sub")
    os.makedirs(repo.root / "elsewhere")
    os.symlink(repo.root / "elsewhere", images / "sub")
    for verb in ("status", "checkout", "commit"):
        before = snapshot(repo.root)
        r = mlvc(verb, "data/images/sub/a.png")
        assert r.exit_code == 3 and "symlink to a folder" in one_line_error(r), verb
        assert snapshot(repo.root) == before


def test_commit_of_a_part_drops_an_object_written_through_its_link(repo, mlvc):
    # As a whole commit does: root ignores the read-only mode, so an append in hardlink mode
    # changes the cache object; the part's commit records the bytes' id and drops the object.
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    images = _images(repo, mlvc)
    with open(images / "cat.png", "ab") as f:
        f.write(b" and more")
    r = mlvc("commit", "data/images/cat.png")
    assert r.exit_code == 0, r.output
    assert f"cache object {oid_of(b'cat')} was damaged" in r.stderr
    assert not os.path.exists(object_path(repo.root, oid_of(b"cat")))
    entry = read_lock(repo.root)["artifacts"]["data/images"]
    assert tree_lines(repo.root, entry["oid"])["cat.png"] == oid_of(b"cat and more")
    assert os.path.samefile(images / "cat.png", object_path(repo.root, oid_of(b"cat and more")))
