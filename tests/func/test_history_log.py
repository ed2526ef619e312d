"""`mlvc log` end to end, in real git repositories across several commits."""

import json
import os
import subprocess

from funcutil import one_line_error


def _history(repo, mlvc):
    """c1 adds data/ and model.pkl; c2 changes data/b only; c3 touches only other.txt's record;
    c4 deletes model.pkl; c5 adds model.pkl again; c6 changes data/a."""
    repo.root.gen({"data": {"a": "1" * 100, "b": "2" * 50}, "model.pkl": "m" * 2048})
    assert mlvc("add", "data", "model.pkl").exit_code == 0
    c = [repo.commit("c1 add")]
    repo.root.gen("data/b", "B" * 60)
    assert mlvc("commit").exit_code == 0
    c.append(repo.commit("c2 change b"))
    repo.root.gen("other.txt", "o")
    assert mlvc("add", "other.txt").exit_code == 0
    c.append(repo.commit("c3 other"))
    os.unlink(repo.root / "model.pkl")
    assert mlvc("remove", "model.pkl").exit_code == 0
    c.append(repo.commit("c4 drop model"))
    repo.root.gen("model.pkl", "n" * 10)
    assert mlvc("add", "model.pkl").exit_code == 0
    c.append(repo.commit("c5 model back"))
    repo.root.gen("data/a", "A" * 7)
    assert mlvc("commit").exit_code == 0
    c.append(repo.commit("c6 change a"))
    return c


