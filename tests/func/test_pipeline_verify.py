"""`mlvc verify` end to end: real git repositories, real commands, the real CLI as a subprocess
(with its own TMPDIR, so the temporary worktree can be seen to go)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from funcutil import read_lock, snapshot

PY = shlex.quote(sys.executable)


def py(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


def write_stages(root, stages: dict) -> None:
    """mlvc.yaml with these stages; the artifacts `mlvc add` listed stay (else they are not tracked)."""
    old = yaml.safe_load((root / "mlvc.yaml").read_text()) if (root / "mlvc.yaml").exists() else None
    kept = {"artifacts": old["artifacts"]} if old and old.get("artifacts") else {}
    (root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, **kept, "stages": stages}, sort_keys=False))


# prepare: raw.txt (added by hand) -> prepared/ (a.txt, b.txt); train: prepared -> model.txt, metrics.json
PREPARE = py("import os, pathlib; os.makedirs('prepared', exist_ok=True); t = open('raw.txt').read(); "
             "pathlib.Path('prepared/a.txt').write_text(t.upper()); pathlib.Path('prepared/b.txt').write_text(t[::-1])")
PREPARE_RANDOM_B = py("import os, pathlib; os.makedirs('prepared', exist_ok=True); t = open('raw.txt').read(); "
                      "pathlib.Path('prepared/a.txt').write_text(t.upper()); "
                      "pathlib.Path('prepared/b.txt').write_text(os.urandom(8).hex())")
TRAIN = py("import json, pathlib; d = pathlib.Path('prepared/a.txt').read_text(); "
           "pathlib.Path('model.txt').write_text(d * 2); json.dump({'n': len(d)}, open('metrics.json', 'w'))")
TRAIN_RANDOM = py("import json, os, pathlib; pathlib.Path('model.txt').write_text(os.urandom(8).hex()); "
                  "json.dump({'n': 1}, open('metrics.json', 'w'))")


def stages(prepare=PREPARE, train=TRAIN) -> dict:
    return {"prepare": {"cmd": prepare, "deps": ["raw.txt"], "outs": ["prepared"]},
            "train": {"cmd": train, "deps": ["prepared"], "outs": ["model.txt"], "metrics": ["metrics.json"]}}


@pytest.fixture
def run(mlvc_proc, tmp_path_factory):
    """``run("verify", ...)`` in the repository, with a TMPDIR of its own (``run.tmp``)."""
    tmp = tmp_path_factory.mktemp("verify-tmp")

    def call(*args, cwd=None, **kw):
        return mlvc_proc(*args, cwd=cwd or os.getcwd(), env={**os.environ, "TMPDIR": str(tmp), **kw.pop("env", {})},
                         **kw)

    call.tmp = tmp
    return call


def committed(repo, run, **kw):
    """raw.txt added by hand, the two stages run and everything committed."""
    root = repo.root
    root.gen("raw.txt", "abc")
    assert run("add", "raw.txt").returncode == 0
    write_stages(root, stages(**kw))
    p = run("repro")
    assert p.returncode == 0, p.stderr
    return repo.commit("pipeline")


def user_state(repo) -> tuple:
    """Every workspace file (the shared cache aside), the lock, git's status, index and HEAD."""
    return (snapshot(repo.root, skip=(".git", ".mlvc/tmp", ".mlvc/cache")),
            repo.git("status", "--porcelain", "--untracked-files=all"),
            repo.git("ls-files", "-s"), repo.git("rev-parse", "HEAD"), repo.git("symbolic-ref", "HEAD"))


def assert_cleaned_up(repo, run) -> None:
    assert repo.git("worktree", "list", "--porcelain").count("worktree ") == 1
    assert os.listdir(run.tmp) == []
    assert not os.path.exists(os.path.join(repo.root, ".git", "worktrees")) or \
        os.listdir(os.path.join(repo.root, ".git", "worktrees")) == []


def test_a_deterministic_pipeline_verifies(repo, run):
    commit = committed(repo, run)
    before = user_state(repo)
    p = run("verify")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] == f"Verifying HEAD ({commit[:10]}) in a temporary worktree."
    assert re.search(r"^prepare\s+prepared\s+reproduced$", p.stdout, re.M), p.stdout
    assert re.search(r"^train\s+model\.txt\s+reproduced$", p.stdout, re.M), p.stdout
    assert re.search(r"^\s+metrics\.json\s+reproduced$", p.stdout, re.M), p.stdout
    assert f"Every out of 2 stages reproduced bit for bit at HEAD ({commit[:10]})." in p.stdout
    assert user_state(repo) == before
    assert_cleaned_up(repo, run)


def test_json_says_what_was_compared(repo, run):
    commit = committed(repo, run)
    lock = read_lock(repo.root)
    p = run("verify", "--json", "-j", "2")
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert (result["rev"], result["commit"], result["reproduced"]) == ("HEAD", commit, True)
    assert [s["name"] for s in result["stages"]] == ["prepare", "train"]
    train = result["stages"][1]
    assert train["result"] == "reproduced"
    outs = {o["path"]: o for o in train["outs"]}
    assert outs["model.txt"]["recorded"] == outs["model.txt"]["reproduced"] == lock["artifacts"]["model.txt"]["oid"]
    assert outs["metrics.json"]["cached"] is False and outs["metrics.json"]["same"] is True


