"""`mlvc get`, `mlvc import` and `mlvc update`: data recorded in another git repository (the
source), downloaded from its remote. Real git repositories in tmp_path: a source with data
pushed to a local-folder remote (its URL relative to the source, as `mlvc remote add ../store`
writes it), read by local path and by file:// URL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from funcutil import cache_oids, one_line_error, read_lock, read_project, snapshot, workspace_files

IMAGES = {"a.txt": b"a\n", "sub/b.txt": b"b\n", "run.sh": b"#!/bin/sh\n"}


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@contextmanager
def inside(folder):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


@dataclass
class Source:
    root: Path
    store: Path
    mlvc: object

    def run(self, *args: str):
        with inside(self.root):
            r = self.mlvc(*args)
        assert r.exit_code == 0, r.output
        return r

    def commit(self, message: str, tag: str | None = None) -> str:
        git("add", "-A", cwd=self.root)
        git("commit", "-q", "-m", message, cwd=self.root)
        if tag:
            git("tag", tag, cwd=self.root)
        return git("rev-parse", "HEAD", cwd=self.root).strip()

    @property
    def url(self) -> str:
        return self.root.as_uri()


def make_source(base: Path, mlvc, remote: str | None = "../store", push: bool = True) -> Source:
    root = base / "src"
    (root / "data" / "images" / "sub").mkdir(parents=True)
    for name, content in IMAGES.items():
        (root / "data" / "images" / name).write_bytes(content)
    (root / "data" / "images" / "run.sh").chmod(0o755)
    (root / "model.pkl").write_bytes(b"model v1")
    git("init", "-q", "-b", "main", cwd=root)
    src = Source(root, base / "store", mlvc)
    src.run("init")
    src.run("add", "data/images", "model.pkl")
    if remote:
        src.run("remote", "add", "--default", "storage", remote)
        if push:
            src.run("push")
    src.commit("v1", tag="v1")
    return src


@pytest.fixture
def source(tmp_path_factory, mlvc) -> Source:
    return make_source(tmp_path_factory.mktemp("source"), mlvc)


SKELETON = {".mlvc/cache": ("d",), ".mlvc/cache/files": ("d",), ".mlvc/cache/files/xxh3": ("d",),
            ".mlvc/cache/lock": ("f", 0o644, b"")}


def refused(mlvc, root, *args: str, code: int = 3, cache_opened: bool = False) -> str:
    """Run the CLI; check it failed with one line and ``code`` and changed nothing under ``root``
    (with ``cache_opened``: but the empty cache folders and lock made when the cache is first used)."""
    before = snapshot(root)
    r = mlvc(*args)
    assert r.exit_code == code, r.output
    assert r.stdout == ""
    after = snapshot(root)
    if cache_opened:
        before = {**SKELETON, **before}
    assert after == before
    return one_line_error(r)


def temp_leftovers() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith(("mlvc-get-", "mlvc-config-"))}


# ---------------------------------------------------------------- get


def test_get_a_folder_outside_any_repository(source, tmp_path, mlvc):
    here = tmp_path / "plain"
    here.mkdir()
    before = temp_leftovers()
    with inside(here):
        r = mlvc("get", str(source.root), "data/images")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Downloaded data/images (3 files, 14 B) from {source.root} at HEAD (")
    assert workspace_files(here / "images") == {k: v for k, v in IMAGES.items()}
    assert os.stat(here / "images" / "run.sh").st_mode & 0o100
    assert not os.stat(here / "images" / "a.txt").st_mode & 0o100
    assert sorted(os.listdir(here)) == ["images"]  # no temp name left beside it, no cache
    assert temp_leftovers() == before


def test_get_a_file_inside_a_folder_by_file_url_with_json(source, tmp_path, mlvc):
    git("config", "uploadpack.allowFilter", "true", cwd=source.root)  # a real partial clone: blobs read lazily
    with inside(tmp_path):
        r = mlvc("get", source.url, "data/images/sub/b.txt", "-o", "b.txt", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    sha = git("rev-parse", "HEAD", cwd=source.root).strip()
    assert got["source"] == {"repo": source.url, "path": "data/images/sub/b.txt", "rev": None, "commit": sha,
                             "remote": "storage"}
    assert (got["out"], got["type"], got["size"]) == ("b.txt", "file", 2)
    assert (tmp_path / "b.txt").read_bytes() == b"b\n"


def test_get_inside_a_repository_fills_its_cache_and_tracks_nothing(source, repo, mlvc):
    before = set(cache_oids(repo.root))
    remote_before, source_before = snapshot(source.store), snapshot(source.root, skip=())
    r = mlvc("get", str(source.root), "data/images", "--rev", "v1", "-o", "copy")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "copy") == IMAGES
    assert set(cache_oids(repo.root)) - before  # the objects are in our cache now
    assert not (repo.root / "mlvc.lock").exists() and not (repo.root / "mlvc.yaml").exists()
    assert git("status", "--porcelain", cwd=repo.root) == "?? copy/\n"  # no .gitignore line: not tracked
    shutil.rmtree(repo.root / "copy")
    r = mlvc("import", str(source.root), "data/images", "--rev", "v1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["fetched"] == 0  # the cache had them all
    assert snapshot(source.store) == remote_before  # the source's remote is only read
    assert snapshot(source.root, skip=()) == source_before  # and so is the source repository, .git included


def test_get_refuses_an_existing_out_unless_forced(source, tmp_path, mlvc):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "mine.txt").write_text("mine")
    with inside(tmp_path):
        line = refused(mlvc, tmp_path, "get", str(source.root), "data/images")
        assert line == "error: images exists already; name another output with -o OUT, or --force to replace it"
        assert mlvc("get", str(source.root), "data/images", "--force").exit_code == 0
    assert workspace_files(tmp_path / "images") == IMAGES


# ---------------------------------------------------------------- import and update


def test_import_a_tag_then_update_after_the_source_moves(source, repo, mlvc):
    r = mlvc("import", str(source.root), "data/images", "--rev", "v1", "-o", "data/raw")
    assert r.exit_code == 0, r.output
    v1 = git("rev-parse", "v1", cwd=source.root).strip()
    assert r.stdout.splitlines()[0] == f"Imported data/images from {source.root} at v1 ({v1[:12]}) as data/raw " \
                                       "(3 files, 14 B)"
    assert "git add data/.gitignore mlvc.yaml mlvc.lock" in r.stdout
    entry = read_lock(repo.root)["artifacts"]["data/raw"]
    assert entry["source"] == {"repo": str(source.root), "path": "data/images", "rev": "v1", "commit": v1}
    assert entry["nfiles"] == 3
    assert read_project(repo.root)["artifacts"] == ["data/raw"]
    assert workspace_files(repo.root / "data" / "raw") == IMAGES
    assert "/raw" in (repo.root / "data" / ".gitignore").read_text()
    assert mlvc("status", "--check").exit_code == 0
    assert os.listdir(repo.root / ".mlvc" / "tmp" / "external") == []  # the clone is gone
    repo.commit("import")

    (source.root / "data" / "images" / "c.txt").write_text("c\n")
    (source.root / "data" / "images" / "a.txt").unlink()
    source.run("add", "data/images")
    source.run("push")
    v2 = source.commit("v2")

    lock_before = (repo.root / "mlvc.lock").read_bytes()
    mtime = os.stat(repo.root / "mlvc.lock").st_mtime_ns
    r = mlvc("update", "data/raw")  # the tag has not moved
    assert r.exit_code == 0, r.output
    assert r.stdout == f"data/raw is up to date with {source.root} at v1 ({v1[:12]})\n"
    assert os.stat(repo.root / "mlvc.lock").st_mtime_ns == mtime  # no write

    r = mlvc("update", "data/raw", "--rev", "main")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == (f"Updated data/raw: v1 ({v1[:12]}) -> main ({v2[:12]}), "
                                        "data changed: 1 added, 0 modified, 1 deleted")
    assert (repo.root / "mlvc.lock").read_bytes() != lock_before
    assert read_lock(repo.root)["artifacts"]["data/raw"]["source"]["commit"] == v2
    want = {k: v for k, v in IMAGES.items() if k != "a.txt"} | {"c.txt": b"c\n"}
    assert workspace_files(repo.root / "data" / "raw") == want
    assert mlvc("status", "--check").exit_code == 0

    r = mlvc("update", "data/raw", "--json")  # main has not moved since
    assert r.exit_code == 0, r.output
    [got] = json.loads(r.stdout)
    assert (got["changed"], got["written"], got["commit"]) == (False, False, v2)


def test_import_a_branch_follows_it(source, repo, mlvc):
    assert mlvc("import", source.url, "model.pkl", "--rev", "main").exit_code == 0
    (source.root / "model.pkl").write_bytes(b"model v2")
    source.run("add", "model.pkl")
    source.run("push")
    source.commit("v2")
    r = mlvc("update", "model.pkl", "--json")
    assert r.exit_code == 0, r.output
    [got] = json.loads(r.stdout)
    assert (got["changed"], got["written"], got["modified"]) == (True, True, ["model.pkl"])
    assert (repo.root / "model.pkl").read_bytes() == b"model v2"
    assert read_lock(repo.root)["artifacts"]["model.pkl"]["source"]["rev"] == "main"


def test_import_a_file_inside_a_tracked_folder(source, repo, mlvc):
    r = mlvc("import", str(source.root), "data/images/run.sh", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert (got["path"], got["type"], got["executable"]) == ("run.sh", "file", True)
    assert os.stat(repo.root / "run.sh").st_mode & 0o100
    assert read_lock(repo.root)["artifacts"]["run.sh"]["source"]["path"] == "data/images/run.sh"


def test_import_a_folder_inside_a_tracked_folder(source, repo, mlvc):
    assert mlvc("import", str(source.root), "data/images/sub", "-o", "part").exit_code == 0
    assert workspace_files(repo.root / "part") == {"b.txt": b"b\n"}
    assert read_lock(repo.root)["artifacts"]["part"]["nfiles"] == 1
    assert mlvc("status", "--check").exit_code == 0


def test_an_imported_artifact_is_data_like_any_other(source, repo, mlvc, tmp_path_factory):
    """status sees a change, checkout undoes it, gc keeps it, push sends it to our remote, and
    a clone pulls it from there with the source's remote gone."""
    assert mlvc("import", str(source.root), "data/images", "-o", "raw").exit_code == 0
    (repo.root / "raw" / "a.txt").unlink()
    assert mlvc("status", "--check").exit_code == 1
    assert mlvc("checkout", "raw").exit_code == 0
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("gc", "--workspace", "-f").exit_code == 0
    ours = tmp_path_factory.mktemp("ours") / "store"
    assert mlvc("remote", "add", "--default", "ours", str(ours)).exit_code == 0
    assert mlvc("push").exit_code == 0
    repo.commit("import raw")
    shutil.rmtree(source.store)  # the source's remote is gone
    clone = tmp_path_factory.mktemp("clone") / "c"
    git("clone", "-q", str(repo.root), str(clone), cwd=repo.root)
    with inside(clone):
        r = mlvc("pull")
    assert r.exit_code == 0, r.output
    assert workspace_files(clone / "raw") == IMAGES


