"""What a remote holds against what push believes: an object gone under an intact tree (push
--full, status --full), a short upload (a sparse file over SFTP), the count of what moved when
retries run out, and the one tracked-set rule of push, fetch, status --remote and verify."""

from __future__ import annotations

import json
import os

import pytest
from funcutil import cache_oids, git_clone, oid_of, one_line_error, workspace_files

from mlvc.odb.backends import RemoteSpec, open_remote


@pytest.fixture(params=["folder", "s3"])
def store(request, repo, mlvc, tmp_path):
    """A default remote ``store`` (a local folder or a bucket on the moto server), committed."""
    if request.param == "folder":
        assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
        spec = RemoteSpec("store", str(tmp_path / "remote"))
    else:
        server = request.getfixturevalue("s3_server")
        url = f"s3://{server.new_bucket()}/team"
        assert mlvc("remote", "add", "--default", "store", url).exit_code == 0
        assert mlvc("remote", "modify", "store", "endpointurl", server.endpoint).exit_code == 0
        spec = RemoteSpec("store", url, {"endpointurl": server.endpoint})
    repo.commit("remote")
    return open_remote(spec, str(repo.root))


def _project(repo, mlvc):
    repo.root.gen({f"data/sub/f{i}.txt": f"file {i}" for i in range(12)})
    repo.root.gen({"data/top.txt": "top", "model.bin": "weights"})
    assert mlvc("add", "data", "model.bin").exit_code == 0
    repo.commit("data")


# ---------------------------------------------------------------- an object gone under an intact tree