def test_a_stage_that_writes_a_random_number_fails_naming_the_out_and_both_ids(repo, run):
    committed(repo, run, train=TRAIN_RANDOM)
    recorded = read_lock(repo.root)["artifacts"]["model.txt"]["oid"]
    before = user_state(repo)
    p = run("verify")
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"^train\s+model\.txt\s+DIFFERS$", p.stdout, re.M), p.stdout
    assert re.search(rf"^\s+recorded\s+{recorded}$", p.stdout, re.M), p.stdout
    got = re.search(r"^\s+reproduced\s+([0-9a-f]{32})$", p.stdout, re.M)
    assert got and got.group(1) != recorded, p.stdout
    assert re.search(r"^prepare\s+prepared\s+reproduced$", p.stdout, re.M)
    assert "1 of 2 stages did not reproduce: train (model.txt)." in p.stdout
    assert user_state(repo) == before  # the workspace keeps its own model.txt
    assert_cleaned_up(repo, run)


def test_a_folder_out_names_the_one_file_that_differs(repo, run):
    committed(repo, run, prepare=PREPARE_RANDOM_B)
    lock = read_lock(repo.root)
    p = run("verify", "--json")
    assert p.returncode == 1, p.stderr
    prepare = json.loads(p.stdout)["stages"][0]
    assert prepare["result"] == "differs"
    (out,) = prepare["outs"]
    assert out["path"] == "prepared" and out["recorded"] == lock["artifacts"]["prepared"]["oid"]
    assert out["reproduced"].endswith(".tree") and out["reproduced"] != out["recorded"]
    assert [(f["path"], f["change"]) for f in out["files"]] == [("prepared/b.txt", "modified")]
    text = run("verify")
    assert text.returncode == 1
    assert re.search(r"^\s+modified\s+prepared/b\.txt$", text.stdout, re.M), text.stdout
    table = text.stdout[text.stdout.index("\nstage "):]
    assert "prepared/a.txt" not in table


def test_an_older_revision_while_the_workspace_is_at_head(repo, run):
    first = committed(repo, run)
    write_stages(repo.root, stages(train=TRAIN_RANDOM))
    assert run("repro").returncode == 0
    repo.commit("random model")
    before = user_state(repo)
    assert run("verify").returncode == 1
    p = run("verify", "--rev", "HEAD~1", "--json")
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert (result["rev"], result["commit"], result["reproduced"]) == ("HEAD~1", first, True)
    assert user_state(repo) == before
    assert_cleaned_up(repo, run)


def test_a_target_verifies_it_and_what_it_depends_on(repo, run):
    committed(repo, run, train=TRAIN_RANDOM)
    p = run("verify", "prepare", "--json")
    assert p.returncode == 0, p.stderr
    assert [s["name"] for s in json.loads(p.stdout)["stages"]] == ["prepare"]
    p = run("verify", "model.txt", "--json")
    assert p.returncode == 1
    assert [s["name"] for s in json.loads(p.stdout)["stages"]] == ["prepare", "train"]


def test_a_failing_command_is_exit_2_naming_the_stage(repo, run):
    # The stage reads a file that is in the workspace but was never committed.
    (repo.root / ".git" / "info" / "exclude").write_text("local.txt\n")
    repo.root.gen("local.txt", "here only")
    committed(repo, run, train=py("import pathlib; pathlib.Path('model.txt').write_text(open('local.txt').read()); "
                                  "pathlib.Path('metrics.json').write_text('{}')"))
    before = user_state(repo)
    p = run("verify")
    assert p.returncode == 2, p.stdout + p.stderr
    err = p.stderr.strip().splitlines()[-1]
    assert err.startswith("error: could not verify HEAD (") and "stage 'train' failed" in err, p.stderr
    assert "exited with code 1" in err
    assert "Traceback" in p.stderr  # the command's own error, which streams through
    assert "Traceback" not in err
    assert user_state(repo) == before
    assert_cleaned_up(repo, run)


def test_a_missing_input_is_exit_2_naming_it(repo, run, tmp_path_factory):
    committed(repo, run)
    oid = read_lock(repo.root)["artifacts"]["raw.txt"]["oid"]
    clone = tmp_path_factory.mktemp("clone") / "c"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)  # no cache there
    p = run("verify", cwd=clone)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "error: input 'raw.txt' of stage 'prepare' at HEAD (" in p.stderr
    assert oid in p.stderr and "is not in the cache" in p.stderr
    assert "Running stage" not in p.stdout  # nothing ran
    assert subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=clone, capture_output=True,
                          text=True).stdout.count("worktree ") == 1
    assert os.listdir(run.tmp) == []


def test_a_stage_never_recorded_is_exit_2_before_anything_runs(repo, run):
    committed(repo, run)
    write_stages(repo.root, {**stages(), "late": {"cmd": "echo late > late.txt", "outs": ["late.txt"]}})
    repo.commit("a stage never run")
    p = run("verify")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "error: stage 'late' has no record in mlvc.lock at HEAD (" in p.stderr
    assert "Running stage" not in p.stdout