def test_update_fetches_what_the_cache_lacks_from_the_source(source, repo, mlvc):
    """A clone without our remote's copy: `mlvc update` with nothing new gets the data from the source."""
    assert mlvc("import", str(source.root), "data/images", "--rev", "v1", "-o", "raw").exit_code == 0
    shutil.rmtree(repo.root / ".mlvc" / "cache")
    shutil.rmtree(repo.root / "raw")
    mtime = os.stat(repo.root / "mlvc.lock").st_mtime_ns
    r = mlvc("update", "raw")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "raw") == IMAGES
    assert os.stat(repo.root / "mlvc.lock").st_mtime_ns == mtime


# ---------------------------------------------------------------- errors: one line, nothing changed


def test_not_a_git_repository(repo, mlvc, tmp_path_factory):
    plain = tmp_path_factory.mktemp("plain")
    assert refused(mlvc, repo.root, "import", str(plain), "data") == \
        f"error: {plain} is not a git repository; give the path or URL of a git repository"
    assert refused(mlvc, repo.root, "get", str(plain / "nope"), "data").startswith(
        f"error: {plain / 'nope'} is not a folder, so it is not a git repository")


def test_an_unreachable_url(repo, mlvc):
    line = refused(mlvc, repo.root, "get", "http://127.0.0.1:9/nothing.git", "data")
    assert line.startswith("error: cannot read the git repository http://127.0.0.1:9/nothing.git: ")
    assert line.endswith("; check the URL, the network and that you may read it")


