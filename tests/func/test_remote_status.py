"""`mlvc status -c` / `--remote NAME`: the recorded artifacts against a remote (pushed, not
pushed, not fetched), on a local-folder remote and a real S3 server (moto on 127.0.0.1)."""

from __future__ import annotations

import json
import shutil

import pytest


def _project(repo, mlvc):
    repo.root.gen({"data/a.txt": "alpha", "data/sub/b.txt": "bravo", "data/sub/c.txt": "charlie",
                   "data/other/d.txt": "delta", "model.bin": "weights"})
    assert mlvc("add", "data", "model.bin").exit_code == 0


def _configure(mlvc, kind, tmp_path, request):
    if kind == "folder":
        assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
        return
    server = request.getfixturevalue("s3_server")
    assert mlvc("remote", "add", "--default", "store", f"s3://{server.new_bucket()}/team").exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", server.endpoint).exit_code == 0


def _rows(mlvc, *args):
    r = mlvc("status", *args, "--json")
    return r.exit_code, {a["path"]: a for a in json.loads(r.stdout)["artifacts"]}


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_pushed_not_pushed_and_not_fetched(repo, mlvc, tmp_path, kind, request):
    _configure(mlvc, kind, tmp_path, request)
    _project(repo, mlvc)
    code, rows = _rows(mlvc, "-c", "--check")
    assert code == 1
    assert rows["data"] == {"path": "data", "status": "not pushed", "pushed": 0, "not_pushed": 7,
                            "not_fetched": 0, "missing": 0}  # four files, three trees
    assert rows["model.bin"]["status"] == "not pushed" and rows["model.bin"]["not_pushed"] == 1
    assert mlvc("push", "data").exit_code == 0
    code, rows = _rows(mlvc, "--remote", "store", "--check")
    assert code == 1  # model.bin is not pushed yet
    assert (rows["data"]["status"], rows["data"]["pushed"]) == ("pushed", 7)
    assert rows["model.bin"]["status"] == "not pushed"
    assert mlvc("push").exit_code == 0
    assert mlvc("status", "-c", "--check").exit_code == 0
    shutil.rmtree(repo.root / ".mlvc" / "cache" / "files")
    code, rows = _rows(mlvc, "-c", "--check")
    assert code == 0  # the remote has everything: nothing is lost
    assert rows["data"] == {"path": "data", "status": "not fetched", "pushed": 0, "not_pushed": 0,
                            "not_fetched": 7, "missing": 0}


def test_the_text_output(repo, mlvc, tmp_path):
    _configure(mlvc, "folder", tmp_path, None)
    _project(repo, mlvc)
    assert mlvc("push", "data").exit_code == 0
    r = mlvc("status", "-c")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "data       pushed       7 pushed",
        "model.bin  not pushed   1 not pushed",
        "",
        "Remote store: 7 object(s) pushed, 1 not pushed, 0 not fetched.",
        "`mlvc push` sends what is not pushed.",
    ]


def test_an_object_on_neither_side_is_missing_and_fails_the_check(repo, mlvc, tmp_path):
    _configure(mlvc, "folder", tmp_path, None)
    _project(repo, mlvc)
    assert mlvc("push", "data").exit_code == 0
    shutil.rmtree(repo.root / ".mlvc" / "cache" / "files")  # model.bin was never pushed: lost
    code, rows = _rows(mlvc, "-c", "--check")
    assert code == 1
    assert (rows["model.bin"]["status"], rows["model.bin"]["missing"]) == ("missing", 1)
    assert rows["data"]["status"] == "not fetched"


def test_a_path_inside_a_tracked_folder(repo, mlvc, tmp_path):
    _configure(mlvc, "folder", tmp_path, None)
    _project(repo, mlvc)
    assert mlvc("push", "data/sub").exit_code == 0
    code, rows = _rows(mlvc, "-c", "data/sub", "data/other")
    assert rows["data/sub"] == {"path": "data/sub", "status": "pushed", "pushed": 3, "not_pushed": 0,
                                "not_fetched": 0, "missing": 0}
    assert (rows["data/other"]["status"], rows["data/other"]["not_pushed"]) == ("not pushed", 2)


def test_nothing_is_asked_below_a_folder_the_remote_holds(repo, mlvc, tmp_path, monkeypatch):
    from mlvc.odb.remote import RemoteObjectStore

    _configure(mlvc, "folder", tmp_path, None)
    _project(repo, mlvc)
    assert mlvc("push").exit_code == 0
    (repo.root / "data" / "sub" / "b.txt").write_text("bravo 2")
    assert mlvc("commit", "data").exit_code == 0
    asked = []
    real = RemoteObjectStore.missing
    monkeypatch.setattr(RemoteObjectStore, "missing", lambda self, oids: asked.extend(oids) or real(self, oids))
    code, rows = _rows(mlvc, "-c")
    assert (rows["data"]["not_pushed"], rows["data"]["pushed"]) == (3, 4)  # b.txt, data/sub's and data's trees
    # the two roots, data's four children (data/other is held whole), data/sub's two: never inside data/other
    assert len(asked) == 2 + 3 + 2


def test_an_unknown_remote_is_one_line(repo, mlvc):
    r = mlvc("status", "--remote", "nope")
    assert r.exit_code != 0 and r.stdout == ""
    assert r.stderr.startswith("error: no remote named 'nope'") and len(r.stderr.splitlines()) == 1
