"""`mlvc repro -j N` and `-k`: independent stages at once, output lines prefixed, failures."""

from __future__ import annotations

import json

import pytest

from funcutil import read_lock
from test_pipeline_repro import py, write_stages


def meet(me: str, other: str) -> str:
    """A stage that can only finish while ``other`` runs at the same time: each waits (20 s at
    most) for the other's flag file, so run one after the other both would fail."""
    return py(f"import os, time, pathlib; pathlib.Path('{me}.flag').write_text('1'); print('{me} waiting'); "
              f"end = time.monotonic() + 20\n"
              f"while not os.path.exists('{other}.flag'):\n"
              f"    if time.monotonic() > end: raise SystemExit('{other} never ran beside me')\n"
              f"    time.sleep(0.02)\n"
              f"pathlib.Path('{me}.txt').write_text('{me}'); print('{me} done')")


def test_independent_stages_run_at_once_with_prefixed_output(mlvc_proc, repo):
    root = repo.root
    write_stages(root, {"a": {"cmd": meet("a", "b"), "outs": ["a.txt"]},
                        "b": {"cmd": meet("b", "a"), "outs": ["b.txt"]},
                        "both": {"cmd": "cat a.txt b.txt > both.txt", "deps": ["a.txt", "b.txt"],
                                 "outs": ["both.txt"]}})
    p = mlvc_proc("repro", "-j", "2", cwd=root)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert {"[a] a waiting", "[a] a done", "[b] b waiting", "[b] b done"} <= set(lines)
    assert lines.index("[a] a done") < lines.index("Running stage 'both' (not run yet):")
    assert (root / "both.txt").read_text() == "ab"
    assert set(read_lock(root)["stages"]) == {"a", "b", "both"}


def test_one_job_runs_one_stage_at_a_time(mlvc, repo):
    # Not timed: with -j 1 the two stages that must meet cannot.
    write_stages(repo.root, {"a": {"cmd": meet("a", "b").replace("20", "1"), "outs": ["a.txt"]},
                             "b": {"cmd": meet("b", "a").replace("20", "1"), "outs": ["b.txt"]}})
    r = mlvc("repro", "-j", "1")
    assert r.exit_code == 3 and "stage 'a' failed" in r.stderr


def test_a_failure_waits_for_running_stages_and_starts_no_new_one(repo):
    from mlvc import api
    from mlvc.errors import MlvcError

    root = repo.root
    write_stages(root, {
        # slow ends only once mlvc has seen bad fail (go.flag, made by the callback below)
        "slow": {"cmd": py("import os, time\nwhile not os.path.exists('go.flag'): time.sleep(0.02)\n"
                           "open('slow.txt', 'w').write('s')"), "outs": ["slow.txt"]},
        "bad": {"cmd": "exit 5", "outs": ["bad.txt"]},
        "later": {"cmd": "echo l > later.txt", "outs": ["later.txt"]},
    })
    seen = []

    def on_stage(run):
        seen.append((run.name, run.action))
        if run.name == "bad" and run.action == "failed":
            (root / "go.flag").write_text("1")

    with pytest.raises(MlvcError) as exc:
        api.repro([], jobs=2, on_stage=on_stage, cwd=str(root), on_output=lambda *a: None)
    assert exc.value.message == "stage 'bad' failed: `exit 5` exited with code 5"
    assert ("slow", "ran") in seen and ("bad", "failed") in seen
    assert "later" not in {name for name, _ in seen}
    assert list(read_lock(root)["stages"]) == ["slow"]  # it was running: it finished and was recorded
    assert not (root / "later.txt").exists()


def test_keep_going_runs_what_does_not_depend_on_the_failure(mlvc, repo):
    root = repo.root
    write_stages(root, {
        "bad": {"cmd": "exit 4", "outs": ["bad.txt"]},
        "after": {"cmd": "cp bad.txt after.txt", "deps": ["bad.txt"], "outs": ["after.txt"]},
        "good": {"cmd": "echo g > good.txt", "outs": ["good.txt"]},
    })
    r = mlvc("repro", "--json")
    assert r.exit_code == 3 and not (root / "good.txt").exists()
    for jobs in ("1", "2"):
        r = mlvc("repro", "-k", "-j", jobs)
        assert r.exit_code == 3
        assert "Stage 'bad' failed: `exit 4` exited with code 4." in r.stdout
        assert "Stage 'after' did not run: stage bad failed." in r.stdout
        assert "error: stage 'bad' failed: `exit 4` exited with code 4" in r.stderr
        assert (root / "good.txt").read_text() == "g\n"
        assert list(read_lock(root)["stages"]) == ["good"]
    r = mlvc("repro", "-k", "--json")
    assert r.exit_code == 3
    result = json.loads(r.stdout)
    assert [(s["name"], s["action"]) for s in result["stages"]] == [
        ("bad", "failed"), ("good", "skipped"), ("after", "blocked")]
    assert result["stages"][2]["reasons"] == [{"what": "stage", "change": "upstream failed", "stage": "bad"}]
    assert result["error"] == "stage 'bad' failed: `exit 4` exited with code 4" and result["exit_code"] == 3


