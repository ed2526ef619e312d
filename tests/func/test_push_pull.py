"""Remotes: the shared store contract on a local folder and a real S3 server (moto on
127.0.0.1), and push / fetch / pull end to end in real git repositories."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from funcutil import cache_oids, git_clone, oid_of, one_line_error, workspace_files

from mlvc.objects.hashing import hash_bytes
from mlvc.odb.local import LocalObjectStore
from mlvc.odb.backends import RemoteSpec, open_remote

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # test_odb's helpers (storeutil)
_spec = importlib.util.spec_from_file_location("_odb_contract", Path(__file__).parents[1] / "unit" / "test_odb.py")
_contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_contract)
ObjectStoreContract = _contract.ObjectStoreContract


def s3_spec(server, bucket: str, name: str = "s3r") -> RemoteSpec:
    return RemoteSpec(name, f"s3://{bucket}/some/prefix", {"endpointurl": server.endpoint})


class TestLocalFolderRemote(ObjectStoreContract):
    def make_store(self, tmp_path):
        return open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")

    def corrupt(self, store, oid, data):
        with open(store.path(oid), "wb") as f:
            f.write(data)


class TestS3Remote(ObjectStoreContract):
    @pytest.fixture
    def store(self, s3_server):
        return open_remote(s3_spec(s3_server, s3_server.new_bucket()), "/")

    def corrupt(self, store, oid, data):
        store.fs.pipe_file(store.path(oid), data)


@pytest.fixture(params=["folder", "s3"])
def any_remote(request, tmp_path):
    if request.param == "folder":
        return open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")
    server = request.getfixturevalue("s3_server")
    return open_remote(s3_spec(server, server.new_bucket()), "/")


def test_remote_layout_is_the_cache_layout(any_remote):
    oid = any_remote.write_bytes(b"hello")
    assert any_remote.path(oid).endswith(f"/files/xxh3/{oid[:2]}/{oid[2:]}")


def test_a_local_folder_remote_leaves_no_temp_files(tmp_path):
    store = open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")
    oid = store.write_bytes(b"x" * 1000)
    assert os.listdir(tmp_path / "remote" / "files" / "xxh3" / oid[:2]) == [oid[2:]]


def test_get_into_the_cache_checks_the_id(any_remote, tmp_path):
    from mlvc.errors import CorruptObjectError

    cache = LocalObjectStore(str(tmp_path / "cache"))
    good = any_remote.write_bytes(b"good data")
    assert any_remote.get_into(good, cache) == len(b"good data")
    assert cache.read_bytes(good) == b"good data"
    bad = hash_bytes(b"expected")
    any_remote._put(bad, b"tampered")
    with pytest.raises(CorruptObjectError) as exc:
        any_remote.get_into(bad, cache)
    assert bad in exc.value.message and repr(any_remote.name) in exc.value.message
    assert not cache.exists(bad)
    assert not [n for n in os.listdir(cache.root + "/" + bad[:2]) if n != bad[2:]]


def test_missing_many_is_one_listing(any_remote, monkeypatch):
    present = [any_remote.write_bytes(str(i).encode()) for i in range(30)]
    absent = [hash_bytes(f"absent {i}".encode()) for i in range(any_remote.LIST_ALL_FROM)]
    calls = []
    real = any_remote._list
    monkeypatch.setattr(any_remote, "_list", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(any_remote, "exists", lambda oid: pytest.fail("one request per object"))
    assert any_remote.missing(present + absent) == absent
    assert len(calls) == 1


@pytest.mark.parametrize("asked", ["one listing", "a listing per folder", "one by one"])
def test_missing_with_sizes_counts_an_object_held_with_another_size(any_remote, monkeypatch, asked):
    """A short upload, or an object a crash left named before its bytes were on the disk: with
    the sizes its trees record, it is missing, however the remote is asked. The listings give
    the sizes (no request per object on S3); a local folder stats only what it holds."""
    if asked == "one listing":
        monkeypatch.setattr(any_remote, "LIST_ALL_FROM", 1)
    elif asked == "a listing per folder":
        monkeypatch.setattr(any_remote, "LIST_PREFIX_FROM", 1)
    whole = any_remote.write_bytes(b"whole object")
    short = hash_bytes(b"short object")
    any_remote._put(short, b"short")
    empty = hash_bytes(b"left empty")
    any_remote._put(empty, b"")
    unsized = hash_bytes(b"no size known")
    any_remote._put(unsized, b"no size")
    gone = hash_bytes(b"never sent")
    oids = [whole, short, empty, unsized, gone]
    sizes = {whole: 12, short: 12, empty: 10, gone: 10}
    assert any_remote.missing(oids) == [gone]  # without sizes: only what is not there
    assert any_remote.missing(oids, sizes) == [short, empty, gone]
    if asked != "one by one" and not any_remote.local:
        monkeypatch.setattr(any_remote.fs, "info", lambda *a, **k: pytest.fail("one request per object"))
        assert any_remote.missing(oids, sizes) == [short, empty, gone]


# ---------------------------------------------------------------- push, fetch, pull end to end

def _project(repo, mlvc):
    repo.root.gen({"data/a.txt": "alpha", "data/sub/b.txt": "bravo", "data/sub/c.txt": "charlie",
                   "data/other/d.txt": "delta", "model.bin": "weights"})
    assert mlvc("add", "data", "model.bin").exit_code == 0
    repo.commit("data")


def _configure(mlvc, kind, tmp_path, request):
    if kind == "folder":
        assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
        return None
    server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    assert mlvc("remote", "add", "--default", "store", f"s3://{bucket}/team/data").exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", server.endpoint).exit_code == 0
    return server, bucket


@pytest.fixture(params=["folder", "s3"])
def kind(request):
    return request.param


def test_push_then_a_fresh_clone_pulls_the_data_back(repo, mlvc, tmp_path, kind, request, monkeypatch):
    _configure(mlvc, kind, tmp_path, request)
    repo.commit("remote")
    _project(repo, mlvc)
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    assert first["transferred"] == 5 + 3  # five files, three tree objects
    r = mlvc("push", "--json")
    assert json.loads(r.stdout)["transferred"] == 0  # a second push moves nothing
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("pull")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["Fetched 8 object(s) (store).",
                                     "Checked out: 5 added, 0 modified, 0 deleted (0 unchanged)."]
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")
    assert (clone / "model.bin").read_text() == "weights"
    assert mlvc("status", "--check").exit_code == 0
    assert json.loads(mlvc("fetch", "--json").stdout)["transferred"] == 0


def test_an_incremental_push_skips_the_folders_the_remote_holds(repo, mlvc, tmp_path, monkeypatch):
    from mlvc.odb.remote import RemoteObjectStore

    _configure(mlvc, "folder", tmp_path, None)
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    (repo.root / "data" / "sub" / "b.txt").write_text("bravo 2")
    assert mlvc("commit", "data").exit_code == 0
    asked = []
    real = RemoteObjectStore.missing
    monkeypatch.setattr(RemoteObjectStore, "missing",
                        lambda self, oids, *sizes: asked.extend(oids) or real(self, oids, *sizes))
    r = mlvc("push", "--json")
    assert json.loads(r.stdout)["transferred"] == 3  # the new file, data/sub's tree, data's tree
    # asked about: the two roots, data's four children, data/sub's two: never inside data/other
    assert len(asked) == 2 + 3 + 2


def test_pull_of_a_path_inside_a_tracked_folder_restores_that_file(repo, mlvc, tmp_path, kind, request,
                                                                     monkeypatch):
    _configure(mlvc, kind, tmp_path, request)
    repo.commit("remote")
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("pull", "data/sub/c.txt")
    assert r.exit_code == 0, r.output
    assert workspace_files(clone / "data") == {"sub/c.txt": b"charlie"}
    assert not (clone / "model.bin").exists()
    assert len([o for o in cache_oids(clone) if not o.endswith(".tree")]) == 1


def test_push_and_pull_a_stage_by_name(repo, mlvc, tmp_path, monkeypatch):
    _configure(mlvc, "folder", tmp_path, None)
    repo.root.gen("in.txt", "x")
    assert mlvc("stage", "add", "make", "-d", "in.txt", "-o", "out.txt", "--", "cp in.txt out.txt").exit_code == 0
    assert mlvc("repro").exit_code == 0
    repo.commit("stage")
    r = mlvc("push", "make", "--json")
    assert json.loads(r.stdout)["transferred"] == 1
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    assert mlvc("pull", "make").exit_code == 0
    assert (clone / "out.txt").read_text() == "x"


def test_a_corrupted_object_on_the_remote_is_refused_on_fetch(repo, mlvc, tmp_path, kind, request, monkeypatch):
    _configure(mlvc, kind, tmp_path, request)
    repo.commit("remote")
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    oid = oid_of(b"weights")
    store = open_remote(RemoteSpec("store", mlvc("remote", "list", "--json") and json.loads(
        mlvc("remote", "list", "--json").stdout)[0]["url"],
        {"endpointurl": request.getfixturevalue("s3_server").endpoint} if kind == "s3" else {}), str(repo.root))
    if kind == "s3":
        store.fs.pipe_file(store.path(oid), b"tampered")
    else:
        Path(store.path(oid)).write_bytes(b"tampered")
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("pull")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert oid in line and "'store'" in line and "corrupted" in line
    assert oid not in cache_oids(clone)
    assert not (clone / "model.bin").exists()
    assert not [p for p in (clone / ".mlvc" / "cache").rglob("*") if p.name.startswith(".mlvc-tmp")]


def test_missing_bucket_and_bad_credentials_give_one_line_and_exit_3(repo, mlvc, s3_server, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from s3server import MotoServer

    _project(repo, mlvc)
    assert mlvc("remote", "add", "--default", "gone", "s3://no-such-bucket/x").exit_code == 0
    assert mlvc("remote", "modify", "gone", "endpointurl", s3_server.endpoint).exit_code == 0
    r = mlvc("push")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: push to remote 'gone' failed: the bucket does not exist")
    strict = MotoServer(auth=True)  # checks credentials: ours are unknown there
    try:
        assert mlvc("remote", "add", "strict", "s3://bucket/x").exit_code == 0
        assert mlvc("remote", "modify", "strict", "endpointurl", strict.endpoint).exit_code == 0
        assert mlvc("remote", "modify", "strict", "access_key_id", "AKIDUNKNOWN").exit_code == 0
        assert mlvc("remote", "modify", "strict", "secret_access_key", "TOPSECRETVALUE").exit_code == 0
        for verb in ("push", "fetch", "pull"):
            r = mlvc("--verbose", verb, "-r", "strict")
            assert r.exit_code == 3
            assert "TOPSECRETVALUE" not in r.output
            r = mlvc(verb, "-r", "strict")
            assert "the credentials were refused (InvalidAccessKeyId)" in one_line_error(r)
            assert "'strict'" in one_line_error(r)
    finally:
        strict.stop()


def test_no_remote_configured(repo, mlvc):
    r = mlvc("push")
    assert r.exit_code == 3
    assert "no remote given and no default remote set" in one_line_error(r)


def test_a_failed_push_counts_what_moved_and_a_rerun_sends_only_the_rest(repo, mlvc, tmp_path):
    import re

    _configure(mlvc, "folder", tmp_path, None)
    _project(repo, mlvc)
    blocked = oid_of(b"charlie")
    root = tmp_path / "remote" / "files" / "xxh3"
    root.mkdir(parents=True)
    (root / blocked[:2]).write_text("in the way")  # a file where the object's folder must go
    r = mlvc("push")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert line.startswith("error: push to remote 'store' failed:")
    m = re.search(r"\((\d+) of 8 objects moved\)", line)
    assert m, line
    moved = int(m.group(1))
    assert moved < 8
    assert not [o for o in (root.rglob("*.tree"))]  # no tree before its children
    (root / blocked[:2]).unlink()
    r = mlvc("push", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["transferred"] == 8 - moved


@pytest.mark.slow
def test_an_unreachable_server_gives_one_line(repo, mlvc, monkeypatch):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from s3server import DUMMY_CREDENTIALS, free_port

    for k, v in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    _project(repo, mlvc)
    assert mlvc("remote", "add", "--default", "dead", "s3://bucket/x").exit_code == 0
    assert mlvc("remote", "modify", "dead", "endpointurl", f"http://127.0.0.1:{free_port()}").exit_code == 0
    r = mlvc("push")
    assert r.exit_code == 3
    assert one_line_error(r) == ("error: push to remote 'dead' failed: the server is unreachable; "
                                 "check the url (and endpointurl) and the network")


def test_one_progress_task_for_the_objects(repo, tmp_path):
    from mlvc import api

    class Recorder:
        def __init__(self):
            self.tasks = []

        def task(self, description, total=None):
            return self.transfer(description, total)

        def transfer(self, description, files, nbytes=None):
            rec = self
            rec.tasks.append([description, files, nbytes, 0, 0])

            from mlvc.progress import Task

            class T(Task):
                def advance(self, n=1, nbytes=0):
                    rec.tasks[-1][3] += n
                    rec.tasks[-1][4] += nbytes

                def close(self):
                    pass

            return T()

        def warn(self, message):
            pass

    repo.root.gen({"data/a.txt": "a" * 1000, "data/b.txt": "b" * 20})
    api.add(["data"], cwd=str(repo.root))
    tree = (repo.root / ".mlvc" / "cache").rglob("*.tree")
    tree_bytes = sum(p.stat().st_size for p in tree)
    api.remote_add("store", str(tmp_path / "remote"), default=True, cwd=str(repo.root))
    repo.commit("data and remote")
    rec = Recorder()
    result = api.push(cwd=str(repo.root), progress=rec)
    pushes = [t for t in rec.tasks if t[0].startswith("Pushing")]
    total = 1020 + tree_bytes  # one task: objects and bytes, each counted once
    assert pushes == [["Pushing to store", 3, total, 3, total]] and result.transferred == 3
    clone = git_clone(repo, tmp_path)
    rec = Recorder()
    api.pull(cwd=str(clone), progress=rec)
    fetches = [t for t in rec.tasks if t[0].startswith("Fetching")]
    assert fetches == [["Fetching from store", 3, total, 3, total]]


def test_push_of_a_path_inside_a_tracked_folder_moves_only_that_part(repo, mlvc, tmp_path):
    _configure(mlvc, "folder", tmp_path, None)
    _project(repo, mlvc)
    r = mlvc("push", "data/sub/b.txt", "--json")
    assert json.loads(r.stdout)["transferred"] == 1
    store = open_remote(RemoteSpec("store", str(tmp_path / "remote")), "/")
    assert list(store.iter_oids()) == [oid_of(b"bravo")]
    r = mlvc("push", "data/sub", "--json")
    assert json.loads(r.stdout)["transferred"] == 2  # c.txt and data/sub's tree (b.txt is there)
    r = mlvc("push", "data/sub/nope.txt")
    assert r.exit_code == 3 and "data/sub/nope.txt is not in the recorded version of data" in one_line_error(r)


def test_push_and_fetch_at_revisions(repo, mlvc, tmp_path, monkeypatch):
    _configure(mlvc, "folder", tmp_path, None)
    repo.commit("remote")
    repo.root.gen("model.bin", "v1")
    assert mlvc("add", "model.bin").exit_code == 0
    repo.commit("v1")
    (repo.root / "model.bin").write_text("v2")
    assert mlvc("commit", "model.bin").exit_code == 0
    repo.commit("v2")
    (repo.root / "model.bin").write_text("v3 (not committed to git)")
    assert mlvc("commit", "model.bin").exit_code == 0
    r = mlvc("push", "--rev", "HEAD~1", "--json")
    assert json.loads(r.stdout)["transferred"] == 1
    store = open_remote(RemoteSpec("store", str(tmp_path / "remote")), "/")
    assert list(store.iter_oids()) == [oid_of(b"v1")]
    r = mlvc("push", "--all-commits", "--json")  # v2 at HEAD, v3 in the workspace
    assert json.loads(r.stdout)["transferred"] == 2
    assert mlvc("push", "--all-commits", "--rev", "HEAD").exit_code == 2
    r = mlvc("push", "--rev", "HEAD", "nothing.bin")
    assert r.exit_code == 3 and "nothing.bin is not recorded" in one_line_error(r)
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("fetch", "--rev", "HEAD~1", "--rev", "HEAD", "--json")
    assert json.loads(r.stdout)["transferred"] == 2
    assert sorted(cache_oids(clone)) == sorted([oid_of(b"v1"), oid_of(b"v2")])


def test_every_tree_is_uploaded_after_the_objects_it_lists(repo, mlvc, tmp_path, monkeypatch):
    from mlvc.odb.remote import RemoteObjectStore
    from mlvc.odb.transfer import children

    _configure(mlvc, "folder", tmp_path, None)
    repo.root.gen({f"data/{a}/{b}/f{i}.txt": f"{a}{b}{i}" for a in "xy" for b in "pq" for i in range(3)})
    assert mlvc("add", "data").exit_code == 0
    order = []
    real_put, real_file = RemoteObjectStore._put, RemoteObjectStore.put_file
    monkeypatch.setattr(RemoteObjectStore, "_put", lambda self, oid, data: order.append(oid) or real_put(self, oid, data))
    monkeypatch.setattr(RemoteObjectStore, "put_file",
                        lambda self, oid, src, **kw: order.append(oid) or real_file(self, oid, src, **kw))
    real_batch = RemoteObjectStore.put_small_local  # small files to a local folder go in batches

    def batch(self, items, source_of):
        n = real_batch(self, items, source_of)
        order.extend(oid for oid, _ in items)
        return n

    monkeypatch.setattr(RemoteObjectStore, "put_small_local", batch)
    assert json.loads(mlvc("push", "--json").stdout)["transferred"] == 12 + 7
    store = LocalObjectStore(str(repo.root / ".mlvc" / "cache"))
    trees = [o for o in order if o.endswith(".tree")]
    assert len(trees) == 7
    for t in trees:
        files, subs = children(store.read_bytes(t), t)
        for _, child in files + subs:
            assert order.index(child) < order.index(t)


@pytest.fixture
def http_folder(tmp_path):
    """Python's http.server on 127.0.0.1 serving tmp_path/served (read-only for mlvc)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    pytest.importorskip("aiohttp", reason="fsspec's http needs aiohttp: pip install 'mlvc[http]'")
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pull_from_a_read_only_http_remote(repo, mlvc, tmp_path, http_folder, monkeypatch):
    served, url = http_folder
    assert mlvc("remote", "add", "--default", "store", str(served)).exit_code == 0
    assert mlvc("remote", "add", "web", url).exit_code == 0
    repo.commit("remotes")
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("pull", "-r", "web")
    assert r.exit_code == 0, r.output
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")
    r = mlvc("push", "-r", "web")
    assert r.exit_code == 3
    assert one_line_error(r) == "error: remote 'web' is read-only (http); push to an s3, ssh or local remote"


def test_a_missing_backend_is_one_line_naming_the_pip_command(repo, mlvc, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "s3fs" else real(name, *a))
    _project(repo, mlvc)
    assert mlvc("remote", "add", "--default", "s3r", "s3://bucket/x").exit_code == 0
    for verb in ("push", "fetch", "pull"):
        r = mlvc(verb)
        assert r.exit_code == 3
        assert one_line_error(r) == ("error: remote 's3r' (s3) needs s3fs, which is not installed; "
                                     "run `pip install 'mlvc[s3]'`")