def _json(mlvc, *args):
    r = mlvc("log", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_log_of_a_folder_lists_the_commits_that_changed_it(repo, mlvc):
    c = _history(repo, mlvc)
    out = _json(mlvc, "data")
    assert out["path"] == "data" and out["artifact"] == "data"
    assert [(e["commit"], e["change"], e["message"]) for e in out["commits"]] == [
        (c[5], "modified", "c6 change a"), (c[1], "modified", "c2 change b"), (c[0], "added", "c1 add")]
    first = out["commits"][-1]
    assert first["size"] == 150 and first["nfiles"] == 2 and first["oid"].endswith(".tree")
    assert first["author"] and "@" in first["email"] and first["date"][:2] == "20"
    assert first["stage"] is None


def test_log_of_a_file_with_deletion_and_return(repo, mlvc):
    c = _history(repo, mlvc)
    out = _json(mlvc, "model.pkl")
    assert [(e["commit"], e["change"], e["size"]) for e in out["commits"]] == [
        (c[4], "added", 10), (c[3], "deleted", None), (c[0], "added", 2048)]
    assert out["commits"][1]["oid"] is None


def test_log_n_keeps_the_newest(repo, mlvc):
    c = _history(repo, mlvc)
    assert [e["commit"] for e in _json(mlvc, "data", "-n", "2")["commits"]] == [c[5], c[1]]
    r = mlvc("log", "data", "-n", "1")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == 1
    line = r.stdout.split()
    assert line[0] == c[5][:12] and "modified" in line and line[-3:] == ["c6", "change", "a"]


def test_log_of_a_path_inside_a_tracked_folder(repo, mlvc):
    c = _history(repo, mlvc)
    out = _json(mlvc, "data/b")
    assert out["artifact"] == "data" and out["path"] == "data/b"
    assert [(e["commit"], e["change"], e["size"]) for e in out["commits"]] == [
        (c[1], "modified", 60), (c[0], "added", 50)]
    os.chdir(repo.root / "data")
    assert [e["commit"] for e in _json(mlvc, "a")["commits"]] == [c[5], c[0]]


def test_log_of_a_stage_out_names_the_stage(repo, mlvc):
    repo.root.gen("in.txt", "1")
    assert mlvc("stage", "add", "double", "-d", "in.txt", "-o", "out.txt", "cat in.txt in.txt > out.txt").exit_code == 0
    assert mlvc("repro").exit_code == 0
    c1 = repo.commit("v1")
    repo.root.gen("in.txt", "22")
    assert mlvc("repro").exit_code == 0
    c2 = repo.commit("v2")
    out = _json(mlvc, "out.txt")
    assert [(e["commit"], e["change"], e["stage"], e["size"]) for e in out["commits"]] == [
        (c2, "modified", "double", 4), (c1, "added", "double", 2)]
    assert "stage double" in mlvc("log", "out.txt").stdout


def test_log_never_recorded_path_is_one_line(repo, mlvc):
    _history(repo, mlvc)
    r = mlvc("log", "nothing.bin")
    assert r.exit_code == 3
    assert "nothing.bin is not recorded in mlvc.lock at any commit" in one_line_error(r)


def test_log_runs_two_git_processes_however_long_the_history(repo, mlvc, monkeypatch):
    repo.root.gen("f.txt", "0")
    assert mlvc("add", "f.txt").exit_code == 0
    repo.commit("0")
    for i in range(1, 12):
        repo.root.gen("f.txt", str(i))
        assert mlvc("commit").exit_code == 0
        repo.commit(f"{i}")
    runs = []
    real = subprocess.run

    def counting(args, *a, **kw):
        runs.append(args[:1])
        return real(args, *a, **kw)

    monkeypatch.setattr(subprocess, "run", counting)
    out = _json(mlvc, "f.txt")
    assert len(out["commits"]) == 12 and out["commits"][0]["message"] == "11"
    assert runs == [["git"], ["git"]]


def test_log_help_has_example(mlvc):
    assert "Example: mlvc log" in mlvc("log", "--help").stdout


def test_log_when_mlvc_lock_itself_was_deleted_and_restored(repo, mlvc):
    repo.root.gen("m.bin", "1")
    assert mlvc("add", "m.bin").exit_code == 0
    c1 = repo.commit("add")
    repo.git("rm", "-q", "mlvc.lock")
    c2 = repo.commit("no lock")
    repo.git("checkout", c1, "--", "mlvc.lock")
    c3 = repo.commit("lock back")
    out = _json(mlvc, "m.bin")
    assert [(e["commit"], e["change"]) for e in out["commits"]] == [(c3, "added"), (c2, "deleted"), (c1, "added")]


def test_log_in_a_repository_without_commits(scm, mlvc):
    assert mlvc("init").exit_code == 0
    r = mlvc("log", "x.bin")
    assert r.exit_code == 3
    assert "x.bin is not recorded in mlvc.lock at any commit" in one_line_error(r)


def test_log_reads_one_entry_of_a_plain_lock_and_agrees_with_whole_reads(repo, mlvc, monkeypatch):
    """Locks in mlvc's layout without stages are read one entry at a time (a lock of many
    artifacts is not parsed whole at every commit); the answer is the one whole reads give,
    also for a path inside a folder, a key that YAML quotes, and a lock written by hand."""
    import mlvc.history.log as history_log

    c = _history(repo, mlvc)
    repo.root.gen({"true": "t", "x.bin": "x"})
    assert mlvc("add", "true", "x.bin").exit_code == 0  # 'true' is quoted in YAML
    c.append(repo.commit("c7 quoted"))
    lock = (repo.root / "mlvc.lock").read_text()
    (repo.root / "mlvc.lock").write_text(lock.replace("artifacts:\n", "artifacts:  # by hand\n", 1))
    c.append(repo.commit("c8 by hand"))
    calls = []
    real = history_log._parse
    monkeypatch.setattr(history_log, "_parse", lambda data, sha: calls.append(len(data)) or real(data, sha))
    paths = ["data", "data/a", "model.pkl", "other.txt", "true", "x.bin"]
    quick = {p: _json(mlvc, p) for p in paths}
    assert max(calls[:2]) < 120  # whole locks were not read (c1's and c2's, for data)
    monkeypatch.setattr(history_log, "_entry_lines", lambda data, rel: None)
    assert {p: _json(mlvc, p) for p in paths} == quick
    assert [e["message"] for e in quick["true"]["commits"]] == ["c7 quoted"]
