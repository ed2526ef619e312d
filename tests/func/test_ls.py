import json
import os
import re

from funcutil import one_line_error, read_lock


def _two_commits(repo, mlvc):
    repo.root.gen({"data": {"a": "1" * 100, "b": "2" * 50}, "model.pkl": "m" * 2048})
    assert mlvc("add", "data", "model.pkl").exit_code == 0
    sha1 = repo.commit("v1")
    repo.root.gen("data/c", "3" * 10)
    os.unlink(repo.root / "model.pkl")
    assert mlvc("remove", "model.pkl").exit_code == 0
    assert mlvc("commit").exit_code == 0
    repo.root.gen("extra.bin", "e")
    assert mlvc("add", "extra.bin").exit_code == 0
    sha2 = repo.commit("v2")
    return sha1, sha2


def test_ls_two_revisions(repo, mlvc):
    sha1, sha2 = _two_commits(repo, mlvc)
    r = mlvc("ls", "--rev", sha1, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["rev"] == sha1
    by_path = {a["path"]: a for a in out["artifacts"]}
    assert set(by_path) == {"data", "model.pkl"}
    assert by_path["data"]["size"] == 150 and by_path["data"]["nfiles"] == 2 and by_path["data"]["type"] == "dir"
    assert by_path["model.pkl"]["size"] == 2048 and by_path["model.pkl"]["type"] == "file"
    assert "nfiles" not in by_path["model.pkl"]

    r = mlvc("ls", "--rev", "HEAD", "--json")
    out = json.loads(r.stdout)
    assert out["rev"] == sha2
    by_path = {a["path"]: a for a in out["artifacts"]}
    assert set(by_path) == {"data", "extra.bin"}
    assert by_path["data"]["size"] == 160 and by_path["data"]["nfiles"] == 3
    assert by_path["data"]["oid"] == read_lock(repo.root)["artifacts"]["data"]["oid"]

    r = mlvc("ls", "-r", "HEAD~1")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert re.match(r"data\s+150 B\s+2 files\s+[0-9a-f]{12}$", lines[0])
    assert re.match(r"model\.pkl\s+2\.0 KiB\s+file\s+[0-9a-f]{12}$", lines[1])


def test_ls_reads_git_not_the_workspace(repo, mlvc):
    sha1, _ = _two_commits(repo, mlvc)
    (repo.root / "mlvc.lock").write_text("garbage: [\n")  # the workspace file is not read
    r = mlvc("ls", "--rev", sha1)
    assert r.exit_code == 0, r.output
    assert "model.pkl" in r.stdout


def test_ls_workspace(repo, mlvc):
    _two_commits(repo, mlvc)
    repo.root.gen("new.bin", "n")
    assert mlvc("add", "new.bin").exit_code == 0
    out = json.loads(mlvc("ls", "--json").stdout)
    assert out["rev"] is None
    assert [a["path"] for a in out["artifacts"]] == ["data", "extra.bin", "new.bin"]


def test_ls_revision_without_lock(repo, mlvc):
    _two_commits(repo, mlvc)
    r = mlvc("ls", "--rev", "HEAD~2")  # the `mlvc init` commit
    assert r.exit_code == 0
    assert "No artifacts recorded at HEAD~2." in r.stdout


def test_ls_bad_revision(repo, mlvc):
    _two_commits(repo, mlvc)
    for rev in ("no-such-branch", "HEAD~99", "abcdef1234"):
        r = mlvc("ls", "--rev", rev)
        assert r.exit_code == 3, rev
        assert f"unknown git revision '{rev}'" in one_line_error(r)


def test_ls_unknown_full_sha(repo, mlvc):
    _two_commits(repo, mlvc)
    r = mlvc("ls", "--rev", "0" * 40)
    assert r.exit_code == 3, r.output
    assert "unknown git revision" in one_line_error(r)


def test_ls_malformed_lock_in_history(repo, mlvc):
    _two_commits(repo, mlvc)
    (repo.root / "mlvc.lock").write_text("schema: 1\nartifacts:\n  x:\n    oid: nothex\n    size: 1\n")
    repo.commit("broken lock")
    r = mlvc("ls", "--rev", "HEAD")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "mlvc.lock@HEAD:4" in line and "bad object id" in line


def test_ls_says_1_file_not_1_files_and_q_keeps_the_listing(repo, mlvc):
    repo.root.gen({"one": {"a": "a"}, "two": {"a": "a", "b": "b"}})
    assert mlvc("add", "one", "two").exit_code == 0
    r = mlvc("ls")
    assert "1 file " in r.stdout and "1 files" not in r.stdout and "2 files" in r.stdout
    assert mlvc("-q", "ls").stdout == r.stdout  # -q hides messages, not the data asked for


def test_output_into_a_closed_pipe_exits_quietly(repo, mlvc):
    import subprocess
    import sys

    repo.root.gen({"d": {f"f{i}": str(i) for i in range(50)}})
    assert mlvc("add", "d").exit_code == 0
    for f in (repo.root / "d").iterdir():
        f.write_text("changed")
    for args in (["status", "--all"], ["ls"], ["config", "--list"]):
        p = subprocess.Popen([sys.executable, "-m", "mlvc", *args], cwd=repo.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdout.close()  # the reader is gone before anything is written (`| head -0`)
        err = p.stderr.read().decode()
        assert p.wait() == 141, (args, err)
        assert err == "", (args, err)