def test_jobs_must_be_positive(mlvc, repo):
    assert mlvc("repro", "-j", "0").exit_code == 2


def test_dry_run_with_jobs(mlvc, repo):
    write_stages(repo.root, {"a": {"cmd": "echo a > a.txt", "outs": ["a.txt"]}})
    r = mlvc("repro", "-j", "4", "--dry-run", "--json")
    assert [s["action"] for s in json.loads(r.stdout)["stages"]] == ["would run"]


def test_ctrl_c_stops_every_running_stage(repo):
    import signal
    import subprocess
    import sys
    import time

    root = repo.root
    forever = "import pathlib, time; pathlib.Path('{0}.started').write_text('1'); time.sleep(60); " \
              "pathlib.Path('{0}.txt').write_text('late')"
    write_stages(root, {"done": {"cmd": "echo d > done.txt", "outs": ["done.txt"]},
                        "a": {"cmd": py(forever.format("a")), "deps": ["done.txt"], "outs": ["a.txt"]},
                        "b": {"cmd": py(forever.format("b")), "deps": ["done.txt"], "outs": ["b.txt"]}})
    proc = subprocess.Popen([sys.executable, "-m", "mlvc", "repro", "-j", "2"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ((root / "a.started").exists() and (root / "b.started").exists()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert list(read_lock(root)["stages"]) == ["done"]
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True).returncode == 1


def test_an_out_that_cannot_be_recorded_fails_its_stage_only(mlvc, repo, tmp_path_factory):
    from mlvc import api
    from mlvc.errors import MlvcError

    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("s")
    root = repo.root
    # good ends only once mlvc has reported link's failure (go.flag, made by the callback)
    write_stages(root, {"link": {"cmd": f"ln -s {outside} out", "outs": ["out"]},
                        "good": {"cmd": py("import os, time\nwhile not os.path.exists('go.flag'): time.sleep(0.02)\n"
                                           "open('good.txt', 'w').write('g')"), "outs": ["good.txt"]}})

    def on_stage(run):
        if run.name == "link" and run.action == "failed":
            (root / "go.flag").write_text("1")

    with pytest.raises(MlvcError) as exc:
        api.repro([], jobs=2, on_stage=on_stage, cwd=str(root), on_output=lambda *a: None)
    assert exc.value.message == f"out is a symlink to {outside}, outside the repository"
    assert list(read_lock(root)["stages"]) == ["good"]  # recorded after link failed
    (root / "out").unlink()
    (root / "good.txt").unlink()
    r = mlvc("repro", "-k")  # one at a time
    assert r.exit_code == 3
    assert f"error: out is a symlink to {outside}, outside the repository" in r.stderr, r.stderr
    assert list(read_lock(root)["stages"]) == ["good"]
    assert (outside / "secret.txt").read_text() == "s"


def test_parallel_stderr_lines_are_prefixed_too(mlvc_proc, repo):
    write_stages(repo.root, {"a": {"cmd": "echo out-a; echo err-a >&2; printf partial > a.txt", "outs": ["a.txt"]},
                             "b": {"cmd": "echo out-b > b.txt; printf no-newline >&2", "outs": ["b.txt"]}})
    p = mlvc_proc("repro", "-j", "2", cwd=repo.root)
    assert p.returncode == 0, p.stderr
    assert "[a] out-a" in p.stdout.splitlines()
    assert {"[a] err-a", "[b] no-newline"} <= set(p.stderr.splitlines())
    p = mlvc_proc("repro", "-j", "2", "-f", "--json", cwd=repo.root)
    assert p.returncode == 0 and "[a] out-a" in p.stderr.splitlines()  # stdout is the JSON
    assert [s["action"] for s in json.loads(p.stdout)["stages"]] == ["ran", "ran"]
