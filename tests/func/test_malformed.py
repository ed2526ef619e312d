"""Malformed mlvc.yaml / mlvc.lock: one line naming the file and the line, exit 3, no traceback."""

import re

import pytest
from funcutil import one_line_error, oid_of, snapshot

OID = oid_of(b"a")
GOOD_LOCK = f"schema: 2\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: 1\n"

BAD_LOCKS = [
    # (content, line, words)
    ("schema: 1\nartifacts:\n  a.bin: [oid\n", 4, "invalid YAML"),
    ("schema: 1\nartifacts:\n\ta.bin:\n", 3, "invalid YAML"),
    (f"schema: 1\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: big\n", 5, "size must be a non-negative integer"),
    (f"schema: 1\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: -1\n", 5, "size must be a non-negative integer"),
    ("schema: 1\nartifacts:\n  a.bin:\n    oid: 12\n    size: 1\n", 4, "bad object id"),
    (f"schema: 2\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: 1\n    executable: 1\n", 6,
     "executable must be true or false"),
    (f"schema: 2\nartifacts:\n  a.bin:\n    oid: {OID}.tree\n    size: 1\n    nfiles: 1\n    executable: true\n",
     3, "executable goes with a file"),
    (f"schema: 2\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: 1\nstages:\n  s:\n    cmd: x\n    outs: [b.bin]\n",
     9, "out 'b.bin' has no entry in artifacts"),
    (f"schema: 2\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: 1\nstages:\n  s:\n    outs: [a.bin]\n",
     7, "needs cmd"),
    (f"schema: 2\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: 1\nstages:\n  s:\n    cmd: x\n"
     f"    deps:\n      d.py: {{oid: zz, size: 1}}\n", 10, "bad object id"),
    ("schema: 1\nartifacts:\n  - a.bin\n", 3, "artifacts must be a mapping"),
    ("schema: 3\nartifacts: {}\n", 1, "unsupported schema 3"),
    ("schema: 0\nartifacts: {}\n", 1, "unsupported schema 0"),
    ("schema: 1\nartifacts:\n  a.bin:\n    size: 1\n", 3, "needs oid and size"),
    (f"schema: 1\nartifacts:\n  a.bin:\n    oid: {OID}.tree\n    size: 1\n", 3, "nfiles"),
    (f"schema: 1\nartifacts:\n  a.bin:\n    oid: {OID}\n    size: 1\n  a.bin:\n    oid: {OID}\n    size: 1\n",
     6, "duplicate key"),
    (f"schema: 1\nartifacts:\n  ../evil:\n    oid: {OID}\n    size: 1\n", 3, "'..'"),
    (f"schema: 1\nartifacts:\n  /etc/evil:\n    oid: {OID}\n    size: 1\n", 3, "absolute"),
    (f"schema: 1\nartifacts:\n  .git/hooks/pre-commit:\n    oid: {OID}\n    size: 1\n", 3, ".git"),
]

BAD_PROJECTS = [
    ("schema: 1\nartifacts: a.bin\n", 2, "artifacts must be a list"),
    ("schema: 2\nartifacts:\n- a.bin\nouts: {}\n", 4, "unknown key 'outs'"),
    ("schema: 3\nartifacts:\n- a.bin\n", 1, "unsupported schema 3"),
    ("schema: 2\nartifacts:\n- a.bin\nstages:\n  train: python x.py\n", 5, "stage 'train' must be a mapping"),
    ("schema: 1\nartifacts:\n- a.bin\n- [x\n", 5, "invalid YAML"),  # found at the end of the file
    ("schema: 1\nartifacts:\n- a.bin\n- a.bin\n", 4, "listed twice"),
    ("schema: 1\nartifacts:\n- a.bin\n- {x: 1}\n", 4, "must be a str"),
    ("schema: 1\nartifacts:\n- a.bin\n- ../up\n", 4, "'..'"),
]


def _setup(repo, mlvc):
    repo.root.gen("a.bin", "a")
    assert mlvc("add", "a.bin").exit_code == 0
    assert (repo.root / "mlvc.lock").read_text() == GOOD_LOCK


@pytest.mark.parametrize("content, line, words", BAD_LOCKS, ids=[w for _, _, w in BAD_LOCKS])
def test_bad_lock(repo, mlvc, content, line, words):
    _setup(repo, mlvc)
    (repo.root / "mlvc.lock").write_text(content)
    before = snapshot(repo.root)
    for args in (["status"], ["checkout"], ["commit"], ["add", "a.bin"], ["fsck"], ["ls"], ["remove", "a.bin"]):
        r = mlvc(*args)
        assert r.exit_code == 3, (args, r.output)
        err = one_line_error(r)
        assert f"mlvc.lock:{line}:" in err, (args, err)
        assert words in err, (args, err)
    assert snapshot(repo.root) == before