def test_an_unknown_revision(source, repo, mlvc):
    assert refused(mlvc, repo.root, "import", str(source.root), "data/images", "--rev", "v9") == (
        f"error: unknown revision 'v9' in {source.root}; name a branch, a tag or a commit of it "
        f"(see `git ls-remote {source.root}`)")
    assert refused(mlvc, repo.root, "get", str(source.root), "data/images", "--rev", "--upload-pack=x").startswith(
        "error: revision '--upload-pack=x' is not valid")


def test_a_path_not_tracked_there_says_what_is(source, repo, mlvc):
    assert refused(mlvc, repo.root, "import", str(source.root), "nothing") == (
        f"error: nothing is not tracked in {source.root}@HEAD; tracked there: data/images, model.pkl")
    assert refused(mlvc, repo.root, "get", str(source.root), "data") == (
        f"error: data holds several artifacts in {source.root}@HEAD: data/images; name one of them")
    assert refused(mlvc, repo.root, "get", str(source.root), "data/images/zzz", cache_opened=True) == (
        f"error: data/images/zzz is not in the recorded version of data/images in {source.root}@HEAD; "
        "data/images is tracked there; name a file or folder inside it")


def test_no_default_remote_there(repo, mlvc, tmp_path_factory):
    src = make_source(tmp_path_factory.mktemp("noremote"), mlvc, remote=None)
    assert refused(mlvc, repo.root, "import", str(src.root), "model.pkl") == (
        f"error: {src.root} has no default remote at HEAD (it has none); name one with --remote NAME, "
        "or ask its owners to set one (`mlvc remote default`)")
    assert refused(mlvc, repo.root, "import", str(src.root), "model.pkl", "--remote", "x") == (
        f"error: {src.root} has no remote named 'x' at HEAD (it has none); name one of its remotes with --remote NAME")


