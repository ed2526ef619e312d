"""push / fetch / pull --run-cache: the run-cache records (<cache>/runs/) travel through a remote,
each after the objects it names, so `mlvc repro` in a fresh clone restores instead of running."""

from __future__ import annotations

import json
import shlex
import sys

import yaml
from funcutil import git_clone

from mlvc.objects.hashing import hash_bytes
from mlvc.odb.backends import RemoteSpec, open_remote
from mlvc.odb.transfer import RemoteRuns

PY = shlex.quote(sys.executable)


def _stage(repo, log):
    code = (f"import pathlib; pathlib.Path('out.txt').write_text(open('raw.txt').read().upper()); "
            f"open({str(log)!r}, 'a').write('ran\\n')")
    (repo.root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, "stages": {
        "make": {"cmd": f"{PY} -c {shlex.quote(code)}", "deps": ["raw.txt"], "outs": ["out.txt"]}}}))


def _runs(log) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _two_runs(repo, mlvc, tmp_path):
    """Two runs of stage make (raw.txt 'abc', then 'xyz'), committed; a folder remote."""
    log = tmp_path / "ran.log"
    assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
    (repo.root / "raw.txt").write_text("abc")
    _stage(repo, log)
    assert mlvc("repro").exit_code == 0
    (repo.root / "raw.txt").write_text("xyz")
    assert mlvc("repro").exit_code == 0
    assert _runs(log) == 2
    repo.commit("two runs")
    return log


def test_a_fresh_clone_restores_from_the_pulled_run_cache(repo, mlvc, tmp_path, monkeypatch):
    log = _two_runs(repo, mlvc, tmp_path)
    r = mlvc("push", "--run-cache")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "Pushed 2 run-cache record(s)."
    assert mlvc("push", "--run-cache", "--json").stdout.count('"runs": 0') == 1  # nothing more to send
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    (clone / "raw.txt").write_text("abc")  # back to the first run's input
    r = mlvc("pull", "--run-cache")
    assert r.exit_code == 0, r.output
    assert "Fetched 2 run-cache record(s)." in r.stdout.splitlines()
    r = mlvc("repro", "--json")
    assert r.exit_code == 0, r.output
    assert [s["action"] for s in json.loads(r.stdout)["stages"]] == ["restored"]
    assert _runs(log) == 2  # the command did not run
    assert (clone / "out.txt").read_text() == "ABC"


def test_without_the_run_cache_the_clone_runs_the_stage(repo, mlvc, tmp_path, monkeypatch):
    log = _two_runs(repo, mlvc, tmp_path)
    assert mlvc("push").exit_code == 0
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    (clone / "raw.txt").write_text("abc")
    assert mlvc("pull").exit_code == 0
    r = mlvc("repro", "--json")
    assert [s["action"] for s in json.loads(r.stdout)["stages"]] == ["ran"]
    assert _runs(log) == 3


def test_a_record_goes_only_with_the_objects_it_names(repo, mlvc, tmp_path):
    _two_runs(repo, mlvc, tmp_path)
    old = hash_bytes(b"ABC")  # the first run's out.txt leaves the cache; its record stays there
    (repo.root / ".mlvc" / "cache" / "files" / "xxh3" / old[:2] / old[2:]).unlink()
    r = mlvc("push", "--run-cache", "--json")
    assert json.loads(r.stdout)["runs"] == 1
    store = open_remote(RemoteSpec("store", str(tmp_path / "remote")), str(repo.root))
    (key,) = RemoteRuns(store).keys()
    oids = [d["oid"] for d in json.loads(RemoteRuns(store).read(key))["outs"].values()]
    assert not store.missing(oids)  # every object a pushed record names is on the remote


def test_fetch_brings_only_records_whose_objects_the_remote_holds(repo, mlvc, tmp_path, monkeypatch):
    _two_runs(repo, mlvc, tmp_path)
    assert mlvc("push", "--run-cache").exit_code == 0
    store = open_remote(RemoteSpec("store", str(tmp_path / "remote")), str(repo.root))
    runs = RemoteRuns(store)
    old = hash_bytes(b"ABC")  # the first run's out.txt; the workspace records 'XYZ'
    keys = sorted(runs.keys(), key=lambda k: json.loads(runs.read(k))["outs"]["out.txt"]["oid"] != old)
    store.remove(old)  # the first run's record names an object no longer on the remote
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("fetch", "--run-cache", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["runs"] == 1
    assert not (clone / ".mlvc" / "cache" / "runs" / keys[0][:2] / keys[0][2:]).exists()
    assert (clone / ".mlvc" / "cache" / "runs" / keys[1][:2] / keys[1][2:]).is_file()