def test_push_full_sends_again_what_went_missing_under_a_tree_the_remote_holds(repo, mlvc, store, tmp_path,
                                                                                monkeypatch):
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    gone = oid_of(b"file 3")
    store.remove(gone)  # deleted on the remote (by hand, a bucket policy ...): its trees are intact
    assert store.missing([gone]) == [gone]

    r = mlvc("push", "--json")  # the fast default trusts the trees: nothing is sent
    assert r.exit_code == 0 and json.loads(r.stdout)["transferred"] == 0
    assert mlvc("status", "--remote", "store", "--check").exit_code == 0  # nor does a plain status see it

    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("pull")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert f"are not on remote 'store' (first: {gone})" in line and "`mlvc push --full`" in line

    monkeypatch.chdir(repo.root)
    r = mlvc("status", "--remote", "store", "--full", "--json")
    assert r.exit_code == 0
    rows = {a["path"]: a for a in json.loads(r.stdout)["artifacts"]}
    assert rows["data"]["status"] == "not pushed" and rows["data"]["not_pushed"] == 1
    assert rows["model.bin"]["status"] == "pushed"
    assert mlvc("status", "--remote", "store", "--full", "--check").exit_code == 1

    # in bulk: the check of every object is listings, never one request per object
    from mlvc.odb.remote import RemoteObjectStore

    with monkeypatch.context() as m:
        m.setattr(RemoteObjectStore, "missing", lambda self, oids: pytest.fail("asked object by object"))
        m.setattr(RemoteObjectStore, "exists", lambda self, oid: pytest.fail("asked object by object"))
        r = mlvc("push", "--full", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 1
    assert store.missing([gone]) == []
    assert mlvc("status", "--remote", "store", "--full", "--check").exit_code == 0

    monkeypatch.chdir(clone)
    assert mlvc("pull").exit_code == 0
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")


def test_push_full_sends_again_an_object_the_remote_holds_with_another_size(repo, mlvc, store):
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    short = oid_of(b"file 7")
    store.remove(short)
    store._put(short, b"file")  # a short upload under the object's name
    r = mlvc("push", "--full", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["transferred"] == 1
    assert store.read_bytes(short) == b"file 7"


def test_a_plain_push_sends_again_an_object_held_with_another_size_below_what_it_lacks(repo, mlvc, store, tmp_path,
                                                                                      monkeypatch):
    """What a crash in the middle of a push can leave: objects named whose bytes never reached
    the disk (empty, or short), and no trees yet (they go last). The rerun walks down from the
    trees the remote lacks and sends again every object there with another size than its tree
    records, a file artifact's too; before, it trusted them, and the pull then failed."""
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    trees = [o for o in store.iter_oids() if o.endswith(".tree")]
    assert len(trees) == 2
    for t in trees:
        store.remove(t)
    empty, short, model = oid_of(b"file 5"), oid_of(b"file 9"), oid_of(b"weights")
    for oid, left in ((empty, b""), (short, b"fil"), (model, b"w")):
        store.remove(oid)
        store._put(oid, left)
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 3 + len(trees)
    assert (store.read_bytes(empty), store.read_bytes(short), store.read_bytes(model)) == (b"file 5", b"file 9",
                                                                                           b"weights")
    r = mlvc("push", "--json")  # and then nothing is left to send
    assert r.exit_code == 0 and json.loads(r.stdout)["transferred"] == 0
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    assert mlvc("pull").exit_code == 0
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")
    assert (clone / "model.bin").read_text() == "weights"


def test_push_full_with_nothing_missing_sends_nothing(repo, mlvc, store):
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    r = mlvc("push", "--full", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"remote": "store", "transferred": 0, "already": 12 + 1 + 3}


def test_status_full_needs_a_remote(repo, mlvc):
    r = mlvc("status", "--full")
    assert r.exit_code == 2 and "--full compares with a remote" in one_line_error(r)


# ---------------------------------------------------------------- one tracked set for every verb

def _untrack_by_hand(repo, path):
    """Take ``path`` out of mlvc.yaml by hand (mlvc.lock keeps its entry) and commit it to git instead."""
    import yaml

    project = yaml.safe_load((repo.root / "mlvc.yaml").read_text())
    project["artifacts"].remove(path)
    (repo.root / "mlvc.yaml").write_text(yaml.safe_dump(project))
    ignore = repo.root / ".gitignore"
    ignore.write_text("".join(l for l in ignore.read_text().splitlines(True) if l.strip() != f"/{path}"))
    repo.git("add", "-f", path)
    repo.commit(f"{path} in git now")


def test_push_fetch_status_and_verify_agree_on_what_is_tracked(repo, mlvc, store, tmp_path, monkeypatch):
    """An entry of mlvc.lock that mlvc.yaml no longer lists is not tracked: push leaves it behind
    (at the workspace and at a revision alike), status --remote does not ask for it, and verify in
    a fresh clone does not fetch it (the stage reads the file git has now)."""
    repo.root.gen({"in.txt": "input", "kept.txt": "kept"})
    assert mlvc("add", "in.txt", "kept.txt").exit_code == 0
    assert mlvc("stage", "add", "make", "-d", "in.txt", "-o", "out.txt", "--", "cat in.txt in.txt > out.txt").exit_code == 0
    assert mlvc("repro").exit_code == 0
    repo.commit("pipeline")
    _untrack_by_hand(repo, "in.txt")
    assert "in.txt" in [e["path"] for e in json.loads(mlvc("ls", "--json").stdout)["artifacts"]]  # still recorded
    for args in (("push", "--rev", "HEAD", "--json"), ("push", "--json")):
        r = mlvc(*args)
        assert r.exit_code == 0, r.output
    assert store.missing([oid_of(b"input")]) == [oid_of(b"input")]  # never pushed
    assert store.missing([oid_of(b"kept")]) == []
    r = mlvc("status", "--remote", "store", "--json")
    assert sorted(a["path"] for a in json.loads(r.stdout)["artifacts"]) == ["kept.txt", "out.txt"]
    assert json.loads(r.stdout)["clean"] is True

    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("verify")
    assert r.exit_code == 0, r.output
    r = mlvc("fetch", "--rev", "HEAD", "--json")
    assert r.exit_code == 0, r.output
    assert oid_of(b"input") not in cache_oids(clone)


# ---------------------------------------------------------------- one progress bar for files and bytes

@pytest.mark.slow
def test_push_and_pull_draw_one_bar_for_files_and_bytes_on_a_terminal(repo, mlvc, tmp_path):
    import re

    from test_progress import _run_on_tty

    assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
    repo.root.gen({"data": {f"f{i:04d}.txt": f"file {i}\n" * 40 for i in range(1500)}})
    assert mlvc("add", "data").exit_code == 0
    repo.commit("data")
    shown = _run_on_tty(["push"], repo.root)
    assert "Pushing to store" in shown
    assert re.search(r"\d+/1501 files, [\d.]+ (KiB|MiB)/[\d.]+ (KiB|MiB)", shown), shown[-2000:]
    clone = git_clone(repo, tmp_path)
    shown = _run_on_tty(["pull"], clone)
    assert "Fetching from store" in shown
    assert re.search(r"\d+/1501 files, [\d.]+ (KiB|MiB)/[\d.]+ (KiB|MiB)", shown), shown[-2000:]


def test_the_bytes_of_a_large_file_are_told_as_they_move(repo, mlvc, store, tmp_path):
    """Push and fetch tell the progress the bytes of a file chunk by chunk, not once at its end,
    and count every byte once."""
    from mlvc import api
    from mlvc.progress import NullProgress, Task

    class Recorder(NullProgress):
        def __init__(self):
            self.calls = []

        def transfer(self, description, files, nbytes=None):
            rec = self

            class T(Task):
                def advance(self, n=1, nbytes=0):
                    rec.calls.append((n, nbytes))

            return T()

    size = 5 * 1024 * 1024 + 17
    (repo.root / "big.bin").write_bytes(os.urandom(size))
    assert mlvc("add", "big.bin").exit_code == 0
    repo.commit("big")
    rec = Recorder()
    api.push(cwd=str(repo.root), progress=rec)
    assert sum(n for n, _ in rec.calls) == 1 and sum(b for _, b in rec.calls) == size
    assert len([b for n, b in rec.calls if n == 0 and b]) >= (5 if store.local else 1)
    clone = git_clone(repo, tmp_path)
    rec = Recorder()
    api.fetch(cwd=str(clone), progress=rec)
    assert sum(n for n, _ in rec.calls) == 1 and sum(b for _, b in rec.calls) == size
    assert len([b for n, b in rec.calls if n == 0 and b]) >= 5  # 1 MiB reads, each told
