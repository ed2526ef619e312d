"""The run-cache: a stage that ran before with the same inputs gets its outputs back
from the cache instead of running again."""

from __future__ import annotations

import json

from funcutil import read_lock
from test_pipeline_repro import py, write_stages

# Counts its runs in runs.log (persist: never removed, and not an out of the cached stage).
TRAIN = py("import yaml; lr = yaml.safe_load(open('params.yaml'))['lr']; "
           "open('model.txt', 'w').write(f'model {lr}'); open('runs.log', 'a').write('run\\n')")


def setup(repo):
    repo.root.gen({"params.yaml": "lr: 1\n", "data.txt": "d"})
    write_stages(repo.root, {"train": {"cmd": TRAIN, "deps": ["data.txt"], "params": ["lr"], "outs": ["model.txt"]}})


def runs(root) -> int:
    return (root / "runs.log").read_text().count("run")


def stage_action(r) -> str:
    return json.loads(r.stdout)["stages"][0]["action"]


def test_switching_a_param_back_restores_from_run_cache(mlvc, repo):
    root = repo.root
    setup(repo)
    assert mlvc("repro").exit_code == 0
    first = read_lock(root)
    (root / "params.yaml").write_text("lr: 2\n")
    assert mlvc("repro").exit_code == 0 and runs(root) == 2
    (root / "params.yaml").write_text("lr: 1\n")
    r = mlvc("repro", "--dry-run")
    assert "Would restore stage 'train' from run-cache: param params.yaml:lr changed" in r.stdout, r.output
    r = mlvc("repro")
    assert r.exit_code == 0, r.output
    assert "Stage 'train' restored from run-cache (param params.yaml:lr changed)." in r.stdout
    assert runs(root) == 2  # the command did not run
    assert (root / "model.txt").read_text() == "model 1"
    assert read_lock(root) == first
    assert mlvc("status", "--check").exit_code == 0


def test_no_run_cache_and_force_run_the_command(mlvc, repo):
    root = repo.root
    setup(repo)
    assert mlvc("repro").exit_code == 0
    (root / "model.txt").unlink()
    assert stage_action(mlvc("repro", "--json", "--no-run-cache")) == "ran" and runs(root) == 2
    (root / "model.txt").unlink()
    assert stage_action(mlvc("repro", "--json")) == "restored" and runs(root) == 2
    assert stage_action(mlvc("repro", "--json", "-f")) == "ran" and runs(root) == 3


def test_outs_missing_from_the_cache_run_the_command(mlvc, repo):
    import glob
    import os
    import shutil

    from funcutil import cache_dir

    root = repo.root
    setup(repo)
    assert mlvc("repro").exit_code == 0
    shutil.rmtree(cache_dir(root))  # every object, but not the run records
    os.makedirs(cache_dir(root))
    assert glob.glob(str(root / ".mlvc/cache/runs/*/*"))
    (root / "model.txt").unlink()
    assert stage_action(mlvc("repro", "--json")) == "ran" and runs(root) == 2


def test_a_damaged_run_record_is_ignored(mlvc, repo):
    import glob

    root = repo.root
    setup(repo)
    assert mlvc("repro").exit_code == 0
    (record,) = glob.glob(str(root / ".mlvc/cache/runs/*/*"))
    for n, text in enumerate(['{"schema": 1, "outs": {"model.txt": {"oid": "../../etc", "size": 1}}}',
                              '{"schema": 1, "outs": {"model.txt": {"oid": "' + "0" * 32 + '"}}}',
                              "not json {", '{"schema": 1, "outs": [1]}']):
        with open(record, "w") as fh:
            fh.write(text)
        (root / "model.txt").unlink()
        assert stage_action(mlvc("repro", "--json")) == "ran" and runs(root) == n + 2


def test_stages_with_uncached_or_persistent_outs_always_run(mlvc, repo):
    root = repo.root
    repo.root.gen({"params.yaml": "lr: 1\n"})
    cmd = py("open('m.json', 'w').write('{}'); open('runs.log', 'a').write('run\\n')")
    write_stages(root, {"s": {"cmd": cmd, "params": ["lr"], "metrics": ["m.json"]}})
    assert mlvc("repro").exit_code == 0
    (root / "m.json").unlink()
    assert stage_action(mlvc("repro", "--json")) == "ran" and runs(root) == 2


def test_dry_run_after_outs_were_deleted(mlvc, repo):
    root = repo.root
    setup(repo)
    stages = {"train": {"cmd": TRAIN, "deps": ["data.txt"], "params": ["lr"], "outs": ["model.txt"]},
              "report": {"cmd": "cp model.txt report.txt", "deps": ["model.txt"], "outs": ["report.txt"]}}
    write_stages(root, stages)
    assert mlvc("repro").exit_code == 0
    (root / "model.txt").unlink()
    (root / "report.txt").unlink()
    r = mlvc("repro", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    assert [(s["name"], s["action"], s["reason_text"]) for s in json.loads(r.stdout)["stages"]] == [
        ("train", "would restore", ["out model.txt is missing"]),
        ("report", "would run", ["dep model.txt comes from stage train, which would run", "out report.txt is missing"])]
    r = mlvc("repro", "--json")
    assert [(s["name"], s["action"]) for s in json.loads(r.stdout)["stages"]] == [
        ("train", "restored"), ("report", "restored")]
    assert runs(root) == 1


def test_a_restore_that_fails_runs_the_command(repo, monkeypatch):
    from mlvc import api
    from mlvc.errors import ObjectNotFoundError
    from mlvc.pipeline import repro as repro_module

    root = repo.root
    setup(repo)
    api.repro([], cwd=str(root))
    (root / "model.txt").unlink()

    def gone(*args, **kwargs):  # as if the object was deleted between the lookup and the checkout
        raise ObjectNotFoundError("1 object(s) needed for checkout are not in the cache")

    monkeypatch.setattr(repro_module, "checkout_entries", gone)
    warnings = []

    class Progress:
        def task(self, *a, **k):
            from mlvc.progress import Task
            return Task()

        def warn(self, message):
            warnings.append(message)

    result = api.repro([], cwd=str(root), progress=Progress())
    assert [(s.name, s.action) for s in result.stages] == [("train", "ran")]
    assert runs(root) == 2 and (root / "model.txt").read_text() == "model 1"
    assert warnings == ["stage 'train': not restored from the run-cache (1 object(s) needed for checkout are "
                        "not in the cache); running it"]