def test_json_error_when_it_could_not_run(repo, run):
    committed(repo, run)
    p = run("verify", "--rev", "no-such-rev", "--json")
    assert p.returncode == 2
    assert json.loads(p.stdout)["exit_code"] == 2
    assert "unknown git revision 'no-such-rev'" in p.stderr
    assert run("verify", "--rev", "--help-me").returncode == 2


def test_linked_files_in_the_worktree_are_removed_too(repo, run):
    assert run("config", "--local", "cache.type", "hardlink").returncode == 0
    committed(repo, run)
    p = run("verify")
    assert p.returncode == 0, p.stdout + p.stderr
    assert_cleaned_up(repo, run)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_removes_the_worktree(repo, run, tmp_path_factory, sig):
    marker = tmp_path_factory.mktemp("mark") / "started"  # outside the repository
    tag = f"verify-ctrl-c-{uuid.uuid4().hex}"  # this test's own: the other signal's run may be sleeping too
    # Sleeps only when MARK is set: quick under repro, long under verify.
    sleepy = py("import os, pathlib, time; pathlib.Path('model.txt').write_text('m'); "
                "pathlib.Path('metrics.json').write_text('{}'); m = os.environ.get('MARK')\n"
                f"if m:\n    pathlib.Path(m).write_text('1'); time.sleep(59.875)  # {tag}")
    committed(repo, run, train=sleepy)
    before = user_state(repo)
    proc = subprocess.Popen([sys.executable, "-m", "mlvc", "verify"], cwd=repo.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(run.tmp), "MARK": str(marker)})
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    assert repo.git("worktree", "list", "--porcelain").count("worktree ") == 2  # the stage runs in it
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert_cleaned_up(repo, run)
    assert user_state(repo) == before
    assert subprocess.run(["pgrep", "-f", tag], capture_output=True).returncode == 1


def test_run_from_a_git_hook_the_users_index_and_work_tree_stay(repo, run):
    """A pre-commit or pre-push hook runs with GIT_DIR, GIT_INDEX_FILE and GIT_WORK_TREE set to
    the user's: the worktree's git must not follow them."""
    committed(repo, run)
    before = user_state(repo)
    git_dir = str(repo.root / ".git")
    p = run("verify", env={"GIT_DIR": git_dir, "GIT_INDEX_FILE": os.path.join(git_dir, "index"),
                           "GIT_WORK_TREE": str(repo.root)})
    assert p.returncode == 0, p.stdout + p.stderr
    assert user_state(repo) == before
    assert_cleaned_up(repo, run)


def test_a_revision_before_mlvc_init_is_exit_2(scm, run):
    scm.root.gen("a.txt", "a")
    scm.commit("before mlvc")
    assert run("init").returncode == 0
    scm.commit("mlvc init")
    p = run("verify", "--rev", "HEAD~1")
    assert p.returncode == 2
    assert "has no .mlvc folder: mlvc was not set up in that commit" in p.stderr
    assert run("verify").returncode == 0  # no stages: nothing differs


def test_a_stale_record_is_noted_beside_the_out_that_differs(repo, run):
    root = repo.root
    root.gen("make.py", "open('out.txt', 'w').write('one')\n")
    write_stages(root, {"make": {"cmd": f"{PY} make.py", "deps": ["make.py"], "outs": ["out.txt"]}})
    assert run("repro").returncode == 0
    repo.commit("make")
    root.gen("make.py", "open('out.txt', 'w').write('two')\n")
    repo.commit("changed, committed without repro")
    p = run("verify")
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"^make\s+out\.txt\s+DIFFERS$", p.stdout, re.M), p.stdout
    assert "note: the record at this revision is stale (dep make.py changed)" in p.stdout
    assert json.loads(run("verify", "--json").stdout)["stages"][0]["stale"] == ["dep make.py changed"]


def test_a_frozen_stage_is_checked_out_as_recorded_and_what_reads_it_verified(repo, run):
    root = repo.root
    write_stages(root, {"base": {"cmd": py("import os; open('base.txt', 'w').write(os.urandom(8).hex())"),
                                 "outs": ["base.txt"]},
                        "use": {"cmd": "cat base.txt base.txt > use.txt", "deps": ["base.txt"], "outs": ["use.txt"]}})
    assert run("repro").returncode == 0
    spec = yaml.safe_load((root / "mlvc.yaml").read_text())
    spec["stages"]["base"]["frozen"] = True
    (root / "mlvc.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    repo.commit("base frozen")
    p = run("verify")
    assert p.returncode == 0, p.stdout + p.stderr  # base's random out is not re-made: use reads the recorded one
    assert "Stage 'base' is frozen: its outs are checked out as recorded, not verified." in p.stdout
    assert re.search(r"^base\s+-\s+frozen$", p.stdout, re.M), p.stdout
    assert re.search(r"^use\s+use\.txt\s+reproduced$", p.stdout, re.M), p.stdout
