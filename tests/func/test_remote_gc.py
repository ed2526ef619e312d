"""`mlvc gc --remote NAME`: remove the remote's objects (and run-cache records) that the chosen
revisions do not reference, on a local-folder remote and a real S3 server (moto on 127.0.0.1)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from funcutil import workspace_files

from mlvc.objects.hashing import hash_bytes
from mlvc.odb.backends import RemoteSpec, open_remote
from mlvc.odb.transfer import RemoteRuns


def _configure(mlvc, kind, tmp_path, request):
    # no grace period: these tests collect what they pushed a moment ago (test_remote_gc_grace.py
    # tests the period, and the markers that keep gc and another clone's push apart)
    assert mlvc("config", "gc.grace", "0").exit_code == 0
    return _remote(mlvc, kind, tmp_path, request)


def _remote(mlvc, kind, tmp_path, request):
    """The default remote ``store``: a local folder, or a bucket of the moto S3 server."""
    if kind == "folder":
        assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
        return RemoteSpec("store", str(tmp_path / "remote"))
    server = request.getfixturevalue("s3_server")
    url = f"s3://{server.new_bucket()}/team"
    assert mlvc("remote", "add", "--default", "store", url).exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", server.endpoint).exit_code == 0
    return RemoteSpec("store", url, {"endpointurl": server.endpoint})


def _two_versions(repo, mlvc):
    """data/ and model.bin committed to git, then data/sub/b.txt changed and committed again;
    both versions pushed. Returns the objects only the first version references."""
    repo.root.gen({"data/a.txt": "alpha", "data/sub/b.txt": "bravo", "data/other/d.txt": "delta",
                   "model.bin": "weights"})
    assert mlvc("add", "data", "model.bin").exit_code == 0
    repo.commit("v1")
    assert mlvc("push").exit_code == 0
    (repo.root / "data" / "sub" / "b.txt").write_text("bravo 2")
    assert mlvc("commit", "data").exit_code == 0
    repo.commit("v2")
    assert mlvc("push").exit_code == 0
    return {hash_bytes(b"bravo")}


def _remote_oids(spec, root):
    return set(open_remote(spec, str(root)).iter_oids())


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_gc_removes_what_the_workspace_does_not_reference(repo, mlvc, tmp_path, kind, request, monkeypatch):
    spec = _configure(mlvc, kind, tmp_path, request)
    old_file = _two_versions(repo, mlvc)
    before = _remote_oids(spec, repo.root)
    assert len(before) == 4 + 1 + 3 + 2  # four files + the old b.txt, three trees + two old ones
    r = mlvc("gc", "--remote", "store", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["removed"] is False and plan["remote"] == "store"
    assert len(plan["objects"]) == 3 and old_file <= set(plan["objects"])  # old b.txt, data's and data/sub's trees
    assert plan["objects"][0].endswith(".tree") and plan["bytes"] > 0
    assert _remote_oids(spec, repo.root) == before  # a dry run removes nothing
    r = mlvc("gc", "-r", "store", "-f")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Removed 3 objects (") and "from remote store; kept 7 objects" in r.stdout
    assert _remote_oids(spec, repo.root) == before - set(plan["objects"])
    # everything kept is complete: a fresh clone with no cache pulls the workspace's version
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    monkeypatch.chdir(clone)
    assert mlvc("pull").exit_code == 0
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")


def test_all_commits_keeps_the_older_version(repo, mlvc, tmp_path):
    spec = _configure(mlvc, "folder", tmp_path, None)
    _two_versions(repo, mlvc)
    before = _remote_oids(spec, repo.root)
    r = mlvc("gc", "--remote", "store", "--all-commits", "-f", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["objects"] == []
    assert _remote_oids(spec, repo.root) == before


def test_the_trees_are_read_from_the_remote_when_the_cache_lacks_them(repo, mlvc, tmp_path):
    spec = _configure(mlvc, "folder", tmp_path, None)
    _two_versions(repo, mlvc)
    shutil.rmtree(repo.root / ".mlvc" / "cache" / "files")  # no tree in the cache: the walk reads the remote's
    r = mlvc("gc", "--remote", "store", "-f", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["objects"]) == 3
    assert json.loads(r.stdout)["missing"] == []
    assert mlvc("status", "-c", "--check").exit_code == 0  # every kept tree's children are still there
    assert len(_remote_oids(spec, repo.root)) == 7


def test_the_local_cache_is_left_alone(repo, mlvc, tmp_path):
    _configure(mlvc, "folder", tmp_path, None)
    old_file = _two_versions(repo, mlvc)
    assert mlvc("gc", "--remote", "store", "-f").exit_code == 0
    oid = old_file.pop()
    assert (repo.root / ".mlvc" / "cache" / "files" / "xxh3" / oid[:2] / oid[2:]).is_file()


def test_run_cache_records_naming_a_removed_object_go_too(repo, mlvc, tmp_path):
    spec = _configure(mlvc, "folder", tmp_path, None)
    old_file = _two_versions(repo, mlvc).pop()
    runs = RemoteRuns(open_remote(spec, str(repo.root)))
    kept_file = hash_bytes(b"alpha")
    stale, fresh = hash_bytes(b"stale run"), hash_bytes(b"fresh run")
    runs.write(stale, json.dumps({"schema": 1, "outs": {"b.txt": {"oid": old_file, "size": 5}}}).encode())
    runs.write(fresh, json.dumps({"schema": 1, "outs": {"a.txt": {"oid": kept_file, "size": 5}}}).encode())
    plan = json.loads(mlvc("gc", "--remote", "store", "--dry-run", "--json").stdout)
    assert plan["runs"] == [stale]
    assert runs.keys() == {stale, fresh}
    r = mlvc("gc", "--remote", "store", "-f")
    assert "and 1 run-cache record" in r.stdout
    assert runs.keys() == {fresh}


def test_without_a_terminal_gc_asks_for_f_and_removes_nothing(repo, mlvc, tmp_path):
    spec = _configure(mlvc, "folder", tmp_path, None)
    _two_versions(repo, mlvc)
    before = _remote_oids(spec, repo.root)
    r = mlvc("gc", "--remote", "store")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == ["error: mlvc gc would remove 3 objects (203 B) from remote store and asks first, "
                                     "but there is no terminal to ask on; see what would go with "
                                     "`mlvc gc --remote store --dry-run`, then run `mlvc gc --remote store -f`"]
    assert _remote_oids(spec, repo.root) == before


def test_an_unknown_remote_is_one_line(repo, mlvc):
    r = mlvc("gc", "--remote", "nope", "-f")
    assert r.exit_code == 3 and r.stderr.startswith("error: no remote named 'nope'")