def test_the_remote_lacks_the_objects(repo, mlvc, tmp_path_factory):
    src = make_source(tmp_path_factory.mktemp("unpushed"), mlvc, push=False)
    line = refused(mlvc, repo.root, "import", str(src.root), "model.pkl", cache_opened=True)
    assert line.startswith(f"error: remote 'storage' of {src.root} lacks 1 object(s) of model.pkl at HEAD (first: ")
    assert line.endswith("its data was never pushed there: ask for `mlvc push` in that repository, "
                         "or name another of its remotes with --remote")
    assert not os.path.exists(repo.root / "model.pkl")


def test_import_out_exists_or_is_tracked(source, repo, mlvc):
    repo.root.gen("images/mine.txt", "mine")
    assert refused(mlvc, repo.root, "import", str(source.root), "data/images") == (
        "error: images exists already; import into another -o OUT, or --force to replace it")
    assert mlvc("import", str(source.root), "data/images", "--force").exit_code == 0
    assert workspace_files(repo.root / "images") == IMAGES
    assert refused(mlvc, repo.root, "import", str(source.root), "data/images") == (
        "error: images is tracked already; `mlvc update` moves it to a newer revision; --force replaces it")


def test_import_out_outside_the_repository(source, repo, mlvc, tmp_path_factory):
    victim = tmp_path_factory.mktemp("victim")
    (victim / "keep.txt").write_text("keep")
    os.symlink(victim, repo.root / "link")
    before = snapshot(victim)
    line = refused(mlvc, repo.root, "import", str(source.root), "data/images", "-o", str(victim / "x"))
    assert line.startswith(f"error: {victim / 'x'} is outside the repository")
    line = refused(mlvc, repo.root, "import", str(source.root), "data/images", "-o", "link/x")
    assert "outside the repository" in line
    line = refused(mlvc, repo.root, "import", str(source.root), "data/images", "-o", ".mlvc/x")
    assert line == "error: .mlvc/x is inside .mlvc/, which mlvc never tracks"
    assert snapshot(victim) == before


