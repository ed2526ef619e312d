"""`mlvc repro` end to end: real git repositories, real commands, the real CLI."""

from __future__ import annotations

import json
import os
import shlex
import sys

import pytest
import yaml

from funcutil import cache_oids, one_line_error, read_lock, snapshot

PY = shlex.quote(sys.executable)


def write_stages(root, stages: dict, **top) -> None:
    (root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, **top, "stages": stages}, sort_keys=False))


def py(code: str) -> str:
    """A stage's cmd: run ``code`` with this Python."""
    return f"{PY} -c {shlex.quote(code)}"


# prepare: raw.txt -> prepared/ (a folder); train: prepared + params -> model.txt, metrics.json
PREPARE = py("import os, pathlib; os.makedirs('prepared', exist_ok=True); "
             "t = open('raw.txt').read(); pathlib.Path('prepared/a.txt').write_text(t.upper()); "
             "pathlib.Path('prepared/b.txt').write_text(t[::-1]); print('prepared', t)")
TRAIN = py("import json, yaml, pathlib; p = yaml.safe_load(open('params.yaml'))['train']; "
           "d = pathlib.Path('prepared/a.txt').read_text(); "
           "pathlib.Path('model.txt').write_text(f'{d} x {p[\"lr\"]}'); "
           "json.dump({'score': p['lr'] * 2}, open('metrics.json', 'w')); print('trained')")


@pytest.fixture
def pipeline(repo):
    repo.root.gen({"raw.txt": "abc", "params.yaml": "train:\n  lr: 0.5\n  epochs: 3\nother: 1\n"})
    write_stages(repo.root, {
        "prepare": {"cmd": PREPARE, "deps": ["raw.txt"], "outs": ["prepared"]},
        "train": {"cmd": TRAIN, "deps": ["prepared"], "params": ["train.lr"], "outs": ["model.txt"],
                  "metrics": ["metrics.json"]},
    })
    repo.commit("pipeline")
    return repo


def actions(result) -> dict[str, str]:
    return {s["name"]: s["action"] for s in json.loads(result.stdout)["stages"]}