@pytest.mark.parametrize("content, line, words", BAD_PROJECTS, ids=[w for _, _, w in BAD_PROJECTS])
def test_bad_project(repo, mlvc, content, line, words):
    _setup(repo, mlvc)
    (repo.root / "mlvc.yaml").write_text(content)
    before = snapshot(repo.root)
    for args in (["status"], ["commit"], ["add", "a.bin"], ["remove", "a.bin"]):
        r = mlvc(*args)
        assert r.exit_code == 3, (args, r.output)
        err = one_line_error(r)
        assert f"mlvc.yaml:{line}:" in err, (args, err)
        assert words in err, (args, err)
    assert snapshot(repo.root) == before


def test_a_newer_schema_says_upgrade(repo, mlvc):
    _setup(repo, mlvc)
    (repo.root / "mlvc.lock").write_text("schema: 3\nartifacts: {}\n")
    assert "upgrade mlvc" in one_line_error(mlvc("status"))


def test_verbose_shows_the_traceback(repo, mlvc):
    _setup(repo, mlvc)
    (repo.root / "mlvc.lock").write_text("schema: [\n")
    r = mlvc("--verbose", "status")
    assert r.exit_code == 3
    assert "Traceback" in r.stderr
    assert "mlvc.lock:" in r.stderr.strip().splitlines()[-1]
    r = mlvc("status")
    assert "Traceback" not in r.output


def test_bad_lock_as_a_process(repo, mlvc, mlvc_proc):
    _setup(repo, mlvc)
    (repo.root / "mlvc.lock").write_text("schema: 1\nartifacts:\n  a.bin: {oid: 7, size: 1}\n")
    p = mlvc_proc("status", cwd=repo.root)
    assert p.returncode == 3
    assert "Traceback" not in p.stdout + p.stderr
    assert p.stderr.count("\n") == 1 and "mlvc.lock:3:" in p.stderr


def _conflict(repo, mlvc):
    """Two branches record different versions of data; `git merge` conflicts on mlvc.lock."""
    repo.root.gen({"data": {"x.csv": "base"}})
    assert mlvc("add", "data").exit_code == 0
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "theirs")
    (repo.root / "data" / "x.csv").write_text("their change")
    assert mlvc("commit").exit_code == 0
    repo.commit("theirs")
    repo.git("checkout", "-q", "main")
    assert mlvc("checkout").exit_code == 0
    (repo.root / "data" / "x.csv").write_text("our change")
    assert mlvc("commit").exit_code == 0
    repo.commit("ours")
    import subprocess

    merge = subprocess.run(["git", "merge", "theirs"], cwd=repo.root, capture_output=True, text=True)
    assert merge.returncode != 0 and "CONFLICT" in merge.stdout + merge.stderr
    text = (repo.root / "mlvc.lock").read_text()
    assert "<<<<<<<" in text
    return text.splitlines().index(next(x for x in text.splitlines() if x.startswith("<<<<<<<"))) + 1


def test_git_merge_conflict_on_lock(repo, mlvc):
    line = _conflict(repo, mlvc)
    before = snapshot(repo.root)
    for args in (["status"], ["checkout"], ["checkout", "--force"], ["commit"], ["add", "data"], ["ls"]):
        r = mlvc(*args)
        assert r.exit_code == 3, (args, r.output)
        err = one_line_error(r)
        assert f"mlvc.lock:{line}:" in err, err
        assert "conflict markers" in err
        assert re.search(r"resolve the merge", err)
        assert "git checkout --ours mlvc.lock" in err
    assert snapshot(repo.root) == before
    # taking one side resolves it
    repo.git("checkout", "--theirs", "mlvc.lock")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert (repo.root / "data" / "x.csv").read_text() == "their change"


def test_conflict_markers_in_project(repo, mlvc):
    _setup(repo, mlvc)
    (repo.root / "mlvc.yaml").write_text("schema: 1\nartifacts:\n<<<<<<< HEAD\n- a.bin\n=======\n- b.bin\n>>>>>>> x\n")
    r = mlvc("status")
    assert r.exit_code == 3
    err = one_line_error(r)
    assert "mlvc.yaml:3:" in err and "conflict markers" in err and "resolve the merge" in err


def test_json_errors_are_json_on_stdout_too(repo, mlvc):
    import json

    _setup(repo, mlvc)
    (repo.root / "mlvc.lock").write_text("schema: 3\nartifacts: {}\n")
    for args in (["status", "--json"], ["ls", "--json"], ["checkout", "--json"]):
        r = mlvc(*args)
        assert r.exit_code == 3, args
        got = json.loads(r.stdout)
        assert got["exit_code"] == 3 and "unsupported schema 3" in got["error"] and got["hint"] == "upgrade mlvc"
        assert one_line_error(r).startswith("error: mlvc.lock:1:")
    r = mlvc("status")  # without --json: nothing on stdout
    assert r.stdout == "" and r.exit_code == 3