def test_update_of_what_was_not_imported(repo, mlvc):
    repo.root.gen("mine.txt", "x")
    assert mlvc("add", "mine.txt").exit_code == 0
    assert refused(mlvc, repo.root, "update", "mine.txt") == (
        "error: mine.txt is not an imported artifact; `mlvc import URL PATH` records where data came from; "
        "see `mlvc ls`")


# ---------------------------------------------------------------- a hostile source


def test_a_symlinked_lock_in_the_source_is_refused(source, repo, mlvc):
    (source.root / "mlvc.lock").unlink()
    os.symlink("/etc/passwd", source.root / "mlvc.lock")
    source.commit("mlvc.lock -> /etc/passwd")
    assert refused(mlvc, repo.root, "import", str(source.root), "data/images") == (
        f"error: {source.root}@HEAD:mlvc.lock: is a symlink in git (to '/etc/passwd'); mlvc reads only regular files")


def test_a_symlinked_config_in_the_source_is_refused(source, repo, mlvc):
    (source.root / ".mlvc" / "config").unlink()
    os.symlink("/etc/passwd", source.root / ".mlvc" / "config")
    source.commit(".mlvc/config -> /etc/passwd")
    line = refused(mlvc, repo.root, "get", str(source.root), "data/images", "-o", "x")
    assert line.startswith(f"error: {source.root}@HEAD:.mlvc/config: is a symlink in git")