def test_first_run_records_every_stage(mlvc_proc, pipeline):
    root = pipeline.root
    p = mlvc_proc("repro", cwd=root)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # Each announcement comes before the command's own output, which streams through.
    assert lines[0] == "Running stage 'prepare' (not run yet):"
    assert lines[2] == "prepared abc"
    assert lines[3] == "Running stage 'train' (not run yet):"
    assert lines[5] == "trained"
    assert "git add .gitignore mlvc.lock" in p.stdout
    assert (root / "model.txt").read_text() == "ABC x 0.5"
    lock = read_lock(root)
    assert lock["stages"]["prepare"]["cmd"] == PREPARE
    assert set(lock["stages"]["prepare"]["deps"]) == {"raw.txt"}
    assert lock["stages"]["prepare"]["outs"] == ["prepared"]
    assert lock["artifacts"]["prepared"]["nfiles"] == 2
    train = lock["stages"]["train"]
    assert train["params"] == {"params.yaml": {"train.lr": 0.5}}
    assert train["deps"]["prepared"] == lock["artifacts"]["prepared"]
    assert train["outs"] == ["model.txt"]
    assert set(train["uncached_outs"]) == {"metrics.json"}
    # Cached outs are in the cache and git-ignored; the metrics file is neither.
    assert lock["artifacts"]["model.txt"]["oid"] in cache_oids(root)
    assert train["uncached_outs"]["metrics.json"]["oid"] not in cache_oids(root)
    ignored = (root / ".gitignore").read_text().splitlines()
    assert "/prepared" in ignored and "/model.txt" in ignored and "/metrics.json" not in ignored
    untracked = pipeline.git("status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(untracked) == ["?? .gitignore", "?? metrics.json", "?? mlvc.lock"]


def test_second_run_skips_and_says_so(mlvc_proc, mlvc, pipeline):
    assert mlvc_proc("repro", cwd=pipeline.root).returncode == 0
    before = snapshot(pipeline.root)
    r = mlvc("repro")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["Stage 'prepare' is up to date: skipped.",
                                     "Stage 'train' is up to date: skipped.", "", "Everything is up to date."]
    assert snapshot(pipeline.root) == before


def test_changing_a_param_reruns_exactly_what_reads_it(mlvc, mlvc_proc, pipeline):
    root = pipeline.root
    assert mlvc_proc("repro", cwd=root).returncode == 0
    (root / "params.yaml").write_text("train:\n  lr: 0.25\n  epochs: 30\nother: 2\n")  # only lr is a param
    r = mlvc("repro", "--json")
    assert r.exit_code == 0, r.output
    assert actions(r) == {"prepare": "skipped", "train": "ran"}
    train = json.loads(r.stdout)["stages"][1]
    assert train["reasons"] == [{"what": "param", "change": "changed", "name": "params.yaml:train.lr"}]
    assert read_lock(root)["stages"]["train"]["params"] == {"params.yaml": {"train.lr": 0.25}}
    assert (root / "model.txt").read_text() == "ABC x 0.25"
    (root / "params.yaml").write_text("train:\n  lr: 0.25\n  epochs: 1\n")
    assert actions(mlvc("repro", "--json")) == {"prepare": "skipped", "train": "skipped"}


@pytest.mark.parametrize("change, reasons", [
    (lambda root: (root / "raw.txt").write_text("xyz"),
     {"prepare": ["dep raw.txt changed"], "train": ["dep prepared changed"]}),
    (lambda root: (root / "model.txt").unlink(), {"train": ["out model.txt is missing"]}),
    (lambda root: (root / "metrics.json").write_text("{}"), {"train": ["out metrics.json changed"]}),
    (lambda root: (root / "prepared" / "a.txt").unlink(), {"prepare": ["out prepared changed"]}),
])
def test_a_changed_dep_or_out_reruns_its_stage(mlvc, mlvc_proc, pipeline, change, reasons):
    assert mlvc_proc("repro", cwd=pipeline.root).returncode == 0
    change(pipeline.root)
    r = mlvc("repro", "--json", "--no-run-cache")  # else a changed out comes back from the run-cache
    assert r.exit_code == 0, r.output
    ran = {s["name"]: s["reason_text"] for s in json.loads(r.stdout)["stages"] if s["action"] == "ran"}
    assert ran == reasons
    assert mlvc("status", "--check").exit_code == 0


def test_a_changed_cmd_reruns(mlvc, mlvc_proc, pipeline):
    assert mlvc_proc("repro", cwd=pipeline.root).returncode == 0
    stages = yaml.safe_load((pipeline.root / "mlvc.yaml").read_text())["stages"]
    stages["prepare"]["cmd"] = PREPARE.replace("t[::-1]", "t")
    write_stages(pipeline.root, stages)
    r = mlvc("repro", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "Would run stage 'prepare': cmd changed" in r.stdout
    assert "Would run stage 'train': dep prepared comes from stage prepare, which would run" in r.stdout
    assert "2 stages would run (dry run: nothing ran)." in r.stdout
    r = mlvc("repro", "--json")
    # prepare made a new b.txt, train reads only a.txt: its dep changed, so it runs too.
    assert actions(r) == {"prepare": "ran", "train": "ran"}


def test_dry_run_changes_nothing(mlvc, pipeline):
    before = snapshot(pipeline.root)
    r = mlvc("repro", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["dry_run"] is True
    assert [(s["name"], s["action"], s["reason_text"]) for s in result["stages"]] == [
        ("prepare", "would run", ["not run yet"]),
        ("train", "would run", ["dep prepared comes from stage prepare, which would run", "not run yet"])]
    assert snapshot(pipeline.root) == before


def test_status_and_checkout_treat_outs_as_artifacts(mlvc, mlvc_proc, pipeline):
    root = pipeline.root
    assert mlvc_proc("repro", cwd=root).returncode == 0
    r = mlvc("status")
    assert r.exit_code == 0 and "Up to date: 2 artifacts match mlvc.lock." in r.stdout, r.output
    (root / "model.txt").unlink()
    (root / "prepared" / "a.txt").write_text("tampered")
    r = mlvc("status", "--json")
    assert {a["path"]: a["status"] for a in json.loads(r.stdout)["artifacts"]} == {
        "model.txt": "missing", "prepared": "modified"}
    assert mlvc("checkout", "--force").exit_code == 0
    assert (root / "model.txt").read_text() == "ABC x 0.5"
    assert (root / "prepared" / "a.txt").read_text() == "ABC"
    assert actions(mlvc("repro", "--json")) == {"prepare": "skipped", "train": "skipped"}


def test_a_failing_command_stops_the_run_and_keeps_earlier_stages(mlvc_proc, pipeline):
    root = pipeline.root
    stages = yaml.safe_load((root / "mlvc.yaml").read_text())["stages"]
    stages["train"]["cmd"] = py("print('about to fail'); raise SystemExit(7)")
    stages["last"] = {"cmd": "echo never > last.txt", "deps": ["model.txt"], "outs": ["last.txt"]}
    write_stages(root, stages)
    p = mlvc_proc("repro", cwd=root)
    assert p.returncode == 3
    assert "about to fail" in p.stdout
    err = [x for x in p.stderr.splitlines() if x.strip()]
    assert err[-1].startswith("error: stage 'train' failed: `") and "` exited with code 7; " in err[-1]
    lock = read_lock(root)
    assert list(lock["stages"]) == ["prepare"]
    assert list(lock["artifacts"]) == ["prepared"]
    assert not (root / "last.txt").exists()


def test_a_missing_out_fails_naming_it(mlvc, pipeline):
    write_stages(pipeline.root, {"s": {"cmd": "echo hi > made.txt", "outs": ["made.txt", "forgotten.txt"]}})
    r = mlvc("repro")
    assert r.exit_code == 3
    assert "error: stage 's' did not make its out 'forgotten.txt'" in one_line_error(r)
    assert not (pipeline.root / "mlvc.lock").exists()


def test_outs_are_removed_before_the_stage_runs_unless_persist(mlvc, repo):
    root = repo.root
    cmd = py("import os; print(sorted(os.listdir('out')) if os.path.isdir('out') else None); "
             "os.makedirs('out', exist_ok=True); open('out/new.txt', 'w').write('n'); "
             "open('log.txt', 'a').write('x')")
    write_stages(root, {"s": {"cmd": cmd, "outs": ["out", {"log.txt": {"persist": True}}], "always_changed": True}})
    assert mlvc("repro").exit_code == 0
    (root / "out").chmod(0o755)
    (root / "out" / "stale.txt").write_text("old")
    r = mlvc("repro", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["stages"][0]["reason_text"][0] == "always changed"
    assert sorted(os.listdir(root / "out")) == ["new.txt"]
    assert (root / "log.txt").read_text() == "xx"  # persist: kept, appended to


def test_wdir_and_params_of_other_files(mlvc, repo):
    root = repo.root
    repo.root.gen({"src/cfg.json": json.dumps({"model": {"depth": 2}, "seed": 1}),
                   "src/conf.toml": "[opt]\nname = 'sgd'\n"})
    cmd = py("import os; open('../out.txt', 'w').write(os.getcwd())")
    write_stages(root, {"s": {"cmd": cmd, "wdir": "src", "outs": ["../out.txt"],
                              "params": [{"cfg.json": ["model"]}, {"conf.toml": None}]}})
    assert mlvc("repro").exit_code == 0
    assert (root / "out.txt").read_text() == str(root / "src")
    assert read_lock(root)["stages"]["s"]["params"] == {"src/cfg.json": {"model": {"depth": 2}},
                                                        "src/conf.toml": {"opt": {"name": "sgd"}}}
    (root / "src/cfg.json").write_text(json.dumps({"model": {"depth": 2}, "seed": 9}))  # not a param
    assert actions(mlvc("repro", "--json")) == {"s": "skipped"}
    (root / "src/conf.toml").write_text("[opt]\nname = 'adam'\n")
    r = mlvc("repro", "--json")
    assert json.loads(r.stdout)["stages"][0]["reason_text"] == ["param src/conf.toml:opt changed"]


def test_targets_single_and_downstream(mlvc, mlvc_proc, pipeline):
    root = pipeline.root
    stages = yaml.safe_load((root / "mlvc.yaml").read_text())["stages"]
    stages["report"] = {"cmd": "cp model.txt report.txt", "deps": ["model.txt"], "outs": ["report.txt"]}
    write_stages(root, stages)
    assert actions(mlvc("repro", "--json", "train")) == {"prepare": "ran", "train": "ran"}
    assert not (root / "report.txt").exists()
    assert actions(mlvc("repro", "--json", "-f", "-s", "train")) == {"train": "ran"}
    assert actions(mlvc("repro", "--json", "--downstream", "train")) == {"train": "skipped", "report": "ran"}
    assert actions(mlvc("repro", "--json", "-f", "report.txt")) == {"prepare": "ran", "train": "ran", "report": "ran"}
    r = mlvc("repro", "nope")
    assert r.exit_code == 3
    assert one_line_error(r) == ("error: 'nope' is not a stage, a group of stages or an output of one; "
                                 "see `mlvc stage list`")


def test_foreach_group_runs_as_one_target(mlvc, repo):
    write_stages(repo.root, {
        "make": {"foreach": ["a", "b", "c"], "do": {"cmd": "echo ${item} > ${item}.txt", "outs": ["${item}.txt"]}},
        "other": {"cmd": "echo o > o.txt", "outs": ["o.txt"]},
    })
    assert actions(mlvc("repro", "--json", "make")) == {"make@a": "ran", "make@b": "ran", "make@c": "ran"}
    assert (repo.root / "b.txt").read_text() == "b\n"
    assert actions(mlvc("repro", "--json", "make@b", "-f")) == {"make@b": "ran"}


def test_an_added_artifact_is_a_dep(mlvc, repo):
    repo.root.gen({"data/x.csv": "1,2\n"})
    assert mlvc("add", "data").exit_code == 0
    write_stages(repo.root, {"count": {"cmd": "wc -c < data/x.csv > n.txt", "deps": ["data"], "outs": ["n.txt"]}},
                 artifacts=["data"])
    assert mlvc("repro").exit_code == 0
    assert read_lock(repo.root)["stages"]["count"]["deps"]["data"] == read_lock(repo.root)["artifacts"]["data"]
    (repo.root / "data/x.csv").write_text("1,2,3\n")
    assert actions(mlvc("repro", "--json")) == {"count": "ran"}


@pytest.mark.parametrize("stages, words", [
    ({"a": {"cmd": "a", "deps": ["y"], "outs": ["x"]}, "b": {"cmd": "b", "deps": ["x"], "outs": ["y"]}},
     "error: stages form a cycle: "),
    ({"a": {"cmd": "a", "deps": ["nothing.txt"], "outs": ["x"]}},
     "error: stage 'a': its dep 'nothing.txt' does not exist and no stage makes it"),
    ({"a": {"cmd": "a", "params": ["nope"], "outs": ["x"]}}, "error: stage 'a': param 'nope' is not in params.yaml"),
    ({"a": {"cmd": "a", "params": [{"p.json": ["k"]}], "outs": ["x"]}},
     "error: stage 'a': params file 'p.json' does not exist"),
])
def test_refused_before_anything_runs(mlvc, repo, stages, words):
    repo.root.gen("params.yaml", "k: 1\n")
    write_stages(repo.root, stages)
    before = snapshot(repo.root)
    r = mlvc("repro")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert line.startswith(words), line
    if "cycle" in words:
        assert sorted(line.split(": ", 2)[2].split(";")[0].split(" -> ")[:2]) == ["a", "b"]
    assert snapshot(repo.root) == before


def test_json_keeps_stdout_for_the_result(mlvc_proc, pipeline):
    p = mlvc_proc("repro", "--json", cwd=pipeline.root)
    assert p.returncode == 0, p.stderr
    assert [s["name"] for s in json.loads(p.stdout)["stages"]] == ["prepare", "train"]
    assert "prepared abc" in p.stderr  # the commands' output went to stderr


def test_ctrl_c_stops_the_command_and_what_it_started(repo):
    import signal
    import subprocess
    import time

    root = repo.root
    # The stage starts a grandchild that would write late.txt after 30 s, and waits for it.
    slow = py("import subprocess, sys, pathlib; pathlib.Path('started').write_text('1'); "
              "subprocess.run([sys.executable, '-c', 'import time, pathlib; time.sleep(30); "
              "pathlib.Path(\"late.txt\").write_text(\"late\")'])")
    write_stages(root, {"first": {"cmd": "echo 1 > one.txt", "outs": ["one.txt"]},
                        "slow": {"cmd": slow, "deps": ["one.txt"], "outs": ["slow.txt"]}})
    proc = subprocess.Popen([sys.executable, "-m", "mlvc", "repro"], cwd=root, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (root / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)  # the grandchild is running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    lock = read_lock(root)
    assert list(lock["stages"]) == ["first"]  # consistent: the finished stage, nothing of the stopped one
    time.sleep(1)
    assert not (root / "late.txt").exists()
    assert subprocess.run(["pgrep", "-f", "time.sleep\\(30\\)"], capture_output=True).returncode == 1


def test_a_persist_out_in_hardlink_mode_is_unprotected_before_its_stage_writes(mlvc, repo):
    from funcutil import bad_objects

    root = repo.root
    assert mlvc("config", "cache.type", "hardlink,copy").exit_code == 0
    write_stages(root, {"s": {"cmd": py("open('log.txt', 'a').write('line\\n')"), "always_changed": True,
                              "outs": [{"log.txt": {"persist": True}}]}})
    assert mlvc("repro").exit_code == 0
    first = read_lock(root)["artifacts"]["log.txt"]["oid"]
    assert mlvc("repro").exit_code == 0
    assert (root / "log.txt").read_text() == "line\nline\n"
    assert read_lock(root)["artifacts"]["log.txt"]["oid"] != first
    assert first in cache_oids(root) and bad_objects(root) == []  # the first version is still there, intact


def test_a_stage_taken_out_of_mlvc_yaml_loses_its_record(mlvc, pipeline):
    root = pipeline.root
    stages = yaml.safe_load((root / "mlvc.yaml").read_text())["stages"]
    stages["other"] = {"cmd": "echo o > other.txt", "outs": ["other.txt"]}
    write_stages(root, stages)
    assert mlvc("repro").exit_code == 0
    del stages["train"]
    write_stages(root, stages)
    r = mlvc("repro")  # nothing runs: the lock is not written
    assert r.exit_code == 0 and "Dropped" not in r.stdout
    assert "train" in read_lock(root)["stages"]
    (root / "other.txt").unlink()
    r = mlvc("repro")
    assert r.exit_code == 0, r.output
    assert "Dropped the record of stage 'train' from mlvc.lock: mlvc.yaml no longer has it." in r.stdout
    lock = read_lock(root)
    assert set(lock["stages"]) == {"prepare", "other"}
    assert set(lock["artifacts"]) == {"prepared", "other.txt"}  # model.txt is no longer tracked ...
    assert (root / "model.txt").exists()  # ... and stays
    assert "/model.txt" not in (root / ".gitignore").read_text().splitlines()
    assert mlvc("status", "--check").exit_code == 0


def test_mlvc_remove_of_a_stage_out_leaves_a_readable_lock(mlvc, mlvc_proc, pipeline):
    root = pipeline.root
    assert mlvc_proc("repro", cwd=root).returncode == 0
    assert mlvc("remove", "model.txt").exit_code == 0
    r = mlvc("status", "--check")  # readable; the stage is stale, as repro finds
    assert r.exit_code == 1 and "stage train  changed\n    out model.txt is new\n" in r.stdout, r.output
    r = mlvc("repro", "--json", "--no-run-cache")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["stages"][1]["reason_text"] == ["out model.txt is new"]
    assert "model.txt" in read_lock(root)["artifacts"]


def test_params_files_through_symlinks(mlvc, repo, tmp_path_factory):
    root = repo.root
    repo.root.gen({"conf/real.yaml": "lr: 3\n"})
    os.symlink("conf/real.yaml", root / "params.yaml")  # inside the repository: read
    write_stages(root, {"s": {"cmd": "echo ${lr} > o.txt", "outs": ["o.txt"], "params": ["lr"]}})
    assert mlvc("repro").exit_code == 0
    assert (root / "o.txt").read_text() == "3\n"
    outside = tmp_path_factory.mktemp("outside") / "secret.json"
    outside.write_text('{"token": "s3cret"}')
    os.symlink(outside, root / "p.json")
    os.mkfifo(root / "f.json")
    for name, words in [("p.json", f"error: p.json: leads out of the repository (to {outside})"),
                        ("f.json", "error: f.json: is not a regular file")]:
        write_stages(root, {"s": {"cmd": "echo > o.txt", "outs": ["o.txt"], "params": [{name: ["token"]}]}})
        r = mlvc("repro")
        assert r.exit_code == 3
        assert one_line_error(r).startswith(words)
        assert "s3cret" not in r.output and "s3cret" not in (root / "mlvc.lock").read_text()


def test_a_frozen_stage_never_runs(mlvc, pipeline):
    root = pipeline.root
    assert mlvc("repro").exit_code == 0
    stages = yaml.safe_load((root / "mlvc.yaml").read_text())["stages"]
    stages["prepare"]["frozen"] = True
    write_stages(root, stages)
    (root / "raw.txt").write_text("changed")
    r = mlvc("repro")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Stage 'prepare' is frozen: skipped.\nStage 'train' is up to date: skipped.\n")
    import shutil
    shutil.rmtree(root / "prepared")
    r = mlvc("repro", "-f")
    assert r.exit_code == 3
    assert one_line_error(r) == ("error: stage 'train': its dep 'prepared' is missing; stage 'prepare' makes it "
                                 "but is frozen: `mlvc checkout prepared`, or unfreeze it")
    r = mlvc("repro", "-s", "train")
    assert "stage 'prepare' makes it but is frozen" in r.stderr


def test_a_mapping_in_cmd_reaches_the_command_as_options(mlvc_proc, repo):
    root = repo.root
    repo.root.gen("params.yaml", "train:\n  lr: 0.5\n  name: my model\n  fast: true\n  sizes: [1, 2]\n")
    write_stages(root, {"s": {"cmd": py("import sys; open('argv.txt', 'w').write(repr(sys.argv[1:]))") + " ${train}",
                              "outs": ["argv.txt"], "params": ["train"]}})
    p = mlvc_proc("repro", cwd=root)
    assert p.returncode == 0, p.stderr
    assert (root / "argv.txt").read_text() == repr(["--lr", "0.5", "--name", "my model", "--fast", "--sizes", "1", "2"])


def test_a_cached_out_that_git_tracks_is_refused_before_anything_runs(mlvc, repo):
    root = repo.root
    repo.root.gen("model.txt", "in git")
    repo.commit("model in git", "model.txt")
    write_stages(root, {"first": {"cmd": "echo 1 > one.txt", "outs": ["one.txt"]},
                        "train": {"cmd": "echo new > model.txt", "outs": ["model.txt"]}})
    r = mlvc("repro")
    assert r.exit_code == 3
    assert one_line_error(r) == ("error: out 'model.txt' of stage 'train' is tracked by git; stop tracking it in "
                                 "git first: `git rm -r --cached model.txt`, or give it `cache: false` in mlvc.yaml")
    assert not (root / "one.txt").exists() and (root / "model.txt").read_text() == "in git"
    write_stages(root, {"train": {"cmd": "echo new > model.txt", "outs": [{"model.txt": {"cache": False}}]}})
    assert mlvc("repro").exit_code == 0
