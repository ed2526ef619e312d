"""`mlvc verify` and `mlvc repro --pull` fetch what the cache lacks from the default remote (set
in the committed .mlvc/config): a CI job is `git clone`, `mlvc verify`."""

from __future__ import annotations

import json
import os
import shlex
import sys

import yaml
from funcutil import git_clone, read_lock

PY = shlex.quote(sys.executable)


def py(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


PREPARE = py("import os, pathlib; os.makedirs('prepared', exist_ok=True); t = open('raw.txt').read(); "
             "pathlib.Path('prepared/a.txt').write_text(t.upper()); pathlib.Path('prepared/b.txt').write_text(t[::-1])")


def _committed(repo, mlvc, tmp_path, log=None):
    """raw.txt added by hand, stage prepare run, a default folder remote in the committed
    .mlvc/config, everything committed (nothing pushed yet)."""
    root = repo.root
    root.gen("raw.txt", "abc")
    assert mlvc("add", "raw.txt").exit_code == 0
    cmd = PREPARE if log is None else PREPARE + f" && echo ran >> {shlex.quote(str(log))}"
    (root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, "artifacts": ["raw.txt"], "stages": {
        "prepare": {"cmd": cmd, "deps": ["raw.txt"], "outs": ["prepared"]}}}))
    assert mlvc("repro").exit_code == 0
    assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
    repo.commit("pipeline and remote")


def test_verify_in_a_fresh_clone_fetches_its_inputs(repo, mlvc, mlvc_proc, tmp_path):
    _committed(repo, mlvc, tmp_path)
    assert mlvc("push").exit_code == 0
    oid = read_lock(repo.root)["artifacts"]["raw.txt"]["oid"]
    clone = git_clone(repo, tmp_path)
    p = mlvc_proc("verify", cwd=clone)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Every out of 1 stage reproduced bit for bit at HEAD (" in p.stdout
    assert (clone / ".mlvc" / "cache" / "files" / "xxh3" / oid[:2] / oid[2:]).is_file()  # fetched
    assert not (clone / "raw.txt").exists()  # the workspace is untouched


def test_verify_without_the_pushed_input_names_it(repo, mlvc, mlvc_proc, tmp_path):
    _committed(repo, mlvc, tmp_path)  # the remote is configured but empty
    clone = git_clone(repo, tmp_path)
    p = mlvc_proc("verify", cwd=clone)
    assert p.returncode != 0
    assert p.stderr.splitlines()[0].startswith("error: ") and "store" in p.stderr
    assert "Running stage" not in p.stdout


def test_repro_pull_checks_out_the_inputs_and_outs_then_nothing_runs(repo, mlvc, tmp_path, monkeypatch):
    log = tmp_path / "ran.log"
    _committed(repo, mlvc, tmp_path, log)
    assert mlvc("push").exit_code == 0
    assert log.read_text() == "ran\n"
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    r = mlvc("repro")
    assert r.exit_code != 0  # without --pull: raw.txt is missing
    r = mlvc("repro", "--pull", "--json")
    assert r.exit_code == 0, r.output
    assert [s["action"] for s in json.loads(r.stdout)["stages"]] == ["skipped"]
    assert (clone / "raw.txt").read_text() == "abc"
    assert (clone / "prepared" / "a.txt").read_text() == "ABC"
    assert log.read_text() == "ran\n"


def test_repro_pull_restores_a_changed_input_from_the_remote_run_cache(repo, mlvc, tmp_path, monkeypatch):
    log = tmp_path / "ran.log"
    _committed(repo, mlvc, tmp_path, log)
    (repo.root / "raw.txt").write_text("xyz")
    assert mlvc("commit", "raw.txt").exit_code == 0
    assert mlvc("repro").exit_code == 0
    repo.commit("xyz")
    assert mlvc("push", "--run-cache").exit_code == 0
    assert log.read_text() == "ran\nran\n"
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    (clone / "raw.txt").write_text("abc")  # the first run's input, in a clone with no cache
    r = mlvc("repro", "--pull", "--json")
    assert r.exit_code == 0, r.output
    assert [s["action"] for s in json.loads(r.stdout)["stages"]] == ["restored"]
    assert (clone / "raw.txt").read_text() == "abc"  # a local change is never overwritten
    assert (clone / "prepared" / "a.txt").read_text() == "ABC"
    assert log.read_text() == "ran\nran\n"


def test_repro_pull_without_a_remote_is_one_line(repo, mlvc):
    repo.root.gen("raw.txt", "abc")
    assert mlvc("add", "raw.txt").exit_code == 0
    (repo.root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, "artifacts": ["raw.txt"], "stages": {
        "prepare": {"cmd": PREPARE, "deps": ["raw.txt"], "outs": ["prepared"]}}}))
    r = mlvc("repro", "--pull")
    assert r.exit_code == 3
    assert r.stderr.splitlines() == ["error: no remote given and no default remote set; name one with -r NAME, or "
                                     "set one with `mlvc remote default NAME` (`mlvc remote add --default NAME URL` "
                                     "adds one)"]
    assert not os.path.exists(repo.root / "prepared")