def _hostile_tree(source: Source, name: str) -> str:
    """A tree object naming ``name`` (``..``), stored on the source's remote under its true
    id, and an mlvc.lock there whose artifact ``evil`` is that tree. Returns its id."""
    import xxhash

    file_oid = xxhash.xxh3_128_hexdigest(b"pwned\n")
    data = f"mlvc-tree 2\n{name}\0{file_oid} - 6\n".encode()
    oid = xxhash.xxh3_128_hexdigest(data)
    for o, body in ((oid + ".tree", data), (file_oid, b"pwned\n")):
        path = source.store / "files" / "xxh3" / o[:2] / o[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    lock = (source.root / "mlvc.lock").read_text()
    lock = lock.replace("artifacts:\n", f"artifacts:\n  evil:\n    oid: {oid}.tree\n    size: 6\n    nfiles: 1\n", 1)
    (source.root / "mlvc.lock").write_text(lock)
    project = (source.root / "mlvc.yaml").read_text().replace("artifacts:\n", "artifacts:\n- evil\n", 1)
    (source.root / "mlvc.yaml").write_text(project)
    source.commit("a tree naming ..")
    return oid + ".tree"


@pytest.mark.parametrize("name", ["..", "a/../../x", ".git"])
def test_a_tree_escaping_its_folder_is_refused(source, repo, mlvc, tmp_path_factory, name):
    oid = _hostile_tree(source, name)
    before = set(cache_oids(repo.root))
    line = refused(mlvc, repo.root, "import", str(source.root), "evil", "-o", "sub/deep", cache_opened=True)
    assert line.startswith(f"error: tree {oid}:2: ")
    assert set(cache_oids(repo.root)) == before  # the tree never entered the cache
    plain = tmp_path_factory.mktemp("plain")
    with inside(plain):
        assert refused(mlvc, plain, "get", str(source.root), "evil", "-o", "deep") == line


def test_a_hostile_path_in_the_source_lock_is_refused(source, repo, mlvc):
    lock = (source.root / "mlvc.lock").read_text().replace("  model.pkl:", "  ../../model.pkl:")
    (source.root / "mlvc.lock").write_text(lock)
    source.commit("a path escaping")
    line = refused(mlvc, repo.root, "import", str(source.root), "model.pkl")
    assert line.startswith(f"error: {source.root}@HEAD:mlvc.lock:")


def test_update_never_runs_a_transport_named_in_our_lock(repo, mlvc, tmp_path, monkeypatch):
    """mlvc.lock is committed text: a source repo of ext::sh ... must not run a command, even
    where the user's git config allows ext:: (given here as git's environment config)."""
    for k, v in {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.ext.allow",
                 "GIT_CONFIG_VALUE_0": "always"}.items():
        monkeypatch.setenv(k, v)
    victim = tmp_path / "pwned"
    repo.root.gen("model.pkl", "m")
    assert mlvc("add", "model.pkl").exit_code == 0
    lock = (repo.root / "mlvc.lock").read_text()
    sha = "0" * 40
    lock += f"    source:\n      repo: ext::sh -c touch% {victim}\n      path: model.pkl\n      commit: {sha}\n"
    (repo.root / "mlvc.lock").write_text(lock)
    line = refused(mlvc, repo.root, "update", "model.pkl")
    assert line.startswith(f"error: cannot read the git repository ext::sh -c touch% {victim}: ")
    assert not victim.exists()


# ---------------------------------------------------------------- through S3


def test_get_and_import_through_an_s3_remote(repo, mlvc, s3_server, tmp_path_factory):
    src = make_source(tmp_path_factory.mktemp("s3source"), mlvc, remote=None)
    bucket = s3_server.new_bucket()
    src.run("remote", "add", "--default", "s3r", f"s3://{bucket}/data")
    src.run("remote", "modify", "s3r", "endpointurl", s3_server.endpoint)
    src.run("push")
    src.commit("s3 remote")
    r = mlvc("import", src.url, "data/images", "-o", "raw", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["source"]["remote"] == "s3r"
    assert workspace_files(repo.root / "raw") == IMAGES


def test_a_commit_of_changed_imported_data_makes_it_ours(source, repo, mlvc):
    assert mlvc("import", str(source.root), "model.pkl").exit_code == 0
    assert mlvc("commit").exit_code == 0  # unchanged: the source stays
    assert "source" in read_lock(repo.root)["artifacts"]["model.pkl"]
    (repo.root / "model.pkl").chmod(0o644)
    (repo.root / "model.pkl").write_bytes(b"mine")
    assert mlvc("commit", "model.pkl").exit_code == 0
    assert "source" not in read_lock(repo.root)["artifacts"]["model.pkl"]
    assert refused(mlvc, repo.root, "update", "model.pkl").startswith("error: model.pkl is not an imported artifact")


def test_import_a_stage_out(source, repo, mlvc):
    import yaml

    project = yaml.safe_load((source.root / "mlvc.yaml").read_text())
    project["stages"] = {"make": {"cmd": "mkdir -p made && echo r > made/r.txt", "deps": ["model.pkl"],
                                  "outs": ["made"]}}
    (source.root / "mlvc.yaml").write_text(yaml.safe_dump(project))
    source.run("repro")
    source.run("push")
    source.commit("a stage")
    assert mlvc("import", str(source.root), "made").exit_code == 0
    assert workspace_files(repo.root / "made") == {"r.txt": b"r\n"}


def test_another_remote_of_the_source_is_named_recorded_and_used_by_update(repo, mlvc, tmp_path_factory):
    src = make_source(tmp_path_factory.mktemp("tworemotes"), mlvc, push=False)  # the default lacks the data
    src.run("remote", "add", "backup", "../backup")
    src.run("push", "-r", "backup")
    src.commit("a backup remote")
    assert mlvc("import", str(src.root), "model.pkl").exit_code == 3
    r = mlvc("import", str(src.root), "model.pkl", "--remote", "backup", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["source"]["remote"] == "backup"
    assert read_lock(repo.root)["artifacts"]["model.pkl"]["source"]["remote"] == "backup"
    (src.root / "model.pkl").write_bytes(b"model v2")
    src.run("add", "model.pkl")
    src.run("push", "-r", "backup")
    src.commit("v2")
    r = mlvc("update", "model.pkl")
    assert r.exit_code == 0, r.output
    assert (repo.root / "model.pkl").read_bytes() == b"model v2"
